"""The lab's TLS front seen from inside the simulated host (real pwsh over real pypsrp): the
SimWindows endpoint map, a .NET handshake with SNI that gets the state's certificate, the
shadowing IP binding and key_usable; and that the pwsh processes the lab ends leave no
CoreFxPipe_PSHost socket behind. One lab for the module."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from pypsrp.complex_objects import RunspacePoolState
from pypsrp.powershell import PowerShell, RunspacePool

from generator.lab.labcerts import issue_certificates, key_dir_for
from generator.lab.sample import sample_state
from generator.lab.server import LabServer
from generator.lab.state import StateFile
from tests.e2e.conftest import PASSWORD, USER, wsman

pytestmark = [pytest.mark.lab, pytest.mark.pwsh]

# A minimal client handshake (the template's Invoke-SslTlsHandshake does more): where the lab says
# the binding is served, with SNI, any certificate accepted because only its thumbprint is read.
HANDSHAKE = """
param($Address, $Port, $ServerName)
$endpoint = SslbindLabTlsEndpoint -Address $Address -Port $Port
$at = $endpoint.LastIndexOf(':')
$hostName = $endpoint.Substring(0, $at).Trim('[', ']')
$client = [System.Net.Sockets.TcpClient]::new($hostName, [int]$endpoint.Substring($at + 1))
try {
    $accept = [System.Net.Security.RemoteCertificateValidationCallback] { return $true }
    $stream = [System.Net.Security.SslStream]::new($client.GetStream(), $false, $accept)
    try {
        $stream.AuthenticateAsClient($ServerName)
        @{ endpoint = $endpoint; thumbprint = $stream.RemoteCertificate.GetCertHashString(); error = $null }
    } catch {
        @{ endpoint = $endpoint; thumbprint = $null; error = $_.Exception.Message }
    } finally { $stream.Dispose() }
} finally { $client.Dispose() }
"""


@pytest.fixture(scope="module")
def lab(pwsh: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    store = StateFile(tmp_path_factory.mktemp("tls") / "state.json")
    store.create(issue_certificates(sample_state(), key_dir_for(store.path)))
    with LabServer(store.path, USER, PASSWORD, pwsh=pwsh, tls_front=True) as server:
        yield server


@pytest.fixture(scope="module")
def pool(lab: LabServer) -> Iterator[RunspacePool]:
    """One shell (one pwsh) for the module: the last test closes it and checks what it left."""
    runspaces = RunspacePool(wsman(lab))
    runspaces.open()
    yield runspaces
    if runspaces.state == RunspacePoolState.OPENED:
        runspaces.close()


def on_host(pool: RunspacePool, address: str, port: int, server_name: str) -> dict[str, Any]:
    ps = PowerShell(pool)
    ps.add_script(HANDSHAKE).add_parameters({"Address": address, "Port": port, "ServerName": server_name})
    output = ps.invoke()
    assert not ps.had_errors, [str(e) for e in ps.streams.error]
    result: dict[str, Any] = output[0]
    return result


def certhash(lab: LabServer, key: str) -> str:
    binding = next(b for b in lab.state.read()["bindings"] if key in b.values())
    return str(binding["certhash"]).upper()


def test_the_host_reaches_the_front_and_gets_the_states_certificate(
    lab: LabServer, pool: RunspacePool
) -> None:
    assert lab.tls_front is not None
    result = on_host(pool, "0.0.0.0", 443, "api.contoso.com")
    host, port = lab.tls_front.endpoint("0.0.0.0", 443)
    assert result["endpoint"] == f"{host}:{port}"
    assert result["error"] is None
    assert result["thumbprint"] == certhash(lab, "api.contoso.com:443")


def test_a_shadowing_ip_binding_and_an_unusable_key_are_what_the_host_sees(
    lab: LabServer, pool: RunspacePool
) -> None:
    renewal = next(
        c["thumbprint"]
        for c in lab.state.read()["certificates"]
        if c["store"] == "My"
        and c["thumbprint"] != certhash(lab, "api.contoso.com:443")
        and c["has_private_key"]
    )
    with lab.state.transaction() as state:
        state["bindings"].append({"ipport": "127.0.0.1:443", "certhash": renewal})
    try:
        assert on_host(pool, "0.0.0.0", 443, "api.contoso.com")["thumbprint"] == renewal.upper()
        with lab.state.transaction() as state:
            for record in state["certificates"]:
                record["key_usable"] = record["thumbprint"] != renewal
        failed = on_host(pool, "0.0.0.0", 443, "api.contoso.com")
        assert failed["thumbprint"] is None and failed["error"]
    finally:
        with lab.state.transaction() as state:
            state["bindings"] = [b for b in state["bindings"] if b.get("ipport") != "127.0.0.1:443"]
            for record in state["certificates"]:
                record.pop("key_usable", None)


def touchpoint() -> str:
    """The template's own Invoke-SslTlsHandshake (templates/lib/windows.ps1), as apply.ps1 has it."""
    text = (Path(__file__).resolve().parents[2] / "templates" / "lib" / "windows.ps1").read_text("utf-8")
    match = re.search(r"^function Invoke-SslTlsHandshake \{.*?^\}", text, re.DOTALL | re.MULTILINE)
    assert match, "Invoke-SslTlsHandshake not found in templates/lib/windows.ps1"
    return match.group(0)


def run_touchpoint(pool: RunspacePool, arguments: str) -> dict[str, Any]:
    ps = PowerShell(pool)
    ps.add_script(
        f"{touchpoint()}\nInvoke-SslTlsHandshake {arguments} -TimeoutMs 10000 | ConvertTo-Json -Compress"
    )
    output = ps.invoke()
    assert not ps.had_errors, [str(e) for e in ps.streams.error]
    result: dict[str, Any] = json.loads(str(output[-1]))
    return result


def test_the_templates_touchpoint_sees_what_the_front_serves(lab: LabServer, pool: RunspacePool) -> None:
    result = run_touchpoint(pool, "-Address 0.0.0.0 -Port 443 -ServerName api.contoso.com")
    assert result["ok"] is True, result
    assert str(result["thumbprint"]).upper() == certhash(lab, "api.contoso.com:443")
    assert result["client_cert_requested"] is False
    negotiating = run_touchpoint(pool, "-Address 0.0.0.0 -Port 8443")  # clientcertnegotiation=enable
    assert negotiating["ok"] is True and negotiating["client_cert_requested"] is True, negotiating


def _host_pipes(pids: set[int], since: float) -> list[Path]:
    """The sockets these pids created since `since` (an older file is a reused pid's, not ours)."""
    temp = Path(os.environ.get("TMPDIR") or "/tmp")
    found = [p for pid in pids for p in temp.glob(f"CoreFxPipe_PSHost.*.{pid}.*")]
    return [
        p for p in found if p.name.split(".")[2] in {str(pid) for pid in pids} and p.stat().st_mtime >= since
    ]


def test_the_pwsh_processes_the_lab_ends_leave_no_corefxpipe_socket(
    lab: LabServer, pool: RunspacePool
) -> None:
    ps = PowerShell(pool)
    ps.add_script("$PID; [DateTimeOffset]::new((Get-Process -Id $PID).StartTime).ToUnixTimeMilliseconds()")
    pid, started_ms = ps.invoke()
    since = int(started_ms) / 1000 - 1
    pids = {int(pid)}
    for launcher in lab.shells.pids():
        pids.add(launcher)
        pids.update(child.pid for child in psutil.Process(launcher).children(recursive=True))
    assert _host_pipes(pids, since), (
        "the open shell's PowerShell has its socket (else this test proves nothing)"
    )
    pool.close()  # the lab ends this pwsh
    deadline = time.monotonic() + 10
    while lab.shells.count() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lab.shells.count() == 0
    assert _host_pipes(pids, since) == []
