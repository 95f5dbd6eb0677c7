"""The simulated Windows in Python, without pwsh: netsh rules, registry encoding, state and faults."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from generator.binding import (
    DISABLE,
    ENABLE,
    SETTING_NAMES,
    SETTINGS,
    KeyKind,
    decode_check_mode,
    decode_flags,
)
from generator.lab.faults import take_fault
from generator.lab.sample import IIS_APPID, NEW_CERT, OLD_CERT, sample_state
from generator.lab.simwin import netsh, registry
from generator.lab.state import LabStateError, StateFile

ROOT = r"HKLM:\SYSTEM\CurrentControlSet\Services\HTTP\Parameters"


@pytest.fixture
def store(tmp_path: Path) -> StateFile:
    state = StateFile(tmp_path / "state.json")
    state.create(sample_state())
    return state


def test_show_order_covers_every_setting_once() -> None:
    assert sorted(netsh.SHOW_ORDER) == sorted(SETTING_NAMES)


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.kind == "onoff"], ids=lambda s: s.name)
@pytest.mark.parametrize("value", [ENABLE, DISABLE])
def test_registry_bits_decode_back_to_the_setting(setting: object, value: str) -> None:
    name = setting.name  # type: ignore[attr-defined]
    entry = {"ipport": "0.0.0.0:443", "certhash": NEW_CERT, "appid": IIS_APPID, name: value}
    values = {v.name: v.value for v in registry.binding_values(entry)}
    mode = int(values.get("DefaultSslCertCheckMode", 0))
    flags = int(values.get("DefaultFlags", 0))
    decoded = {**decode_check_mode(mode), **decode_flags(flags)}
    assert decoded[name] == value


def test_values_at_default_are_absent_and_binary_values_are_bytes() -> None:
    entry = {"ipport": "0.0.0.0:443", "certhash": NEW_CERT, "appid": IIS_APPID}
    values = {v.name: v for v in registry.binding_values(entry)}
    assert set(values) == {"SslCertHash", "AppId"}
    assert values["SslCertHash"].kind == "binary" and values["SslCertHash"].value == NEW_CERT
    assert values["AppId"].value == "81e1c34d4be1214ab02259fc669b0914"  # Guid.ToByteArray order


def test_unreproducible_bits_are_kept_raw(store: StateFile) -> None:
    with store.transaction() as state:
        registry.set_value(state["bindings"][0], "DefaultFlags", 0x2002)  # 0x2000: no netsh parameter
    key, _ = registry.lookup(store.read(), ROOT + r"\SslBindingInfo\0.0.0.0:443")
    assert key is not None
    assert {v.name: v.value for v in key.values}["DefaultFlags"] == 0x2002


def test_registry_paths_are_case_blind_and_accept_provider_forms(store: StateFile) -> None:
    state = store.read()
    for path in (
        ROOT.lower() + r"\sslbindinginfo\0.0.0.0:443",
        r"Registry::HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\HTTP\Parameters\SslBindingInfo\0.0.0.0:443",
    ):
        key, _ = registry.lookup(state, path)
        assert key is not None and key.child == "0.0.0.0:443"
    assert registry.lookup(state, ROOT + r"\SslCcsBindingInfo") == (None, [])
    assert not registry.is_registry_path(r"HKLM:\SOFTWARE\Microsoft")


@pytest.mark.parametrize(
    ("argv", "code", "first_line"),
    [
        (["http", "add", "sslcert", "ipport=[::1]:443", f"certhash={NEW_CERT}", f"appid={IIS_APPID}"], 0, ""),
        (
            ["http", "add", "sslcert", "ipport=::1:443", f"certhash={NEW_CERT}", f"appid={IIS_APPID}"],
            1,
            "SSL Certificate add failed, Error: 87",
        ),
        (
            ["http", "add", "sslcert", "ipport=10.0.0.1:443", f"certhash={NEW_CERT}"],
            1,
            "One or more essential parameters were not entered.",
        ),
        (["http", "add", "sslcert", "ccs=443", f"appid={IIS_APPID}"], 0, ""),
        (["http", "delete", "sslcert", "hostnameport=API.CONTOSO.COM:443"], 0, ""),
        (["http", "frob", "sslcert"], 1, "The following command was not found: http frob sslcert."),
    ],
)
def test_netsh_command_lines(store: StateFile, argv: list[str], code: int, first_line: str) -> None:
    got_code, text = netsh.run(argv, store)
    assert got_code == code
    assert text.lstrip("\n").splitlines()[0] == first_line or (first_line == "" and "successfully" in text)


def test_show_block_lists_every_label_in_order(store: StateFile) -> None:
    _, text = netsh.run(["http", "show", "sslcert", "ipport=0.0.0.0:443"], store)
    labels = [line.split(":")[0].strip() for line in text.splitlines()[5:] if line.startswith("    ")]
    expected = [next(s.label for s in SETTINGS if s.name == n) for n in netsh.SHOW_ORDER]
    assert labels == expected


def test_concurrent_writers_lose_nothing(store: StateFile) -> None:
    def add(index: int) -> None:
        key = f"ipport=10.0.{index}.1:443"
        code, text = netsh.run(
            ["http", "add", "sslcert", key, f"certhash={OLD_CERT}", f"appid={IIS_APPID}"], store
        )
        assert code == 0, text

    threads = [threading.Thread(target=add, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.read()["bindings"]) == len(sample_state()["bindings"]) + 16


def test_fault_matching_by_target_and_single_use() -> None:
    state = sample_state()
    state["faults"] = [
        {"on": "delete", "error": 5, "target": "ipport=0.0.0.0:8443"},
        {"on": "delete", "error": 2},
    ]
    first = take_fault(state, "delete", KeyKind.IPPORT, "0.0.0.0:443")
    assert first is not None and first.error == 2
    assert take_fault(state, "delete", KeyKind.IPPORT, "0.0.0.0:443") is None
    second = take_fault(state, "delete", KeyKind.IPPORT, "0.0.0.0:8443")
    assert second is not None and second.error == 5
    assert state["faults"] == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[]", "must be a JSON object"),
        ('{"bindings": [{"certhash": "00"}]}', "bindings[0]: needs exactly one of"),
        ('{"bindings": [{"ipport": "0.0.0.0:1", "colour": "red"}]}', "bindings[0]: unknown key 'colour'"),
        ('{"certificates": [{"store": "My"}]}', "certificates[0]: missing thumbprint"),
        ('{"faults": [{"error": 5}]}', "faults[0]: missing 'on'"),
        ("{not json", ":1: not valid JSON"),
    ],
)
def test_bad_state_files_name_the_entry(tmp_path: Path, document: str, message: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(document, encoding="utf-8")
    with pytest.raises(LabStateError, match=message.replace("[", r"\[").replace("]", r"\]")):
        StateFile(path).read()


def test_sample_state_tells_the_rotation_story() -> None:
    state = sample_state()
    main = state["bindings"][0]
    assert (main["ipport"], main["appid"], main["verifyclientcertrevocation"]) == (
        "0.0.0.0:443",
        IIS_APPID,
        "disable",
    )
    assert main["certhash"] != NEW_CERT
    thumbprints = {c["thumbprint"] for c in state["certificates"]}
    assert {main["certhash"], NEW_CERT} <= thumbprints
    assert any(not c["has_private_key"] for c in state["certificates"])
    assert any(not c["server_auth"] for c in state["certificates"])
    assert json.loads(json.dumps(state)) == state


def test_an_older_netsh_hides_newer_tags_and_ignores_them(store: StateFile) -> None:
    with store.transaction() as state:
        state["netsh"]["missing_parameters"] = ["disablesessionid"]
    _, usage = netsh.run(["http", "add", "sslcert", "/?"], store)
    assert "disablesessionid" not in usage and "disabletls13" in usage
    argv = ["http", "add", "sslcert", "ipport=10.0.0.9:443", f"certhash={NEW_CERT}", f"appid={IIS_APPID}"]
    code, _ = netsh.run([*argv, "disablesessionid=enable"], store)
    assert code == 0  # exit code 0 and no binding, as reported on Server 2019
    assert "10.0.0.9:443" not in [b.get("ipport") for b in store.read()["bindings"]]
