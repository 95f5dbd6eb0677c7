"""Faults from the state file: netsh errors, hangs, dropped connections and pwsh dying mid-pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil
import pytest
import requests
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from generator.lab import wsman as lab_wsman
from generator.lab.sample import IIS_APPID, NEW_CERT, OLD_CERT
from generator.lab.server import LabServer
from tests.e2e.conftest import read_state, write_state, wsman

pytestmark = [pytest.mark.lab, pytest.mark.pwsh]

# Capture, delete, add: the shape of an apply, run on the target in one pipeline.
ROTATE = f"""$ErrorActionPreference = 'Stop'
'deleting'
& netsh http delete sslcert ipport=0.0.0.0:443 | Out-Null
'deleted'
Start-Sleep -Seconds 1
$add = @('http', 'add', 'sslcert', 'ipport=0.0.0.0:443', 'certhash={NEW_CERT}', 'appid={IIS_APPID}')
& netsh @add | Out-Null
'added'
"""


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def binding_443(lab: LabServer) -> dict[str, object] | None:
    bindings = read_state(lab.state.path)["bindings"]
    return next((b for b in bindings if b.get("ipport") == "0.0.0.0:443"), None)


def test_dropped_connection_after_delete_while_pwsh_carries_on(lab: LabServer) -> None:
    write_state(lab.state.path, lambda s: s["faults"].append({"on": "delete", "drop_connection": True}))
    shells_before = lab.shells.count()
    pool = RunspacePool(wsman(lab))
    pool.open()
    ps = PowerShell(pool)
    ps.add_script(ROTATE)
    with pytest.raises(requests.exceptions.ConnectionError):
        ps.invoke()
    # The target finishes the pipeline on its own: the add lands although nobody is listening.
    assert wait_until(lambda: (binding_443(lab) or {}).get("certhash") == NEW_CERT)
    assert read_state(lab.state.path)["faults"] == []
    # The abandoned shell is closed once its pipeline has ended.
    assert wait_until(lambda: lab.shells.count() == shells_before)
    with RunspacePool(wsman(lab)) as fresh:
        again = PowerShell(fresh)
        again.add_script("'new pool works'")
        assert again.invoke() == ["new pool works"]


def test_pwsh_killed_before_add_leaves_the_host_without_the_binding(lab: LabServer) -> None:
    write_state(lab.state.path, lambda s: s["faults"].append({"on": "add", "kill_pwsh": True}))
    with RunspacePool(wsman(lab)) as pool:
        ps = PowerShell(pool)
        ps.add_script(ROTATE)
        with pytest.raises(WSManFaultError) as caught:
            ps.invoke()
        assert caught.value.code == lab_wsman.SHELL_NOT_FOUND
        assert "exited" in str(caught.value.reason)
        assert not pool.is_alive()
    assert binding_443(lab) is None  # deleted, never re-added: what rollback must handle
    assert read_state(lab.state.path)["faults"] == []


def test_pwsh_killed_after_add_keeps_the_change(lab: LabServer) -> None:
    write_state(
        lab.state.path, lambda s: s["faults"].append({"on": "add", "kill_pwsh": True, "when": "after"})
    )
    with RunspacePool(wsman(lab)) as pool:
        ps = PowerShell(pool)
        ps.add_script(ROTATE)
        with pytest.raises(WSManFaultError):
            ps.invoke()
    assert (binding_443(lab) or {}).get("certhash") == NEW_CERT


def test_error_fault_matches_its_target_only(lab: LabServer) -> None:
    write_state(
        lab.state.path, lambda s: s["faults"].append({"on": "delete", "error": 5, "target": "0.0.0.0:8443"})
    )
    with RunspacePool(wsman(lab)) as pool:
        ps = PowerShell(pool)
        ps.add_script(
            "& netsh http delete sslcert ipport=0.0.0.0:443 | Out-Null; $LASTEXITCODE;"
            "& netsh http delete sslcert ipport=0.0.0.0:8443; $LASTEXITCODE"
        )
        output = ps.invoke()
    assert output[0] == 0
    assert output[-1] == 1
    assert "SSL Certificate deletion failed, Error: 5" in output
    assert read_state(lab.state.path)["faults"] == []


def test_hang_delays_the_operation_then_runs_it(lab: LabServer) -> None:
    write_state(lab.state.path, lambda s: s["faults"].append({"on": "delete", "hang": 2}))
    with RunspacePool(wsman(lab)) as pool:
        ps = PowerShell(pool)
        ps.add_script(
            "$t = Get-Date; & netsh http delete sslcert ipport=0.0.0.0:443 | Out-Null; $LASTEXITCODE;"
            "((Get-Date) - $t).TotalSeconds"
        )
        code, seconds = ps.invoke()
    assert code == 0 and seconds >= 2
    assert binding_443(lab) is None


def test_registry_write_fault_is_a_permission_error(lab: LabServer) -> None:
    write_state(lab.state.path, lambda s: s["faults"].append({"on": "set", "error": 5}))
    key = r"HKLM:\SYSTEM\CurrentControlSet\Services\HTTP\Parameters\SslBindingInfo\0.0.0.0:443"
    with RunspacePool(wsman(lab)) as pool:
        ps = PowerShell(pool)
        ps.add_script(
            "param($Key) $ErrorActionPreference = 'Stop';"
            "Set-ItemProperty -LiteralPath $Key -Name DefaultSslCertCheckMode -Value 0 -Type DWord"
        )
        ps.add_parameter("Key", key)
        ps.invoke()
        assert ps.state == PSInvocationState.FAILED
        assert "not allowed" in str(ps.streams.error[0])
    assert (binding_443(lab) or {}).get("verifyclientcertrevocation") == "disable"
    assert (binding_443(lab) or {}).get("certhash") == OLD_CERT


def test_a_crashed_client_s_shell_is_reaped_after_the_idle_timeout(pwsh: str, lab: LabServer) -> None:
    with LabServer(lab.state.path, "lab", "lab-Passw0rd", pwsh=pwsh, idle_timeout=2) as short:
        pool = RunspacePool(wsman(short))
        pool.open()
        ps = PowerShell(pool)
        ps.add_script("Start-Sleep -Seconds 60")
        ps.begin_invoke()  # then the client vanishes: no Receive, no Delete
        (pid,) = short.shells.pids()
        assert wait_until(lambda: short.shells.count() == 0, timeout=15)
        assert wait_until(lambda: not _running(pid), timeout=5)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
