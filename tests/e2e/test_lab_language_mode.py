"""The state's `language_mode` applies to every runspace a PSRP client gets, through real pypsrp,
while the simulated Windows (netsh, the HTTP registry, Cert:) keeps working as trusted code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pypsrp.exceptions import InvalidPSRPOperation
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from generator.binding import REGISTRY_ROOT
from generator.lab.server import LabServer
from generator.lab.state import LabStateError, StateFile
from tests.e2e.conftest import write_state, wsman

pytestmark = [pytest.mark.lab, pytest.mark.pwsh]

MAIN_KEY = REGISTRY_ROOT + r"\SslBindingInfo\0.0.0.0:443"
CLM_ERROR = "Cannot invoke method. Method invocation is supported only on core types in this language mode."
NO_LANGUAGE_ERROR = (
    "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode."
)


def set_mode(lab: LabServer, mode: str | None) -> None:
    def change(state: dict[str, Any]) -> None:
        if mode is not None:
            state["language_mode"] = mode

    write_state(lab.state.path, change)


def script(pool: RunspacePool, text: str) -> PowerShell:
    ps = PowerShell(pool)
    ps.add_script(text)
    ps.invoke()
    return ps


def lines(ps: PowerShell) -> list[str]:
    return [str(item) for item in ps.output]


@pytest.fixture(autouse=True)
def full_language_afterwards(lab: LabServer) -> Any:
    yield
    set_mode(lab, None)


def test_full_language_is_the_default(lab: LabServer) -> None:
    set_mode(lab, None)
    with RunspacePool(wsman(lab)) as pool:
        ps = script(
            pool, "$ExecutionContext.SessionState.LanguageMode; [Diagnostics.Stopwatch]::StartNew().IsRunning"
        )
        assert ps.state == PSInvocationState.COMPLETED
        assert lines(ps) == ["FullLanguage", "True"]


def test_constrained_language_limits_the_client_not_the_simulated_windows(lab: LabServer) -> None:
    set_mode(lab, "ConstrainedLanguage")
    with RunspacePool(wsman(lab)) as pool:
        ps = script(pool, "$ExecutionContext.SessionState.LanguageMode")
        assert lines(ps) == ["ConstrainedLanguage"]
        ps = script(pool, "[Diagnostics.Stopwatch]::StartNew()")
        assert ps.had_errors and [str(e) for e in ps.streams.error] == [CLM_ERROR]
        ps = script(pool, "$text = & netsh http show sslcert ipport=0.0.0.0:443; $LASTEXITCODE; $text")
        assert ps.state == PSInvocationState.COMPLETED and lines(ps)[0] == "0"
        assert "    IP:port                      : 0.0.0.0:443" in lines(ps)
        ps = script(pool, f"(Get-ItemProperty -LiteralPath '{MAIN_KEY}').DefaultSslCertCheckMode")
        assert (ps.state, lines(ps)) == (PSInvocationState.COMPLETED, ["1"])
        ps = script(
            pool, "@(Get-ChildItem -LiteralPath Cert:\\LocalMachine\\My | Where-Object HasPrivateKey).Count"
        )
        assert ps.state == PSInvocationState.COMPLETED and int(lines(ps)[0]) >= 2


def test_every_runspace_of_a_pool_gets_the_mode(lab: LabServer) -> None:
    set_mode(lab, "ConstrainedLanguage")
    with RunspacePool(wsman(lab), max_runspaces=3) as pool:
        running = []
        for _ in range(3):  # concurrent pipelines: each needs a runspace of its own
            ps = PowerShell(pool)
            ps.add_script(
                "Start-Sleep -Milliseconds 1500;"
                ' "$([runspace]::DefaultRunspace.InstanceId) $($ExecutionContext.SessionState.LanguageMode)"'
            )
            ps.begin_invoke()
            running.append(ps)
        answers = []
        for ps in running:
            ps.end_invoke()
            answers += lines(ps)
    assert len({a.split()[0] for a in answers}) == 3
    assert {a.split()[1] for a in answers} == {"ConstrainedLanguage"}


def test_no_language_refuses_scripts_but_runs_commands(lab: LabServer) -> None:
    set_mode(lab, "NoLanguage")
    with RunspacePool(wsman(lab)) as pool:
        ps = script(pool, "Write-Output 1")
        assert ps.state == PSInvocationState.FAILED
        (error,) = ps.streams.error
        assert str(error) == NO_LANGUAGE_ERROR
        assert (error.fq_error, error.reason) == ("ScriptsNotAllowed", "ParseException")
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-ItemProperty").add_parameter("LiteralPath", MAIN_KEY).add_parameter(
            "Name", "DefaultSslCertCheckMode"
        )
        ps.invoke()
        assert ps.state == PSInvocationState.COMPLETED and not ps.had_errors


def test_restricted_language_allows_plain_commands_only(lab: LabServer) -> None:
    set_mode(lab, "RestrictedLanguage")
    with RunspacePool(wsman(lab)) as pool:
        ps = script(pool, "$ExecutionContext.SessionState.LanguageMode")
        assert ps.had_errors and "not allowed in restricted language mode" in str(ps.streams.error[0])
        ps = script(pool, "netsh http show sslcert ipport=0.0.0.0:443")
        assert ps.state == PSInvocationState.COMPLETED
        assert "    IP:port                      : 0.0.0.0:443" in lines(ps)


def test_a_bad_mode_written_while_the_lab_runs_fails_the_pool_naming_the_entry(lab: LabServer) -> None:
    lab.state.path.write_text('{"language_mode": "Constrained"}', encoding="utf-8")
    with pytest.raises(InvalidPSRPOperation, match=r"language_mode: must be one of FullLanguage, "):
        RunspacePool(wsman(lab)).open()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('{"language_mode": "constrainedlanguage"}', "language_mode: must be one of FullLanguage, "),
        ('{"language_mode": 1}', "language_mode: must be one of"),
        ('{"languagemode": "NoLanguage"}', "unknown key 'languagemode'"),
    ],
)
def test_bad_language_modes_are_refused(tmp_path: Path, document: str, message: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(document, encoding="utf-8")
    with pytest.raises(LabStateError, match=re.escape(message)):
        StateFile(path).read()
