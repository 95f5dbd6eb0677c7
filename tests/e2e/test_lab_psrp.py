"""pypsrp's own WSMan, RunspacePool and PowerShell against the lab: the WinRM surface sslbind uses."""

from __future__ import annotations

import threading
import time

import pytest
from pypsrp.exceptions import AuthenticationError, WSManFaultError
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from generator.lab.server import LabServer
from tests.e2e.conftest import wsman

pytestmark = [pytest.mark.lab, pytest.mark.pwsh]


@pytest.fixture(scope="module")
def pool(lab: LabServer):  # type: ignore[no-untyped-def]
    with RunspacePool(wsman(lab)) as opened:
        yield opened


def test_open_reports_the_negotiated_protocol(pool: RunspacePool) -> None:
    assert pool.protocol_version is not None
    assert tuple(int(p) for p in pool.protocol_version.split(".")) >= (2, 2)
    assert pool.is_alive()


def test_script_with_parameters_returns_output(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_script("param([string]$Name, [int]$Port) '{0}:{1}' -f $Name, ($Port + 1)")
    ps.add_parameters({"Name": "site1", "Port": 442})
    assert ps.invoke() == ["site1:443"]
    assert ps.state == PSInvocationState.COMPLETED
    assert not ps.had_errors


def test_every_stream_arrives(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_script(
        "Write-Warning 'careful'; Write-Verbose 'details' -Verbose; Write-Information 'note';"
        "Write-Error 'not fatal'; 'out'"
    )
    assert ps.invoke() == ["out"]
    assert [w.message for w in ps.streams.warning] == ["careful"]
    assert [v.message for v in ps.streams.verbose] == ["details"]
    assert [i.message_data for i in ps.streams.information] == ["note"]
    assert [str(e) for e in ps.streams.error] == ["not fatal"]
    assert not ps.had_errors  # a non-terminating error does not fail the pipeline


def test_failing_script_is_failed_with_errors(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_script("$ErrorActionPreference = 'Stop'; 'before'; throw 'boom'")
    assert ps.invoke() == ["before"]
    assert ps.state == PSInvocationState.FAILED
    assert ps.had_errors
    assert "boom" in [str(e) for e in ps.streams.error]


def test_session_state_persists_between_pipelines(pool: RunspacePool) -> None:
    first = PowerShell(pool)
    first.add_script("$global:captured = 'prior binding'")
    first.invoke()
    second = PowerShell(pool)
    second.add_script("$global:captured")
    assert second.invoke() == ["prior binding"]


def test_long_pipeline_outlives_operation_timeout(lab: LabServer) -> None:
    # operation_timeout 1 s: the lab answers Receive with the TimedOut fault, pypsrp polls again.
    with RunspacePool(wsman(lab, operation_timeout=1, read_timeout=10)) as short:
        ps = PowerShell(short)
        ps.add_script("Start-Sleep -Seconds 3; 'done'")
        assert ps.invoke() == ["done"]


def test_receive_timeout_is_the_windows_fault(lab: LabServer) -> None:
    with RunspacePool(wsman(lab)) as pool:
        ps = PowerShell(pool)
        ps.add_script("Start-Sleep -Seconds 20")
        ps.begin_invoke()
        with pytest.raises(WSManFaultError) as caught:
            pool._receive(ps.id, timeout=1)
        assert caught.value.code == 2150858793
        ps.stop()


def test_stop_ends_a_running_pipeline(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_script("Start-Sleep -Seconds 60; 'never'")
    ps.begin_invoke()
    started = time.monotonic()
    ps.stop()
    assert ps.state == PSInvocationState.STOPPED
    assert time.monotonic() - started < 10
    after = PowerShell(pool)
    after.add_script("'still usable'")
    assert after.invoke() == ["still usable"]


def test_powershell_spelling_crtl_c_stops_too(pool: RunspacePool) -> None:
    # MS-PSRP and PowerShell's own client spell the signal crtl_c; the pipeline reports Stopped.
    ps = PowerShell(pool)
    ps.add_script("'started'; Start-Sleep -Seconds 60")
    ps.begin_invoke()
    deadline = time.monotonic() + 30
    while not ps.output and time.monotonic() < deadline:
        ps.poll_invoke(timeout=2)
    pool.shell.signal("powershell/signal/crtl_c", str(ps.id).upper())
    while ps.state == PSInvocationState.RUNNING and time.monotonic() < deadline:
        ps.poll_invoke(timeout=2)
    assert ps.state == PSInvocationState.STOPPED
    assert [str(e) for e in ps.streams.error] == ["The pipeline has been stopped."]


def test_closed_powershell_can_be_invoked_again(pool: RunspacePool) -> None:
    # pypsrp re-uses the CommandId after TERMINATE (the lab must accept a Command for it).
    ps = PowerShell(pool)
    ps.add_script("'again'")
    assert ps.invoke() == ["again"]
    ps.close()
    assert ps.invoke() == ["again", "again"]  # pypsrp keeps the first run's output
    assert ps.state == PSInvocationState.COMPLETED
    ps.close()


def test_input_and_large_script_go_through_send(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    padding = "#" + "x" * 600_000  # larger than one envelope: pypsrp sends the rest with Send
    ps.add_script(f"{padding}\n$input | ForEach-Object {{ $_ * 2 }}")
    assert ps.invoke(input=[1, 2, 3]) == [2, 4, 6]


def test_two_megabytes_of_output(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_script("'x' * (2 * 1024 * 1024); 1..2000 | ForEach-Object { 'line {0} {1}' -f $_, ('y' * 500) }")
    output = ps.invoke()
    assert len(output[0]) == 2 * 1024 * 1024
    assert len(output) == 2001
    assert output[-1].startswith("line 2000 ")


def test_close_deletes_the_shell_and_its_pwsh(lab: LabServer) -> None:
    before = lab.shells.count()
    pool = RunspacePool(wsman(lab))
    pool.open()
    ps = PowerShell(pool)
    ps.add_script("Start-Sleep -Seconds 60")
    ps.begin_invoke()  # pool.close() does not close pipelines; the lab must
    assert lab.shells.count() == before + 1
    pool.close()
    assert lab.shells.count() == before
    assert not pool.is_alive()  # the lab answers a Get on the deleted shell with "shell not found"


def test_close_after_stop_gets_the_session_closeack(lab: LabServer) -> None:
    # pwsh acknowledges the session Close only once every command, signalled ones too, is closed;
    # otherwise the lab waits out its 3 s close timeout and kills the process.
    pool = RunspacePool(wsman(lab))
    pool.open()
    ps = PowerShell(pool)
    ps.add_script("Start-Sleep -Seconds 60")
    ps.begin_invoke()
    ps.stop()
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 2.5


def test_ten_pools_at_once(lab: LabServer) -> None:
    results: dict[int, object] = {}
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            with RunspacePool(wsman(lab)) as pool:
                ps = PowerShell(pool)
                ps.add_script("param($i) $i * 10; $PID").add_parameter("i", index)
                results[index] = ps.invoke()
        except BaseException as error:  # reported below, with the index
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert {i: out[0] for i, out in results.items()} == {i: i * 10 for i in range(10)}  # type: ignore[index]
    assert len({out[1] for out in results.values()}) == 10  # type: ignore[index] # one pwsh per shell


def test_bad_credentials_are_an_authentication_error(lab: LabServer) -> None:
    before = lab.shells.count()
    with pytest.raises(AuthenticationError):
        RunspacePool(wsman(lab, password="wrong")).open()
    with pytest.raises(AuthenticationError):
        RunspacePool(wsman(lab, username="intruder")).open()
    assert lab.shells.count() == before


def test_https_with_the_generated_certificate(pwsh: str, lab: LabServer) -> None:
    with LabServer(lab.state.path, "lab", "lab-Passw0rd", https=True, pwsh=pwsh) as secure:
        assert secure.url.startswith("https://127.0.0.1:")
        assert secure.ca_cert is not None and secure.ca_cert.is_file()
        with RunspacePool(wsman(secure)) as pool:
            ps = PowerShell(pool)
            ps.add_script("'over tls'")
            assert ps.invoke() == ["over tls"]
