"""Loading good specs: normalization, defaults and connection merging, and the normalized YAML round trip."""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import spec_values as sv
from generator.binding import SETTING_NAMES, KeyKind
from generator.errors import SpecError
from generator.model import Binding, BindingKey, Change, Connection
from generator.spec import load_spec, normalized_yaml, parse_spec
from generator.spec_fields import CONNECTION

SPECS = Path(__file__).resolve().parent.parent / "specs"
GOOD = sorted(p for p in (SPECS / "good").iterdir() if p.suffix in (".yaml", ".json"))
EXAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "renew-api.yaml"
HASH = "40db5bb1bf5659a155258d1d007c530fcb8996c2"
IIS_APPID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"


def load(name: str) -> Change:
    return load_spec(SPECS / "good" / name)


def comparable(change: Change) -> Change:
    """The change without what depends on the file it came from (lines, hash, path)."""
    targets = tuple(
        dataclasses.replace(t, bindings=tuple(dataclasses.replace(b, line=None) for b in t.bindings))
        for t in change.targets
    )
    return dataclasses.replace(change, targets=targets, spec_sha256="", spec_path="")


def test_contract_example_loads_to_the_motivating_binding() -> None:
    change = load("contract-example.yaml")
    assert (change.id, change.description) == ("CHG0012345", "optional free text")
    assert change.title == "Renew api.contoso.com certificate, keep client-cert revocation check off"
    [target] = change.targets
    assert target.host == "web01.contoso.local"
    assert target.connection == Connection(username="CONTOSO\\svc-change")
    first, second = target.bindings
    assert first == Binding(
        key=BindingKey(KeyKind.IPPORT, "0.0.0.0:443"),
        settings={
            "certhash": HASH,
            "appid": IIS_APPID,
            "certstorename": "My",
            "verifyclientcertrevocation": "disable",
        },
        mode="preserve",
        method="netsh",
        line=24,
    )
    assert second.key == BindingKey(KeyKind.HOSTNAMEPORT, "api.contoso.com:443")
    assert dict(second.settings) == {"certhash": HASH, "certstorename": "WebHosting"}
    assert list(first.settings) == [n for n in SETTING_NAMES if n in first.settings]


def test_examples_copy_is_the_contract_example() -> None:
    """The example is the contract's, with a real description for the placeholder the contract
    shows (a user's first render would put that placeholder in the record README)."""
    example = EXAMPLE.read_text(encoding="utf-8")
    (line,) = [x for x in example.splitlines(keepends=True) if x.startswith("  description: ")]
    as_contract = example.replace(line, "  description: optional free text\n")
    assert as_contract != example
    assert as_contract.encode() == (SPECS / "good" / "contract-example.yaml").read_bytes()
    contract = (SPECS.parent.parent.parent / "shared" / "design" / "product-contract.md").resolve()
    if contract.is_file():  # the shared design folder sits beside the repository on the team machine
        assert as_contract in contract.read_text(encoding="utf-8")


def test_spec_hash_and_path_are_of_the_file_as_read() -> None:
    path = SPECS / "good" / "contract-example.yaml"
    change = load_spec(path)
    assert change.spec_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert change.spec_path == str(path)


def test_all_kinds_are_normalized_and_defaults_merged() -> None:
    bindings = load("all-kinds.yaml").targets[0].bindings
    assert [str(b.key) for b in bindings] == [
        "ipport=10.1.2.3:443",
        "ipport=[2001:db8::1]:8443",
        "ipport=[::]:443",
        "ipport=0.0.0.0:9443",
        "hostnameport=api.contoso.com:443",
        "hostnameport=*.apps.contoso.com:443",
        "ccs=443",
        "scopedccs=www.contoso.com:443",
    ]
    assert all(b.settings["appid"] == IIS_APPID for b in bindings)
    assert bindings[4].settings["certstorename"] == "WebHosting"  # the binding's own value wins
    assert bindings[5].settings["certstorename"] == "My"
    ccs, scoped = bindings[6], bindings[7]
    assert (ccs.mode, "certhash" in ccs.settings, ccs.key.port) == ("exact", False, 443)
    assert scoped.mode == "exact" and "certhash" not in scoped.settings


def test_every_parameter_is_normalized() -> None:
    first, second = load("every-parameter.yaml").targets[0].bindings
    assert len(first.settings) == len(SETTING_NAMES)
    assert first.settings["certhash"] == HASH
    assert first.settings["appid"] == IIS_APPID
    assert first.settings["revocationfreshnesstime"] == 3600
    assert first.settings["urlretrievaltimeout"] == 15000
    assert first.settings["disabletls12"] == "disable"
    assert first.settings["disablehttp2"] == "enable"
    assert {k: second.settings[k] for k in ("verifyclientcertrevocation", "usagecheck", "dsmapperusage")} == {
        "verifyclientcertrevocation": "enable",
        "usagecheck": "disable",
        "dsmapperusage": "enable",
    }
    assert (second.settings["clientcertnegotiation"], second.settings["disablehttp2"]) == (
        "enable",
        "disable",
    )
    assert second.settings["disablequic"] == "disable"
    assert load("every-parameter.yaml").description.endswith("Second line of the description.")


def test_registry_bindings_take_only_revocation_defaults() -> None:
    bindings = load("registry-method.yaml").targets[0].bindings
    assert [b.method for b in bindings] == ["registry", "registry", "registry", "netsh"]
    assert dict(bindings[0].settings) == {"verifyclientcertrevocation": "disable"}
    assert dict(bindings[1].settings) == {
        "verifyrevocationwithcachedclientcertonly": "enable",
        "usagecheck": "enable",
    }
    assert bindings[2].key == BindingKey(KeyKind.CCS, "8443")
    assert dict(bindings[3].settings) == {"certhash": HASH, "certstorename": "My"}


def test_swap_defaults_to_auto_and_merges_from_defaults() -> None:
    assert {b.swap for t in load("contract-example.yaml").targets for b in t.bindings} == {"auto"}
    first, second = load("swap.yaml").targets
    assert [(str(b.key), b.swap) for b in first.bindings] == [
        ("ipport=0.0.0.0:443", "update"),  # from defaults
        ("hostnameport=api.contoso.com:443", "replace"),  # its own wins
        ("ccs=8443", "update"),
        ("scopedccs=www.contoso.com:443", "auto"),  # update is refused for scoped CCS; auto is fine
        ("ipport=0.0.0.0:8443", "auto"),  # a registry write takes no default swap
    ]
    assert first.bindings[4].method == "registry"
    assert second.bindings[0].swap == "auto"


def test_swap_auto_is_fine_on_a_registry_binding() -> None:
    text = (SPECS / "bad" / "swap-update-registry.yaml").read_text().replace("swap: update", "swap: auto")
    [binding] = parse_spec(text.encode(), "x.yaml").targets[0].bindings
    assert (binding.method, binding.swap) == ("registry", "auto")


def test_target_connection_overrides_key_by_key() -> None:
    first, second, third = load("connections.yaml").targets
    assert first.connection.auth == "kerberos" and first.connection.ca_cert == "/etc/ssl/contoso-root.pem"
    assert (first.connection.port, first.connection.read_timeout) == (5986, 120)
    assert second.host == "2001:db8::10"
    assert (second.connection.protocol, second.connection.port) == ("http", 5985)  # port follows protocol
    assert second.connection.ca_cert is None  # null unsets the inherited key
    assert second.connection.username == "svc-change@CONTOSO.LOCAL"
    assert (second.connection.path, second.connection.message_encryption) == ("wsman/custom", "always")
    assert third.host == "web05"
    assert (third.connection.auth, third.connection.port) == ("certificate", 15986)
    assert third.connection.certificate_key_pem == "certs/client.key"


def test_odd_values_are_kept_as_written() -> None:
    change = load("odd-values.yaml")
    assert change.id == "2026-11-27"  # YAML would read a date; the spec keeps the text
    assert change.title.startswith('Renew api: "quotes", $dollar')
    assert change.description.startswith("Zertifikat für api erneuern, \u2018curly\u2019. Tabs\t")
    first, _, third, ccs, scoped = change.targets[0].bindings
    assert first.settings["certhash"] == "0123456789012345678901234567890123456789"
    assert first.settings["appid"] == IIS_APPID  # bare GUID gets its braces
    assert first.settings["revocationfreshnesstime"] == 0xFFFFFFFF
    assert third.settings["certstorename"] == "0012"
    assert (ccs.key.value, scoped.key.value) == ("65535", "a-b.c-d.example:1")


def test_json_spec() -> None:
    [target] = load("json-input.json").targets
    assert target.connection.port == 5985
    assert str(target.bindings[0].key) == "ipport=[::1]:443"
    assert target.bindings[0].settings["disablehttp2"] == "enable"
    assert target.bindings[1].settings["certstorename"] == "My"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_bom_encodings_are_read(encoding: str) -> None:
    text = (SPECS / "good" / "contract-example.yaml").read_text(encoding="utf-8")
    data = text.encode(encoding)
    assert data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    assert comparable(parse_spec(data, "x.yaml")) == comparable(load("contract-example.yaml"))


@pytest.mark.parametrize("path", GOOD, ids=[p.name for p in GOOD])
def test_normalized_yaml_loads_back_to_the_same_change(path: Path) -> None:
    change = load_spec(path)
    text = normalized_yaml(change)
    again = parse_spec(text.encode("utf-8"), "change.yaml")
    assert comparable(again) == comparable(change)
    assert normalized_yaml(dataclasses.replace(again, spec_sha256=change.spec_sha256)) == text


@pytest.mark.parametrize("path", GOOD, ids=[p.name for p in GOOD])
def test_normalized_yaml_is_plain(path: Path) -> None:
    text = normalized_yaml(load_spec(path))
    events = list(yaml.parse(text))
    assert not any(isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None) for e in events)
    document = yaml.safe_load(text)
    assert list(document) == ["version", "change", "targets"]  # defaults and top connection merged away
    for target in document["targets"]:
        assert list(target) == ["host", "connection", "bindings"]
        assert set(target["connection"]) <= set(CONNECTION)
        for binding in target["bindings"]:
            assert list(binding)[1:4] == ["mode", "method", "swap"]


def test_normalized_yaml_header_and_bytes() -> None:
    change = load("contract-example.yaml")
    text = normalized_yaml(change)
    assert text.startswith("# Normalized by sslbind")
    assert f"# Source spec sha256: {change.spec_sha256}\n" in text
    assert text == normalized_yaml(load("contract-example.yaml"))
    # One binding per line, every value spelled out: a reviewer diffs two records binding by binding.
    assert (
        "  - {ipport: '0.0.0.0:443', mode: preserve, method: netsh, swap: auto, "
        "certhash: 40db5bb1bf5659a155258d1d007c530fcb8996c2, "
        "appid: '{4dc3e181-e14b-4a21-b022-59fc669b0914}', "
        "certstorename: My, verifyclientcertrevocation: disable}\n"
    ) in text


@pytest.mark.parametrize(
    ("parser", "given", "expected"),
    [
        (sv.ipport, "*:443", "0.0.0.0:443"),
        (sv.ipport, "[::0]:443", "[::]:443"),
        (sv.ipport, "[2001:DB8::0:1]:8443", "[2001:db8::1]:8443"),
        (sv.ipport, "[::ffff:10.0.0.1]:443", "[::ffff:a00:1]:443"),
        (sv.name_port, "API.Contoso.COM:443", "api.contoso.com:443"),
        (sv.name_port, "*.contoso.com:443", "*.contoso.com:443"),
        (sv.host, "[::1]", "::1"),
        (sv.host, "Web01.Contoso.Local", "web01.contoso.local"),
        (sv.appid, "4DC3E181-E14B-4A21-B022-59FC669B0914", IIS_APPID),
        (sv.certhash, HASH.upper(), HASH),
    ],
)
def test_value_normalization(parser: object, given: str, expected: str) -> None:
    assert callable(parser)
    assert parser(given) == expected


@pytest.mark.parametrize(
    ("parser", "given"),
    [
        (sv.ipport, "010.0.0.1:443"),  # leading zeros are octal to some parsers: refuse
        (sv.ipport, "1.2.3:443"),
        (sv.ipport, "0.0.0.0:+443"),
        (sv.ipport, "0.0.0.0:44\uff13"),
        (sv.name_port, "*:443"),
        (sv.name_port, "a.*.contoso.com:443"),
        (sv.name_port, "-api.contoso.com:443"),
        (sv.name_port, "api.contoso.com.:443"),
        (sv.name_port, "1.2.3.4:443"),
        (sv.name_port, "a" * 64 + ".com:443"),
        (sv.host, "*.contoso.com"),
        (sv.host, ""),
        (sv.certhash, HASH + "0"),
        (sv.appid, "{" + IIS_APPID + "}"),
    ],
)
def test_values_refused(parser: object, given: str) -> None:
    assert callable(parser)
    with pytest.raises(sv.Invalid):
        parser(given)


def _with_title(title: object) -> bytes:
    text = (SPECS / "good" / "contract-example.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    document["change"]["title"] = title
    return yaml.safe_dump(document, allow_unicode=True).encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_title_is_refused_or_kept_verbatim(title: str) -> None:
    try:
        change = parse_spec(_with_title(title), "spec.yaml")
    except SpecError as error:
        assert "\n" not in str(error)
        return
    assert change.title == title.strip()
    assert change.title.isprintable() and change.title.isascii() and change.title


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_a_change_or_a_spec_error(data: bytes) -> None:
    try:
        parse_spec(data, "spec.yaml")
    except SpecError as error:
        assert "\n" not in str(error)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=120))
def test_any_text_in_a_binding_setting_is_refused_or_valid(value: str) -> None:
    text = (SPECS / "good" / "contract-example.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    document["targets"][0]["bindings"][0]["sslctlidentifier"] = value
    try:
        change = parse_spec(yaml.safe_dump(document).encode("utf-8"), "spec.yaml")
    except SpecError as error:
        assert error.key == "targets[0].bindings[0].sslctlidentifier"
        return
    assert change.targets[0].bindings[0].settings["sslctlidentifier"] == value
    assert value.isascii() and value.isprintable() and " " not in value


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_accepted_description_survives_the_normalized_yaml(description: str) -> None:
    text = (SPECS / "good" / "contract-example.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    document["change"]["description"] = description
    dumped = yaml.safe_dump(document, allow_unicode=True)
    try:
        change = parse_spec(dumped.encode("utf-8"), "spec.yaml")
    except SpecError as error:
        assert error.key == "change.description"
        return
    again = parse_spec(normalized_yaml(change).encode("utf-8"), "change.yaml")
    as_yaml_reads_it = yaml.safe_load(dumped)["change"]["description"]  # YAML folds U+0085, for one
    assert again.description == change.description == as_yaml_reads_it.rstrip()


def test_plain_and_quoted_scalars_are_told_apart() -> None:
    from generator.spec_yaml import Map, Scalar, parse

    root = parse("a: 0012\nb: '0012'\nc: \"x\"\nd: !!str 12\n", "s.yaml")
    assert isinstance(root, Map)
    plain = {k: v.plain for k, v in root.entries.items() if isinstance(v, Scalar)}
    assert plain == {"a": True, "b": False, "c": False, "d": True}


@pytest.mark.parametrize("path", GOOD, ids=[p.name for p in GOOD])
def test_pure_python_yaml_gives_the_same_change(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libyaml (PyYAML built without it) the spec means the same."""
    from generator import spec_yaml

    expected = load_spec(path)
    monkeypatch.setattr(spec_yaml, "_Loader", yaml.SafeLoader)
    assert load_spec(path) == expected


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.sampled_from(["0.0.0.0:443", "*:443", "[::]:443", "api.contoso.com:443", "*.a.com:8443", "443"]),
    st.sampled_from([HASH, IIS_APPID, "exact", "preserve", "registry", "netsh", "enable", "disable"]),
    st.sampled_from(["https", "http", "certificate", "basic", "ntlm", "never", "always", "My", "a.pem"]),
    st.integers(min_value=0, max_value=70000),
    st.text(max_size=12),
)
_BINDING_KEYS = st.sampled_from(["mode", "method", *SETTING_NAMES, "x"])
_SELECTORS = st.sampled_from(["ipport", "hostnameport", "ccs", "scopedccs"])
_BINDINGS = st.builds(
    lambda selector, key, rest: {selector: key, **rest},
    _SELECTORS,
    _SCALARS,
    st.dictionaries(_BINDING_KEYS, _SCALARS, max_size=5),
)
_CONNECTIONS = st.dictionaries(st.sampled_from([*CONNECTION, "x"]), _SCALARS, max_size=5)
_TARGETS = st.lists(
    st.fixed_dictionaries(
        {
            "host": st.sampled_from(["web01", "WEB01", "10.0.0.1", "[::1]", "::1", "a_b", ""]),
            "bindings": st.lists(_BINDINGS, min_size=1, max_size=3),
        },
        optional={"connection": _CONNECTIONS},
    ),
    min_size=1,
    max_size=3,
)
_DOCUMENTS = st.fixed_dictionaries(
    {"version": st.just(1), "change": st.just({"id": "C1", "title": "t"}), "targets": _TARGETS},
    optional={
        "connection": _CONNECTIONS,
        "defaults": st.dictionaries(_BINDING_KEYS, _SCALARS, max_size=4),
    },
)


@settings(max_examples=200, deadline=None)
@given(_DOCUMENTS, st.booleans())
def test_any_document_shape_gives_a_change_or_a_spec_error(
    document: dict[str, object], as_json: bool
) -> None:
    """Random documents made of the spec's own keys reach every check without a stray exception."""
    import json

    text = json.dumps(document) if as_json else yaml.safe_dump(document)
    try:
        change = parse_spec(text.encode("utf-8"), "spec.yaml")
    except SpecError as error:
        assert "\n" not in str(error)
        return
    again = parse_spec(normalized_yaml(change).encode("utf-8"), "change.yaml")
    assert comparable(again) == comparable(change)
