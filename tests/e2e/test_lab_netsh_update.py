"""`netsh http update sslcert` in the lab: a whole-record replacement in place (never a moment
without the binding), 2 for a missing binding, usage for scoped CCS, absent on 2012 R2, and faults
on `update` (error, usage, hang, dropped connection, pwsh killed before or after)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool

from generator.lab import wsman as lab_wsman
from generator.lab.sample import EXPIRED_CERT, IIS_APPID, NEW_CERT, OLD_CERT, OTHER_APPID, sample_state
from generator.lab.server import LabServer
from generator.lab.simwin import netsh, registry
from generator.lab.simwin.netsh_help import HELP_LAYOUTS, SCOPEDCCS_LAYOUTS, help_text
from generator.lab.state import StateFile
from tests.e2e.conftest import read_state, write_state, wsman

UPDATE = ["http", "update", "sslcert"]
UPDATE_8443 = [*UPDATE, "ipport=0.0.0.0:8443", f"certhash={NEW_CERT}", f"appid={OTHER_APPID}"]
UPDATE_443 = [*UPDATE, "ipport=0.0.0.0:443", f"certhash={NEW_CERT}", f"appid={IIS_APPID}"]
UPDATED = "\nSSL Certificate successfully updated\n\n"
MISSING_2 = "SSL Certificate update failed, Error: 2\nThe system cannot find the file specified.\n\n"
DENIED_5 = "SSL Certificate update failed, Error: 5\nAccess is denied.\n\n"
SCOPED = {"scopedccs": "www.contoso.com:443", "appid": IIS_APPID, "disablehttp2": "enable"}


def store_with(tmp_path: Path, change: Any = None) -> StateFile:
    state = sample_state()
    if change is not None:
        change(state)
    store = StateFile(tmp_path / "state.json")
    store.create(state)
    return store


@pytest.fixture
def store(tmp_path: Path) -> StateFile:
    return store_with(tmp_path)


def by_key(store: StateFile, key: str) -> dict[str, Any] | None:
    return next((b for b in store.read()["bindings"] if key in b.values()), None)


# --- semantics


def test_update_replaces_the_whole_record_in_place(store: StateFile) -> None:
    # 0.0.0.0:8443 has a store, client-cert negotiation, a CTL store and a freshness time.
    position = [b.get("ipport") for b in store.read()["bindings"]].index("0.0.0.0:8443")
    assert netsh.run(UPDATE_8443, store) == (0, UPDATED)
    bindings = store.read()["bindings"]
    assert bindings[position] == {"ipport": "0.0.0.0:8443", "certhash": NEW_CERT, "appid": OTHER_APPID}
    assert len(bindings) == len(sample_state()["bindings"])


def test_settings_not_given_fall_back_to_their_defaults_everywhere(store: StateFile) -> None:
    netsh.run(UPDATE_8443, store)
    entry = by_key(store, "0.0.0.0:8443")
    assert entry is not None
    assert {v.name for v in registry.binding_values(entry)} == {"SslCertHash", "AppId"}
    lines = netsh.run(["http", "show", "sslcert", "ipport=0.0.0.0:8443"], store)[1].splitlines()
    assert "    Negotiate Client Certificate : Disabled" in lines
    assert "    Ctl Store Name               : (null)" in lines
    assert "    Certificate Store Name       : (null)" in lines
    assert "    Revocation Freshness Time    : 0" in lines


def test_update_stores_exactly_the_parameters_given(store: StateFile) -> None:
    extra = ["certstorename=My", "disabletls12=enable", "verifyclientcertrevocation=disable"]
    assert (
        netsh.run([*UPDATE_443[:4], f"certhash={NEW_CERT.upper()}", *UPDATE_443[5:], *extra], store)[0] == 0
    )
    assert by_key(store, "0.0.0.0:443") == {
        "ipport": "0.0.0.0:443",
        "certhash": NEW_CERT,
        "appid": IIS_APPID,
        "certstorename": "My",
        "disabletls12": "enable",
        "verifyclientcertrevocation": "disable",
    }


def test_raw_registry_bits_netsh_cannot_write_do_not_survive_an_update(tmp_path: Path) -> None:
    store = store_with(tmp_path, lambda s: s["bindings"][0].update(registry={"DefaultFlags": 0x8000}))
    netsh.run(UPDATE_443, store)
    entry = by_key(store, "0.0.0.0:443")
    assert entry is not None and "registry" not in entry
    assert "DefaultFlags" not in {v.name for v in registry.binding_values(entry)}


def test_no_reader_ever_sees_the_binding_absent_during_updates(store: StateFile) -> None:
    done = threading.Event()
    seen: list[bool] = []

    def watch() -> None:
        while not done.is_set():
            state = store.read()
            seen.append(any(b.get("ipport") == "0.0.0.0:443" for b in state["bindings"]))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for thumbprint in [NEW_CERT, OLD_CERT] * 15:
            argv = [*UPDATE_443[:4], f"certhash={thumbprint}", *UPDATE_443[5:]]
            assert netsh.run(argv, store) == (0, UPDATED)
    finally:
        done.set()
        watcher.join()
    assert len(seen) > 10 and all(seen)


def test_update_of_a_missing_binding_is_2_and_creates_nothing(store: StateFile) -> None:
    before = store.read()["bindings"]
    argv = [*UPDATE, "ipport=127.0.0.1:50443", f"certhash={NEW_CERT}", f"appid={IIS_APPID}"]
    assert netsh.run(argv, store) == (1, MISSING_2)
    argv = [*UPDATE, "hostnameport=www.contoso.com:443", f"certhash={NEW_CERT}", f"appid={IIS_APPID}"]
    assert netsh.run([*argv, "certstorename=My"], store) == (1, MISSING_2)
    assert netsh.run([*UPDATE, "ccs=443", f"appid={IIS_APPID}"], store) == (1, MISSING_2)
    assert store.read()["bindings"] == before


def test_update_checks_the_certificate_like_add(store: StateFile) -> None:
    argv = [*UPDATE, "ipport=0.0.0.0:8443", f"certhash={'ab' * 20}", f"appid={OTHER_APPID}"]
    code, text = netsh.run(argv, store)
    assert (code, text.splitlines()[0]) == (1, "SSL Certificate update failed, Error: 1312")
    assert (by_key(store, "0.0.0.0:8443") or {}).get("certhash") == EXPIRED_CERT


@pytest.mark.parametrize("layout", [x for x in HELP_LAYOUTS if x != "2012r2"])
def test_update_with_a_scoped_ccs_key_is_a_line_netsh_cannot_parse(tmp_path: Path, layout: str) -> None:
    def prepare(state: dict[str, Any]) -> None:
        state["netsh"]["help_layout"] = layout
        state["bindings"].append(dict(SCOPED))
        state["faults"].append({"on": "update", "error": 5})

    store = store_with(tmp_path, prepare)
    argv = [*UPDATE, f"scopedccs={SCOPED['scopedccs']}", f"appid={IIS_APPID}", "disablequic=enable"]
    assert netsh.run(argv, store) == (1, help_text(layout, "update"))
    assert by_key(store, SCOPED["scopedccs"]) == SCOPED
    assert store.read()["faults"] == [{"on": "update", "error": 5}]  # never reached HTTP.sys
    if layout in SCOPEDCCS_LAYOUTS:  # the same key still works where the API has it
        delete = ["http", "delete", "sslcert", f"scopedccs={SCOPED['scopedccs']}"]
        assert netsh.run(delete, store)[0] == 0


@pytest.mark.parametrize("netsh_section", [{"supports_update": False}, {"help_layout": "2012r2"}])
def test_without_update_the_command_is_not_found_and_faults_wait(
    tmp_path: Path, netsh_section: dict[str, Any]
) -> None:
    def prepare(state: dict[str, Any]) -> None:
        state["netsh"].update(netsh_section)
        state["faults"].append({"on": "update", "error": 5})

    store = store_with(tmp_path, prepare)
    expected = "The following command was not found: " + " ".join(UPDATE_443) + ".\n"
    assert netsh.run(UPDATE_443, store) == (1, expected)
    assert (by_key(store, "0.0.0.0:443") or {}).get("certhash") == OLD_CERT
    assert store.read()["faults"] == [{"on": "update", "error": 5}]


# --- faults on update, in Python


def test_an_error_fault_fails_the_update_once_and_changes_nothing(tmp_path: Path) -> None:
    store = store_with(tmp_path, lambda s: s["faults"].append({"on": "update", "error": 5}))
    before = store.read()["bindings"]
    assert netsh.run(UPDATE_443, store) == (1, DENIED_5)
    assert store.read()["bindings"] == before and store.read()["faults"] == []
    assert netsh.run(UPDATE_443, store) == (0, UPDATED)


def test_an_update_fault_with_a_target_waits_for_that_binding(tmp_path: Path) -> None:
    fault = {"on": "update", "error": 1312, "target": "ipport=0.0.0.0:8443"}
    store = store_with(tmp_path, lambda s: s["faults"].append(fault))
    assert netsh.run(UPDATE_443, store) == (0, UPDATED)
    assert store.read()["faults"] == [fault]
    code, text = netsh.run(UPDATE_8443, store)
    assert (code, text.splitlines()[0]) == (1, "SSL Certificate update failed, Error: 1312")
    assert (by_key(store, "0.0.0.0:8443") or {}).get("certhash") == EXPIRED_CERT


def test_a_usage_fault_on_update_prints_the_update_usage(tmp_path: Path) -> None:
    store = store_with(tmp_path, lambda s: s["faults"].append({"on": "update", "usage": True}))
    assert netsh.run(UPDATE_443, store) == (1, help_text("2019", "update"))
    assert (by_key(store, "0.0.0.0:443") or {}).get("certhash") == OLD_CERT


def test_a_hang_fault_delays_the_update_then_runs_it(tmp_path: Path) -> None:
    store = store_with(tmp_path, lambda s: s["faults"].append({"on": "update", "hang": 1}))
    started = time.monotonic()
    assert netsh.run(UPDATE_443, store) == (0, UPDATED)
    assert time.monotonic() - started >= 1
    assert (by_key(store, "0.0.0.0:443") or {}).get("certhash") == NEW_CERT


# --- faults on update, through pwsh (the connection and the process are the lab server's)

# The arguments go in as a parameter: an unquoted {appid} would be a script block in PowerShell.
SCRIPT = """param([string[]]$Update)
$ErrorActionPreference = 'Stop'
'updating'
& netsh @Update | Out-Null
"updated $LASTEXITCODE"
"""


def update_443(pool: RunspacePool, script: str) -> PowerShell:
    ps = PowerShell(pool)
    ps.add_script(script).add_parameter("Update", UPDATE_443)
    return ps


def binding_443(lab: LabServer) -> dict[str, Any]:
    return next(b for b in read_state(lab.state.path)["bindings"] if b.get("ipport") == "0.0.0.0:443")


def wait_until(condition: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return bool(condition())


@pytest.mark.lab
@pytest.mark.pwsh
def test_update_hang_and_error_faults_through_pwsh(lab: LabServer) -> None:
    write_state(lab.state.path, lambda s: s["faults"].append({"on": "update", "hang": 1}))
    with RunspacePool(wsman(lab)) as pool:
        timed = "param($Update) $t = Get-Date; & netsh @Update | Out-Null; $LASTEXITCODE;"
        timed += " ((Get-Date) - $t).TotalSeconds"
        code, seconds = update_443(pool, timed).invoke()
        assert code == 0 and seconds >= 1
        write_state(lab.state.path, lambda s: s["faults"].append({"on": "update", "error": 5}))
        output = update_443(pool, "param($Update) & netsh @Update; $LASTEXITCODE").invoke()
    assert output[-1] == 1 and output[:2] == DENIED_5.splitlines()[:2]
    assert binding_443(lab)["certhash"] == OLD_CERT


@pytest.mark.lab
@pytest.mark.pwsh
@pytest.mark.parametrize(("when", "certhash"), [("before", OLD_CERT), ("after", NEW_CERT)])
def test_pwsh_killed_around_an_update_leaves_one_whole_binding(
    lab: LabServer, when: str, certhash: str
) -> None:
    write_state(
        lab.state.path, lambda s: s["faults"].append({"on": "update", "kill_pwsh": True, "when": when})
    )
    with RunspacePool(wsman(lab)) as pool:
        ps = update_443(pool, SCRIPT)
        with pytest.raises(WSManFaultError) as caught:
            ps.invoke()
        assert caught.value.code == lab_wsman.SHELL_NOT_FOUND
        # Gone, as `is_alive()` reads it; this also keeps the pool from closing a reaped shell.
        assert not pool.is_alive()
    # Either the old record or the new one, never none: what makes update the zero-downtime path.
    assert binding_443(lab)["certhash"] == certhash
    assert read_state(lab.state.path)["faults"] == []


@pytest.mark.lab
@pytest.mark.pwsh
def test_dropped_connection_after_an_update_while_pwsh_carries_on(lab: LabServer) -> None:
    write_state(lab.state.path, lambda s: s["faults"].append({"on": "update", "drop_connection": True}))
    shells_before = lab.shells.count()
    pool = RunspacePool(wsman(lab))
    pool.open()
    ps = update_443(pool, SCRIPT)
    with pytest.raises(requests.exceptions.ConnectionError):
        ps.invoke()
    assert binding_443(lab)["certhash"] == NEW_CERT  # the update ran before the drop
    assert read_state(lab.state.path)["faults"] == []
    assert wait_until(lambda: lab.shells.count() == shells_before)
