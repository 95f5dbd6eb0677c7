"""The netsh `show sslcert` importer on the fixture corpus and on what real output does to parsers."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import pytest

from generator.binding import DISABLE, ENABLE, SETTING_NAMES
from generator.importers.netsh_text import parse_netsh, read_netsh
from generator.importers.result import ImportInputError, ImportResult
from generator.importers.spec_writer import import_spec
from generator.model import Change
from generator.spec import parse_spec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
H1 = "40db5bb1bf5659a155258d1d007c530fcb8996c2"
H2 = "1b6a3c0e9d4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b"
IIS = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
APP = "{5e0a42f5-33c4-4dd8-b1a0-64a2f31e8c6b}"


def settings_of(result: ImportResult) -> dict[str, dict[str, object]]:
    return {str(b.key): dict(b.settings) for b in result.bindings}


def on(settings: dict[str, object]) -> set[str]:
    return {name for name, value in settings.items() if value == ENABLE}


# fixture -> (encoding detected, language, {binding: (certhash, appid, store, settings switched on)})
CORPUS = {
    "netsh-2008r2-en.txt": (
        "utf-8",
        "(en)",
        {
            "ipport=0.0.0.0:443": (H1, IIS, "MY", {"verifyclientcertrevocation", "usagecheck"}),
            "ipport=10.0.0.5:8443": (H2, APP, "MY", {"usagecheck"}),
        },
    ),
    "netsh-2016-en.txt": (
        "utf-8",
        "(en)",
        {
            "ipport=0.0.0.0:443": (H1, IIS, "My", {"usagecheck", "dsmapperusage"}),
            "hostnameport=shop.contoso.com:443": (
                H1,
                IIS,
                "WebHosting",
                {"verifyclientcertrevocation", "usagecheck", "clientcertnegotiation"},
            ),
        },
    ),
    "netsh-2019-en.txt": (
        "utf-16",
        "(en)",
        {
            "ipport=0.0.0.0:443": (
                H1,
                IIS,
                "My",
                {"verifyclientcertrevocation", "usagecheck", "disablehttp2", "disablelegacytls"},
            )
        },
    ),
    "netsh-2022-en.txt": (
        "utf-8",
        "(en)",
        {
            "ipport=0.0.0.0:443": (H1, IIS, "My", {"usagecheck", "disablehttp2", "disablelegacytls"}),
            "ipport=[::]:8443": (
                H2,
                APP,
                "My",
                {"verifyclientcertrevocation", "dsmapperusage", "clientcertnegotiation"},
            ),
            "hostnameport=api.contoso.com:443": (
                H1,
                IIS,
                "WebHosting",
                {"verifyclientcertrevocation", "usagecheck"},
            ),
            "ccs=443": (None, IIS, "MY", {"verifyclientcertrevocation", "usagecheck"}),
        },
    ),
    "netsh-2025-en.txt": (
        "utf-8",
        "(en)",
        {
            "ipport=0.0.0.0:443": (
                H1,
                IIS,
                "My",
                {
                    "verifyclientcertrevocation",
                    "usagecheck",
                    "disabletls12",
                    "disablelegacytls",
                    "enablesessionticket",
                    "disablesessionid",
                },
            )
        },
    ),
    "netsh-de.txt": (
        "cp850",
        "(de, unverified label table)",
        {
            "ipport=0.0.0.0:443": (H1, IIS, "My", {"usagecheck", "disablelegacytls"}),
            "hostnameport=portal.contoso.de:443": (
                H2,
                IIS,
                "WebHosting",
                {"verifyclientcertrevocation", "usagecheck", "clientcertnegotiation"},
            ),
        },
    ),
    "netsh-fr.txt": (
        "utf-16",
        "(fr, unverified label table)",
        {
            "ipport=0.0.0.0:443": (H1, IIS, "My", {"verifyclientcertrevocation", "disablehttp2"}),
            "ccs=8443": (None, APP, "MY", {"verifyclientcertrevocation", "usagecheck"}),
        },
    ),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus(name: str) -> None:
    encoding, language, expected = CORPUS[name]
    result = read_netsh(FIXTURES / name)
    assert result.encoding == encoding
    assert result.format == f"netsh http show sslcert {language}"
    got = settings_of(result)
    assert list(got) == list(expected)
    for key, (certhash, appid, store, switched_on) in expected.items():
        settings = got[key]
        assert settings.get("certhash") == certhash
        assert settings["appid"] == appid
        assert settings["certstorename"] == store
        assert on(settings) == switched_on, key
        # every setting is spelled out, except those with no value on the host
        assert set(SETTING_NAMES) - set(settings) <= {"certhash", "sslctlidentifier", "sslctlstorename"}
    assert all(b.mode == "exact" for b in result.bindings)


def test_timers_and_ctl_of_2022_sample() -> None:
    settings = settings_of(read_netsh(FIXTURES / "netsh-2022-en.txt"))["ipport=[::]:8443"]
    assert settings["revocationfreshnesstime"] == 3600
    assert settings["urlretrievaltimeout"] == 15000
    assert settings["sslctlidentifier"] == "AdfsTrustedDevices"
    assert settings["sslctlstorename"] == "adfstrusteddevices"
    assert settings["usagecheck"] == DISABLE


def test_extended_properties_are_reported_per_block_with_line_numbers() -> None:
    result = read_netsh(FIXTURES / "netsh-2022-en.txt")
    blocks = [r for r in result.not_imported if "Extended Properties" in r.text]
    assert len(blocks) == 20  # five blocks under each of four bindings
    first = blocks[0]
    assert first.line == 31 and first.binding == "ipport=0.0.0.0:443"
    assert "Receive Window : 1048576" in first.text and "not importable" in first.reason
    assert len(result.not_imported) == 20  # nothing else was left out


SAMPLE = (FIXTURES / "netsh-2016-en.txt").read_bytes().decode("ascii")


def parse_text(text: str) -> ImportResult:
    return parse_netsh(text.encode("utf-8"), "sample.txt")


def test_blank_lines_and_line_endings_carry_no_meaning() -> None:
    baseline = settings_of(parse_text(SAMPLE))
    spread = SAMPLE.replace("\r\n", "\n\n\n")  # three blank lines after every line
    packed = "\n".join(line for line in SAMPLE.splitlines() if line.strip()) + "\n"
    assert settings_of(parse_text(spread)) == baseline
    assert settings_of(parse_text(packed)) == baseline


def test_padding_is_not_columns() -> None:
    baseline = settings_of(parse_text(SAMPLE))
    tight = re.sub(r"\s+:\s", ": ", SAMPLE)  # `Label: value`, key line `IP:port: 0.0.0.0:443`
    tabs = re.sub(r"^\s+(.*?)\s+: ", lambda m: "\t" + m.group(1) + "\t\t: ", SAMPLE, flags=re.M)
    wide = SAMPLE.replace(" : ", "                                        :  ")
    lower = SAMPLE.replace("Usage Check", "usage check")
    for variant in (tight, tabs, wide, lower):
        assert settings_of(parse_text(variant)) == baseline


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp437", "cp850"]
)
def test_any_encoding_gives_the_same_bindings(encoding: str) -> None:
    text = (FIXTURES / "netsh-de.txt").read_bytes().decode("cp850")
    data = text.encode(encoding)
    expected = settings_of(read_netsh(FIXTURES / "netsh-de.txt"))
    assert settings_of(parse_netsh(data, "de.txt")) == expected


def test_oem_code_page_is_chosen_by_recognized_labels() -> None:
    text = (FIXTURES / "netsh-de.txt").read_bytes().decode("cp850")
    # cp437 and cp850 agree on the German letters; cp1252 does not, and must lose.
    assert parse_netsh(text.encode("cp1252"), "de.txt").encoding == "cp1252"
    assert parse_netsh(text.encode("cp850"), "de.txt").encoding == "cp850"


def test_unknown_lines_are_kept_with_their_line_numbers() -> None:
    text = "PS C:\\> netsh http show sslcert\n" + SAMPLE.replace(
        "    Reject Connections", "    Some Future Timer            : 30\n    Reject Connections", 1
    )
    result = parse_text(text)
    remarks = {(r.line, r.binding, r.text.strip()) for r in result.not_imported}
    assert (1, None, "PS C:\\> netsh http show sslcert") in remarks
    assert any(r[1] == "ipport=0.0.0.0:443" and r[2].startswith("Some Future Timer") for r in remarks)
    line = next(r.line for r in result.not_imported if "Some Future Timer" in r.text)
    assert text.splitlines()[line - 1].strip().startswith("Some Future Timer")


def test_unknown_line_switched_on_is_refused() -> None:
    text = SAMPLE.replace(
        "    Reject Connections", "    Enable Frobnication          : Set\n    Reject Connections", 1
    )
    with pytest.raises(ImportInputError, match=r"sample.txt:\d+: ipport=0.0.0.0:443: .*Enable Frobnication"):
        parse_text(text)


NEWER_LINES = {
    "Enable Caching Client Hello": ("DefaultFlags", 0x8000),
    "Use Revocation Freshness Time": ("DefaultSslCertCheckMode", 0x4),
    "Verify Revocation Using Cached URLs Only": ("DefaultSslCertCheckMode", 0),
    "Disable Authority Info Access": ("DefaultSslCertCheckMode", 0),
}


def with_lines(text: str, lines: list[str]) -> str:
    """`text` with `lines` after the first binding's Reject Connections line."""
    added = "".join(f"    {line}\n" for line in lines)
    return text.replace("    Reject Connections", added + "    Reject Connections", 1)


@pytest.mark.parametrize("label", list(NEWER_LINES))
@pytest.mark.parametrize("value", ["Not Set", "Disabled", "", "(null)"])
def test_newer_lines_at_their_default_are_read_silently(label: str, value: str) -> None:
    result = parse_text(with_lines(SAMPLE, [f"{label} : {value}".rstrip()]))
    assert result.not_imported == () and result.warnings == ()
    (extra,) = result.extras
    field, bit = NEWER_LINES[label]
    assert (extra.binding, extra.field, extra.bit, extra.name, extra.on) == (
        "ipport=0.0.0.0:443",
        field,
        bit,
        label,
        False,
    )
    assert settings_of(result) == settings_of(parse_text(SAMPLE))  # nothing else changes


def load_spec_text(text: str) -> Change:
    return parse_spec(text.encode(), "imported.yaml")


@pytest.mark.parametrize(
    ("label", "value", "bit"),
    [
        ("Enable Caching Client Hello", "Set", "DefaultFlags bit 0x8000"),
        (
            "Verify Revocation Using Cached URLs Only",
            "Enabled",
            "a DefaultSslCertCheckMode bit that is not public",
        ),
        ("Disable Authority Info Access", "Set", "a DefaultSslCertCheckMode bit that is not public"),
    ],
)
def test_newer_lines_switched_on_are_read_and_warned_naming_binding_and_line(
    label: str, value: str, bit: str
) -> None:
    text = with_lines(SAMPLE, [f"{label}  : {value}"])
    result = parse_text(text)
    line = next(n for n, t in enumerate(text.splitlines(), start=1) if t.strip().startswith(label))
    assert [str(w) for w in result.warnings] == [
        f"ipport=0.0.0.0:443: line {line}: '{label}  : {value}' ({bit}): no netsh parameter can set "
        "it, so sslbind refuses a change that deletes and re-adds this binding"
    ]
    assert [e.on for e in result.extras] == [True]
    spec = import_spec(result, "h")
    assert f"        # WARNING: line {line}: '{label} : {value}' ({bit})" in spec
    assert load_spec_text(spec).targets[0].bindings  # the spec is still valid


def test_use_revocation_freshness_time_is_bit_4_and_compared_with_the_time() -> None:
    on_with_time = with_value(with_lines(SAMPLE, ["Use Revocation Freshness Time : Enabled"]),
                              "Revocation Freshness Time", "3600")  # fmt: skip
    result = parse_text(on_with_time)
    assert [w.code for w in result.warnings] == ["freshness-bit"]  # set: reported, never refused
    assert "no netsh parameter sets check-mode bit 0x4 directly" in result.warnings[0].message
    assert settings_of(result)["ipport=0.0.0.0:443"]["revocationfreshnesstime"] == 3600

    on_without_time = parse_text(with_lines(SAMPLE, ["Use Revocation Freshness Time : Enabled"]))
    messages = [w.message for w in on_without_time.warnings]
    assert len(messages) == 2 and any("is set but revocationfreshnesstime is 0" in m for m in messages)

    off_with_time = parse_text(
        with_value(
            with_lines(SAMPLE, ["Use Revocation Freshness Time : Disabled"]),
            "Revocation Freshness Time",
            "60",
        )
    )
    (warning,) = off_with_time.warnings
    assert "revocationfreshnesstime is 60 but DefaultSslCertCheckMode bit 0x4 is clear" in warning.message


def test_newest_2025_layout_reads_the_caching_line_silently() -> None:
    result = read_netsh(FIXTURES / "netsh-2025-en.txt")
    assert [(e.name, e.on) for e in result.extras] == [("Enable Caching Client Hello", False)]
    assert result.warnings == ()
    assert not any("Caching" in r.text for r in result.not_imported)


def with_value(text: str, label: str, value: str) -> str:
    """`text` with the first line labelled `label` given `value`."""
    pattern = re.compile(rf"^(\s+{re.escape(label)}\s*:).*$", re.M)
    assert pattern.search(text), label
    return pattern.sub(lambda m: f"{m.group(1)} {value}", text, count=1)


@pytest.mark.parametrize(
    ("label", "value", "message"),
    [
        ("Usage Check", "Maybe", r"sample.txt:11: ipport=0.0.0.0:443: usagecheck: value 'Maybe'"),
        ("Certificate Hash", H1[:-2], rf"certhash: '{H1[:-2]}' does not match"),
        ("Certificate Hash", "(null)", r"certhash: value '\(null\)' is empty"),
        ("Application ID", "(null)", r"appid: value '\(null\)' is empty"),
        ("Application ID", "{not-a-guid}", r"appid: '\{not-a-guid\}' does not match"),
        ("Revocation Freshness Time", "-1", r"revocationfreshnesstime: '-1'"),
        ("URL Retrieval Timeout", "4294967296", "urlretrievaltimeout: .*unsigned 32-bit"),
        ("Ctl Store Name", "bad store!", "sslctlstorename: 'bad store!' does not match"),
        ("IP:port", "0.0.0.0:99999", "binding key: port '99999'"),
        ("IP:port", "300.0.0.1:443", "binding key"),
        ("Hostname:port", "no port here", "binding key: 'no port here' is not hostname:port"),
    ],
)
def test_bad_values_are_refused_naming_binding_and_setting(label: str, value: str, message: str) -> None:
    with pytest.raises(ImportInputError, match=message):
        parse_text(with_value(SAMPLE, label, value))


def test_missing_core_line_is_refused() -> None:
    text = "\n".join(line for line in SAMPLE.splitlines() if "DS Mapper Usage" not in line)
    with pytest.raises(
        ImportInputError, match=r":5: ipport=0.0.0.0:443: dsmapperusage: no line for this setting"
    ):
        parse_text(text)


def test_missing_newer_flag_means_off() -> None:
    result = read_netsh(FIXTURES / "netsh-2008r2-en.txt")
    assert all(
        b.settings["disablehttp2"] == DISABLE and b.settings["reject"] == DISABLE for b in result.bindings
    )


def test_duplicates_and_orphans_are_refused() -> None:
    with pytest.raises(ImportInputError, match="second usagecheck line"):
        parse_text(
            SAMPLE.replace("    Reject Connections", "    Usage Check : Disabled\n    Reject Connections", 1)
        )
    block = SAMPLE.split("\r\n\r\n")[1]
    with pytest.raises(ImportInputError, match="the same binding appears twice"):
        parse_text(SAMPLE + "\r\n" + block + "\r\n")
    with pytest.raises(ImportInputError, match=r"sample.txt:1: certhash line before any binding"):
        parse_text("    Certificate Hash : " + H1 + "\n")


def test_no_binding_is_refused() -> None:
    with pytest.raises(ImportInputError, match="no SSL binding found"):
        parse_text("\nSSL Certificate bindings:\n-------------------------\n\n")
    with pytest.raises(ImportInputError, match="no SSL binding found"):
        parse_text("hello world\n")


def test_identity_lines_recognized_by_shape_under_unknown_labels() -> None:
    text = (
        SAMPLE.replace("IP:port ", "Dirección IP:puerto ")
        .replace("Certificate Hash ", "Hash de certificado ")
        .replace("Application ID ", "Id. de aplicación ")
    )
    result = parse_text(text)
    assert settings_of(result) == settings_of(parse_text(SAMPLE))
    reasons = sorted(r.reason for r in result.inferred)
    assert reasons.count("ip:port key recognized by shape") == 1
    assert reasons.count("certhash recognized by shape") == 2
    assert reasons.count("appid recognized by shape") == 2


def test_hostname_port_under_unknown_label_is_refused() -> None:
    text = SAMPLE.replace("Hostname:port ", "Nombre de host:puerto ")
    with pytest.raises(ImportInputError, match="SNI or scoped CCS"):
        parse_text(text)


def test_language_without_table_refuses_instead_of_guessing() -> None:
    text = re.sub(
        r"^    Verify Client Certificate Revocation ", "    Verificar revocación ", SAMPLE, flags=re.M
    )
    # switched on under a label we do not know: refused where it is met
    with pytest.raises(ImportInputError, match=r":24: hostnameport=shop.contoso.com:443: unknown line"):
        parse_text(text)
    # switched off: kept as an unknown line, and the setting it stood for is missing
    text = text.replace("revocación : Enabled", "revocación : Disabled")
    with pytest.raises(
        ImportInputError, match=r":5: ipport=0.0.0.0:443: verifyclientcertrevocation: no line"
    ):
        parse_text(text)


def test_scoped_ccs_label_is_inferred_and_marked() -> None:
    block = (
        "    Scoped Central Certificate Store : www.contoso.com:443\n"
        "    Certificate Hash             : (null)\n"
        + "\n".join(SAMPLE.split("\r\n\r\n")[1].splitlines()[2:])
    )
    result = parse_text("SSL Certificate bindings:\n----\n" + block + "\n")
    assert [str(b.key) for b in result.bindings] == ["scopedccs=www.contoso.com:443"]
    assert "certhash" not in result.bindings[0].settings
    assert result.inferred[0].reason == "binding kind inferred from its label"


def test_ipv6_key_is_normalized() -> None:
    text = SAMPLE.replace("0.0.0.0:443", "[0:0:0:0:0:0:0:1]:443", 1)
    assert "ipport=[::1]:443" in settings_of(parse_text(text))


def test_french_typographic_apostrophe_and_mixed_english_values() -> None:
    text = (FIXTURES / "netsh-fr.txt").read_bytes().decode("utf-16").replace("'", "\u2019")
    text = text.replace("Activé", "Enabled")
    assert settings_of(parse_text(text)) == settings_of(read_netsh(FIXTURES / "netsh-fr.txt"))


def test_undecodable_forced_encoding_is_refused() -> None:
    with pytest.raises(ImportInputError, match="not readable as utf-8"):
        parse_netsh(codecs.BOM_UTF16_LE + "x".encode("utf-16-le") + b"\xff", "x.txt", encoding="utf-8")


def test_unknown_key_label_after_extended_properties_still_starts_a_binding() -> None:
    text = (FIXTURES / "netsh-2022-en.txt").read_text(encoding="utf-8")
    renamed = text.replace("    IP:port                      : [::]:8443", "    Adresse IP:port : [::]:8443")
    assert renamed != text
    result = parse_text(renamed)
    assert settings_of(result) == settings_of(read_netsh(FIXTURES / "netsh-2022-en.txt"))
    assert [(r.binding, r.reason) for r in result.inferred] == [
        ("ipport=[::]:8443", "ip:port key recognized by shape")
    ]


@pytest.mark.parametrize(
    ("damaged", "like"),
    [
        ("    Central Certficate Store     : 8443", "Central Certificate Store"),
        ("    Central Certificate Store 8443", "Central Certificate Store"),
        ("    Hostnme:port                 : 8443", "Hostname:port"),
    ],
)
def test_a_damaged_binding_header_is_refused_not_merged_into_the_previous_binding(
    damaged: str, like: str
) -> None:
    text = (FIXTURES / "netsh-2022-en.txt").read_text(encoding="utf-8")
    first = text.index("    IP:port ")
    second = text.index("    IP:port ", first + 1)
    end = text.index("\n", second)
    broken = text[:second] + damaged + text[end:]
    line = broken[:second].count("\n") + 1
    with pytest.raises(ImportInputError) as raised:
        parse_netsh(broken.encode(), "show.txt")
    assert str(raised.value) == (
        f"show.txt:{line}: {damaged.strip()!r} looks like a damaged binding header (like {like!r}); "
        "the lines under it cannot be placed in any binding; repair the line"
    )


def test_a_value_holding_a_unicode_line_separator_is_not_cut_short() -> None:
    text = (FIXTURES / "netsh-2022-en.txt").read_text(encoding="utf-8")
    label = "Certificate Store Name       : My"
    broken = text.replace(label, label + "\u2028Other", 1)
    with pytest.raises(ImportInputError, match=r"certstorename: 'My\\u2028Other' does not match"):
        parse_netsh(broken.encode(), "show.txt")


def test_an_ipv6_zone_index_is_refused_not_written_into_a_spec_that_cannot_render() -> None:
    text = (FIXTURES / "netsh-2022-en.txt").read_text(encoding="utf-8")
    broken = text.replace("IP:port                      : 0.0.0.0:443", "IP:port : [fe80::1%12]:443", 1)
    with pytest.raises(ImportInputError, match=r"an IPv6 zone index \(%12\) cannot be written in a spec"):
        parse_netsh(broken.encode(), "show.txt")
