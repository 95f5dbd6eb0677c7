"""Listening ports (`"listeners"`) and `Get-NetTCPConnection`, which probe-first changes call to make
sure no process listens on the loopback port of their trial binding; and that trial binding (its
own appid on `127.0.0.1:<port>`) going through the state like any other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from generator.binding import REGISTRY_ROOT
from generator.lab.sample import NEW_CERT, sample_state
from generator.lab.server import LabServer
from generator.lab.simwin import netsh, registry, tcp
from generator.lab.state import LabStateError, StateFile
from tests.e2e.conftest import write_state, wsman

TRIAL_APPID = "{73736c62-696e-4474-7269-616c62696e64}"
TRIAL_PORT = 50443
TRIAL_KEY = f"127.0.0.1:{TRIAL_PORT}"
TRIAL = {"ipport": TRIAL_KEY, "certhash": NEW_CERT, "appid": TRIAL_APPID}
BUSY_PORT = 50444
FREE_QUERY = (
    "No matching MSFT_NetTCPConnection objects found by CIM query for instances of the"
    " ROOT/StandardCimv2/MSFT_NetTCPConnection class on the  CIM server: SELECT * FROM"
    " MSFT_NetTCPConnection  WHERE ((LocalPort = 50443)) AND ((State = 2))."
    " Verify query parameters and retry."
)


def state_with(tmp_path: Path, **extra: Any) -> StateFile:
    state = sample_state()
    state.update(extra)
    store = StateFile(tmp_path / "state.json")
    store.create(state)
    return store


# --- the state


@pytest.mark.parametrize(
    ("listeners", "message"),
    [
        (8443, "listeners: must be a list of port numbers like [8443]"),
        (["8443"], "listeners[0]: must be a port number from 1 to 65535"),
        ([443, 0], "listeners[1]: must be a port number from 1 to 65535"),
        ([65536], "listeners[0]: must be a port number from 1 to 65535"),
        ([True], "listeners[0]: must be a port number from 1 to 65535"),
        ([443.0], "listeners[0]: must be a port number from 1 to 65535"),
    ],
)
def test_listeners_must_be_ports(tmp_path: Path, listeners: object, message: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({**sample_state(), "listeners": listeners}), encoding="utf-8")
    with pytest.raises(LabStateError) as caught:
        StateFile(path).read()
    assert str(caught.value) == f"{path}: {message}"


def test_no_listeners_by_default_and_none_written_back(tmp_path: Path) -> None:
    store = state_with(tmp_path)
    assert tcp.query(store.read(), {"State": ["Listen"]})["rows"] == []
    netsh.run(["http", "add", "sslcert", *(f"{k}={v}" for k, v in TRIAL.items())], store)
    assert "listeners" not in json.loads(store.path.read_text(encoding="utf-8"))


# --- Get-NetTCPConnection's answers, in Python


def test_a_listening_port_is_one_listen_row(tmp_path: Path) -> None:
    state = state_with(tmp_path, listeners=[BUSY_PORT, 8443, BUSY_PORT]).read()
    answer = tcp.query(state, {"State": ["Listen"], "LocalPort": [BUSY_PORT]})
    assert answer == {
        "rows": [
            {
                "LocalAddress": "0.0.0.0",
                "LocalPort": BUSY_PORT,
                "RemoteAddress": "0.0.0.0",
                "RemotePort": 0,
                "State": "Listen",
                "OwningProcess": 4,
            }
        ],
        "errors": [],
    }
    assert [r["LocalPort"] for r in tcp.query(state, {})["rows"]] == [8443, BUSY_PORT]


def test_a_free_port_with_state_listen_is_the_cim_query_error(tmp_path: Path) -> None:
    state = state_with(tmp_path, listeners=[BUSY_PORT]).read()
    # The conditions follow the cmdlet's parameter order, not the caller's.
    answer = tcp.query(state, {"State": ["listen"], "LocalPort": [TRIAL_PORT]})
    assert answer["rows"] == []
    assert answer["errors"] == [
        {
            "id": "CmdletizationQuery_NotFound",
            "property": None,
            "value": "MSFT_NetTCPConnection",
            "message": FREE_QUERY,
        }
    ]


def test_one_filter_property_gives_an_error_per_value_without_a_row(tmp_path: Path) -> None:
    state = state_with(tmp_path, listeners=[BUSY_PORT]).read()
    answer = tcp.query(state, {"LocalPort": [BUSY_PORT, TRIAL_PORT]})
    assert [r["LocalPort"] for r in answer["rows"]] == [BUSY_PORT]
    assert answer["errors"] == [
        {
            "id": "CmdletizationQuery_NotFound_LocalPort",
            "property": "LocalPort",
            "value": TRIAL_PORT,
            "message": "No MSFT_NetTCPConnection objects found with property 'LocalPort' equal to '50443'."
            "  Verify the value of the property and retry.",
        }
    ]
    assert tcp.query(state, {"State": ["established"]})["errors"][0]["message"].startswith(
        "No MSFT_NetTCPConnection objects found with property 'State' equal to 'Established'."
    )


def test_the_quoted_query_spells_values_as_wql() -> None:
    query = tcp.wql({"State": ["Listen", "Bound"], "LocalAddress": ["127.0.0.1"], "LocalPort": [1, 2]})
    assert query == (
        "SELECT * FROM MSFT_NetTCPConnection  WHERE ((LocalAddress = '127.0.0.1'))"
        " AND ((LocalPort = 1) OR (LocalPort = 2)) AND ((State = 2) OR (State = 100))"
    )


def test_rows_match_every_filter(tmp_path: Path) -> None:
    state = state_with(tmp_path, listeners=[BUSY_PORT]).read()
    assert tcp.query(state, {"LocalAddress": ["0.0.0.0"], "LocalPort": [BUSY_PORT]})["errors"] == []
    answer = tcp.query(state, {"LocalAddress": ["127.0.0.1"], "LocalPort": [BUSY_PORT]})
    assert answer["rows"] == [] and answer["errors"][0]["id"] == "CmdletizationQuery_NotFound"
    assert tcp.query(state, {"State": ["Established"], "LocalPort": [BUSY_PORT]})["rows"] == []
    with pytest.raises(ValueError):
        tcp.query(state, {"State": ["Sleeping"]})


# --- the trial binding in the state


def test_the_trial_binding_round_trips_like_any_other(tmp_path: Path) -> None:
    store = state_with(tmp_path)
    add = ["http", "add", "sslcert", *(f"{k}={v}" for k, v in TRIAL.items())]
    assert netsh.run(add, store) == (0, "\nSSL Certificate successfully added\n\n")
    assert store.read()["bindings"][-1] == TRIAL
    store.path.write_text(store.path.read_text(encoding="utf-8"), encoding="utf-8")
    assert store.read()["bindings"][-1] == TRIAL
    key, _ = registry.lookup(store.read(), rf"{REGISTRY_ROOT}\SslBindingInfo\{TRIAL_KEY}")
    assert key is not None
    values = {v.name: v.value for v in key.values}
    assert values == {"SslCertHash": NEW_CERT, "AppId": "626c73736e6974447269616c62696e64"}  # ToByteArray
    lines = netsh.run(["http", "show", "sslcert", f"ipport={TRIAL_KEY}"], store)[1].splitlines()
    assert f"    Application ID               : {TRIAL_APPID}" in lines
    assert netsh.run(["http", "delete", "sslcert", f"ipport={TRIAL_KEY}"], store)[0] == 0
    assert TRIAL not in store.read()["bindings"]


# --- through pwsh, as the generated scripts call it


@pytest.fixture(scope="module")
def pool(lab: LabServer) -> Iterator[RunspacePool]:
    with RunspacePool(wsman(lab)) as opened:
        yield opened


PROBE = """param([int]$Port)
& netsh http show sslcert ipport=0.0.0.0:443 | Out-Null
$found = @(Get-NetTCPConnection -State Listen -LocalPort $Port -ErrorAction SilentlyContinue)
ConvertTo-Json -Compress @{
    count = $found.Count
    rows = @($found | ForEach-Object {
        @{ address = $_.LocalAddress; port = [int]$_.LocalPort; state = [string]$_.State } })
    code = $LASTEXITCODE
}"""
STRICT = """param([int]$Port)
$ErrorActionPreference = 'Stop'
try { Get-NetTCPConnection -State Listen -LocalPort $Port; 'listening' }
catch { $_.FullyQualifiedErrorId; $_.CategoryInfo.Category.ToString(); $_.Exception.Message }"""


def probe(pool: RunspacePool, script: str, port: int) -> list[Any]:
    ps = PowerShell(pool)
    ps.add_script(script).add_parameter("Port", port)
    output = ps.invoke()
    assert ps.state == PSInvocationState.COMPLETED, [str(e) for e in ps.streams.error]
    assert not ps.streams.error  # -ErrorAction SilentlyContinue hides the not-found error
    return output


@pytest.mark.lab
@pytest.mark.pwsh
def test_get_nettcpconnection_finds_listeners_only(pool: RunspacePool, lab: LabServer) -> None:
    write_state(lab.state.path, lambda s: s.update(listeners=[BUSY_PORT]))
    busy = json.loads(probe(pool, PROBE, BUSY_PORT)[-1])
    assert busy == {
        "count": 1,
        "rows": [{"address": "0.0.0.0", "port": BUSY_PORT, "state": "Listen"}],
        "code": 0,
    }
    free = json.loads(probe(pool, PROBE, TRIAL_PORT)[-1])
    assert free == {"count": 0, "rows": [], "code": 0}  # and $LASTEXITCODE is netsh's, untouched
    write_state(lab.state.path, lambda s: s.update(listeners=[TRIAL_PORT]))  # read on every call
    assert json.loads(probe(pool, PROBE, TRIAL_PORT)[-1])["count"] == 1


@pytest.mark.lab
@pytest.mark.pwsh
def test_without_erroraction_a_free_port_throws_under_stop(pool: RunspacePool, lab: LabServer) -> None:
    write_state(lab.state.path, lambda s: s.update(listeners=[BUSY_PORT]))
    assert probe(pool, STRICT, BUSY_PORT)[-1] == "listening"
    assert probe(pool, STRICT, TRIAL_PORT) == [
        "CmdletizationQuery_NotFound,Get-NetTCPConnection",
        "ObjectNotFound",
        FREE_QUERY,
    ]


@pytest.mark.lab
@pytest.mark.pwsh
def test_constrained_language_scripts_can_call_it(lab: LabServer) -> None:
    def constrained(state: dict[str, Any]) -> None:
        state.update(listeners=[BUSY_PORT], language_mode="ConstrainedLanguage")

    write_state(lab.state.path, constrained)
    with RunspacePool(wsman(lab)) as clm:
        mode_first = PROBE.replace("\n", '\n"$($ExecutionContext.SessionState.LanguageMode)"\n', 1)
        output = probe(clm, mode_first, BUSY_PORT)
    assert output[0] == "ConstrainedLanguage"
    assert json.loads(output[-1])["rows"] == [{"address": "0.0.0.0", "port": BUSY_PORT, "state": "Listen"}]


READ_TRIAL = r"""param([string]$Key)
$values = Get-ItemProperty -LiteralPath $Key
ConvertTo-Json -Compress @{
    appId = ([guid]::new([byte[]]$values.AppId)).ToString('B')
    exists = Test-Path -LiteralPath $Key
}"""


@pytest.mark.lab
@pytest.mark.pwsh
def test_scripts_read_the_trial_binding_from_the_registry(pool: RunspacePool, lab: LabServer) -> None:
    write_state(lab.state.path, lambda s: s["bindings"].append(dict(TRIAL)))
    ps = PowerShell(pool)
    ps.add_script(READ_TRIAL).add_parameter("Key", rf"{REGISTRY_ROOT}\SslBindingInfo\{TRIAL_KEY}")
    output = ps.invoke()
    assert ps.state == PSInvocationState.COMPLETED, [str(e) for e in ps.streams.error]
    assert json.loads(output[-1]) == {"appId": TRIAL_APPID, "exists": True}
