"""Scoped CCS bindings (`scopedccs=<host>:<port>`) in the lab: netsh add/show/delete (no update), the
`SslScopedCcsBindingInfo` registry view, and a state entry that round-trips through both."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from generator.binding import REGISTRY_ROOT
from generator.lab.sample import IIS_APPID, sample_state
from generator.lab.server import LabServer
from generator.lab.simwin import netsh, registry
from generator.lab.simwin.netsh_help import DEFAULT_LAYOUT, help_text
from generator.lab.state import StateFile
from tests.e2e.conftest import read_state, write_state, wsman

SCOPED_ROOT = REGISTRY_ROOT + r"\SslScopedCcsBindingInfo"
KEY = "www.contoso.com:443"
ENTRY: dict[str, Any] = {
    "scopedccs": KEY,
    "appid": IIS_APPID,
    "verifyclientcertrevocation": "disable",
    "clientcertnegotiation": "enable",
    "sslctlstorename": "ClientAuthIssuer",
    "disablehttp2": "enable",
}


@pytest.fixture
def store(tmp_path: Path) -> StateFile:
    state = StateFile(tmp_path / "state.json")
    state.create(sample_state())
    return state


def add_argv(entry: dict[str, Any]) -> list[str]:
    return ["http", "add", "sslcert", *(f"{k}={v}" for k, v in entry.items())]


def scoped(store: StateFile) -> list[dict[str, Any]]:
    return [b for b in store.read()["bindings"] if "scopedccs" in b]


def test_add_needs_only_the_key_and_appid(store: StateFile) -> None:
    code, text = netsh.run(["http", "add", "sslcert", f"scopedccs={KEY}", f"appid={IIS_APPID}"], store)
    assert (code, text.strip()) == (0, "SSL Certificate successfully added")
    assert scoped(store) == [{"scopedccs": KEY, "appid": IIS_APPID}]
    code, text = netsh.run(["http", "add", "sslcert", f"scopedccs={KEY}"], store)
    assert code == 1 and text.startswith(netsh.ESSENTIAL)


def test_a_netsh_added_binding_round_trips_through_the_state(store: StateFile) -> None:
    assert netsh.run(add_argv(ENTRY), store)[0] == 0
    (added,) = scoped(store)
    assert added == ENTRY
    document = json.loads(store.path.read_text(encoding="utf-8"))
    store.path.write_text(json.dumps(document), encoding="utf-8")  # written whole, read back
    assert scoped(store) == [ENTRY]
    code, text = netsh.run(add_argv(ENTRY), store)
    assert (code, text.splitlines()[0]) == (1, "SSL Certificate add failed, Error: 183")


def test_show_prints_the_scoped_binding_and_only_it(store: StateFile) -> None:
    netsh.run(add_argv(ENTRY), store)
    code, text = netsh.run(["http", "show", "sslcert", "scopedccs=WWW.Contoso.com:443"], store)
    assert code == 0
    lines = text.splitlines()
    assert "    Scoped Central Certificate Store : www.contoso.com:443" in lines
    assert "    Certificate Hash             : (null)" in lines
    assert "    Negotiate Client Certificate : Enabled" in lines
    assert "    Ctl Store Name               : ClientAuthIssuer" in lines
    assert "    Disable HTTP2                : Set" in lines
    assert text.count("Certificate Hash") == 1
    code, text = netsh.run(["http", "show", "sslcert", "scopedccs=other.contoso.com:443"], store)
    assert code == 1 and "The system cannot find the file specified." in text


def test_update_is_a_line_netsh_cannot_parse_and_delete_removes(store: StateFile) -> None:
    netsh.run(add_argv(ENTRY), store)
    # The update API has no scoped-CCS record (test_lab_netsh_update.py has every layout).
    argv = ["http", "update", "sslcert", f"scopedccs={KEY}", f"appid={IIS_APPID}", "disabletls13=enable"]
    assert netsh.run(argv, store) == (1, help_text(DEFAULT_LAYOUT, "update"))
    assert scoped(store) == [ENTRY]
    code, text = netsh.run(["http", "delete", "sslcert", f"scopedccs={KEY}"], store)
    assert (code, text.strip()) == (0, "SSL Certificate successfully deleted")
    assert scoped(store) == []
    assert registry.lookup(store.read(), SCOPED_ROOT) == (None, [])  # the key goes with the last binding
    code, text = netsh.run(["http", "delete", "sslcert", f"scopedccs={KEY}"], store)
    assert (code, text.splitlines()[0]) == (1, "SSL Certificate deletion failed, Error: 2")


def test_malformed_scoped_keys_are_87(store: StateFile) -> None:
    for bad in ("443", "www.contoso.com", "www.contoso.com:0", "bad host:443"):
        code, text = netsh.run(["http", "delete", "sslcert", f"scopedccs={bad}"], store)
        assert (code, text.splitlines()[0]) == (1, "SSL Certificate deletion failed, Error: 87"), bad


def test_registry_view_is_keyed_like_sni(store: StateFile) -> None:
    with store.transaction() as state:
        state["bindings"].append(dict(ENTRY))
    root, children = registry.lookup(store.read(), SCOPED_ROOT)
    assert root is not None and root.subkeys == 1
    (child,) = children
    assert child.child.startswith("{") and child.child.endswith("}")  # opaque, like SslSniBindingInfo
    values = {v.name: v for v in child.values}
    assert (values["HostnamePort"].kind, values["HostnamePort"].value) == ("string", KEY)
    assert values["AppId"].kind == "binary"
    assert "SslCertHash" not in values
    assert values["DefaultSslCertCheckMode"].value == 1
    assert values["DefaultFlags"].value == 0x2 | 0x10
    assert values["DefaultSslCtlStoreName"].value == "ClientAuthIssuer"


def test_a_state_entry_with_a_registry_override_round_trips(store: StateFile) -> None:
    entry = {**ENTRY, "registry": {"DefaultFlags": 0x8012}}
    with store.transaction() as state:
        state["bindings"].append(json.loads(json.dumps(entry)))
    assert scoped(store) == [entry]
    (child,) = registry.lookup(store.read(), SCOPED_ROOT)[1]
    assert {v.name: v.value for v in child.values}["DefaultFlags"] == 0x8012


# --- through pwsh, as the generated scripts see it


@pytest.fixture(scope="module")
def pool(lab: LabServer) -> Iterator[RunspacePool]:
    with RunspacePool(wsman(lab)) as opened:
        yield opened


READ = r"""param([string]$Root)
$child = @(Get-ChildItem -LiteralPath $Root)[0]
$values = Get-ItemProperty -LiteralPath ($Root + '\' + $child.PSChildName)
Set-ItemProperty -LiteralPath ($Root + '\' + $child.PSChildName) -Name DefaultSslCertCheckMode -Value 0
$show = (& netsh http show sslcert scopedccs=www.contoso.com:443) -join "`n"
ConvertTo-Json -Compress @{
    exists = Test-Path -LiteralPath $Root
    hostnamePort = $values.HostnamePort
    flags = $values.DefaultFlags
    appId = ([guid]::new([byte[]]$values.AppId)).ToString('B')
    show = $show
    code = $LASTEXITCODE
}"""


@pytest.mark.lab
@pytest.mark.pwsh
def test_scripts_read_and_write_a_scoped_binding(pool: RunspacePool, lab: LabServer) -> None:
    write_state(lab.state.path, lambda s: s["bindings"].append(dict(ENTRY)))
    ps = PowerShell(pool)
    ps.add_script(READ).add_parameter("Root", SCOPED_ROOT)
    output = ps.invoke()
    assert ps.state == PSInvocationState.COMPLETED, [str(e) for e in ps.streams.error]
    result = json.loads(output[-1])
    assert (result["exists"], result["hostnamePort"], result["flags"]) == (True, KEY, 0x12)
    assert result["appId"] == IIS_APPID and result["code"] == 0
    assert "    Verify Client Certificate Revocation : Enabled" in result["show"].splitlines()
    (entry,) = [b for b in read_state(lab.state.path)["bindings"] if "scopedccs" in b]
    assert "verifyclientcertrevocation" not in entry  # the registry write went to the setting
    ps = PowerShell(pool)
    ps.add_script(f"& netsh http delete sslcert scopedccs={KEY} | Out-Null; $LASTEXITCODE")
    assert ps.invoke() == [0]
    assert not [b for b in read_state(lab.state.path)["bindings"] if "scopedccs" in b]
