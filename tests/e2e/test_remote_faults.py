"""The fault matrix: each way a change can go wrong, against the lab through real pypsrp.

In every case the lab's final binding is the desired one or exactly the prior one (never missing),
the exit code follows the contract, and the record says what happened.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_remote_harness import MAIN, NEW_CERT, SNI, LabHosts, lab_hosts, swap_to_new

# Each test runs several pwsh pipelines through the lab; on a loaded 2-core machine that is slow.
pytestmark = [pytest.mark.lab, pytest.mark.pwsh, pytest.mark.both_language_modes, pytest.mark.timeout(900)]

CHANGE = "CHG0000200"


@pytest.fixture
def planned(pwsh: str, tmp_path: Path) -> Iterator[LabHosts]:
    """One lab host with the motivating change rendered and planned (changes pending), by
    delete+add (swap: replace): this matrix is about the window between the two; the update path
    has its own in test_remote_zero_downtime.py."""
    with lab_hosts(tmp_path, pwsh) as lab:
        result = lab.plan(lab.spec(CHANGE, swap_to_new(swap="replace")))
        assert result.exit_code == 3, result.output
        yield lab


def _host(lab: LabHosts) -> str:
    return lab.hosts[0]


def same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Equal binding sets: HTTP.sys has no order, and a re-added binding lands last in the lab."""
    return sorted(a, key=repr) == sorted(b, key=repr)


def assert_prior(lab: LabHosts, before: list[dict[str, Any]]) -> None:
    assert same(lab.bindings(_host(lab)), before)


def assert_desired(lab: LabHosts) -> None:
    binding = lab.binding(_host(lab))
    assert binding is not None
    assert binding["certhash"].lower() == NEW_CERT
    assert binding["verifyclientcertrevocation"] == "disable"


def recorded(lab: LabHosts) -> dict[str, Any]:
    assert lab.sslbind("record", "check", str(lab.record(CHANGE))).exit_code == 0
    return lab.host_result(CHANGE, _host(lab))


def test_add_fails_1312_rolls_back_on_the_target(planned: LabHosts) -> None:
    lab, before = planned, planned.bindings(_host(planned))
    lab.fault(_host(lab), on="add", error=1312, target=MAIN)  # the live add, not the trial
    result = lab.apply(CHANGE)
    assert result.exit_code == 1, result.output
    assert_prior(lab, before)
    host = recorded(lab)
    assert host["status"] == "rolled-back"
    assert "1312" in host["summary"]
    steps = [a["step"] for a in host["result"]["actions"]]
    assert steps[:4] == ["trial-add", "trial-delete", "delete", "add"] and "rollback-add" in steps


def test_verify_finds_a_mismatch_and_everything_is_restored(pwsh: str, tmp_path: Path) -> None:
    with lab_hosts(tmp_path, pwsh) as lab:
        host = lab.hosts[0]
        sni = {
            "hostnameport": "api.contoso.com:443",
            "certhash": NEW_CERT,
            "certstorename": "WebHosting",
            "swap": "replace",
        }
        spec = lab.spec(CHANGE, [*swap_to_new(swap="replace"), sni])
        assert lab.plan(spec).exit_code == 3
        before = lab.bindings(host)
        # While the second binding's delete stalls, something else flips a setting on the first one
        # (already replaced), so apply.ps1's verify step must see the mismatch.
        lab.fault(host, on="delete", target=SNI, hang=6)
        tamper = threading.Thread(target=_flip_revocation_once_replaced, args=(lab, host), daemon=True)
        tamper.start()
        result = lab.apply(CHANGE)
        tamper.join(10)
        assert result.exit_code == 1, result.output
        assert same(lab.bindings(host), before)
        outcome = lab.host_result(CHANGE, host)
        assert outcome["status"] == "rolled-back"
        assert "verifyclientcertrevocation" in outcome["summary"]
        assert any(a["step"] == "rollback-verify" for a in outcome["result"]["actions"])


def _flip_revocation_once_replaced(lab: LabHosts, host: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        binding = lab.binding(host, MAIN)
        if binding is not None and binding["certhash"].lower() == NEW_CERT:

            def flip(state: dict[str, Any]) -> None:
                for entry in state["bindings"]:
                    if entry.get("ipport") == "0.0.0.0:443":
                        entry["verifyclientcertrevocation"] = "enable"

            lab.change(host, flip)
            return
        time.sleep(0.02)


def test_delete_fails_nothing_changes(planned: LabHosts) -> None:
    lab, before = planned, planned.bindings(_host(planned))
    lab.fault(_host(lab), on="delete", error=5, target=MAIN)  # the live delete, not the trial's
    result = lab.apply(CHANGE)
    assert result.exit_code == 1, result.output
    assert_prior(lab, before)
    host = recorded(lab)
    assert host["status"] == "rolled-back" and "error 5" in host["summary"]


def test_connection_drops_after_delete_target_finishes_and_client_reports_it(planned: LabHosts) -> None:
    lab = planned
    lab.fault(_host(lab), on="delete", drop_connection=True)
    result = lab.apply(CHANGE, "--settle", "15")
    assert result.exit_code == 0, result.output
    assert_desired(lab)
    host = recorded(lab)
    assert host["status"] == "applied"
    assert "connection dropped" in host["lost_sight"] and "re-captured: desired" in host["summary"]
    events = [e["event"] for e in lab.events(CHANGE)]
    assert "connection-lost" in events and "recover-start" in events


def test_pwsh_dies_mid_change_client_restores_the_prior_binding(planned: LabHosts) -> None:
    lab, before = planned, planned.bindings(_host(planned))
    # after the delete: the binding is missing
    lab.fault(_host(lab), on="add", kill_pwsh=True, target=MAIN)
    result = lab.apply(CHANGE, "--settle", "3")
    assert result.exit_code == 1, result.output
    assert_prior(lab, before)
    host = recorded(lab)
    assert host["status"] == "rolled-back"
    assert "neither desired nor prior" in host["summary"] and "prior state restored" in host["summary"]
    events = [e["event"] for e in lab.events(CHANGE)]
    assert "restore-start" in events and "restored" in events


def test_stale_plan_is_refused_before_anything_changes(planned: LabHosts) -> None:
    lab = planned

    def someone_else(state: dict[str, Any]) -> None:
        state["bindings"][0]["dsmapperusage"] = "enable"

    lab.change(_host(lab), someone_else)
    moved = lab.bindings(_host(lab))
    result = lab.apply(CHANGE)
    assert result.exit_code == 1, result.output
    assert lab.bindings(_host(lab)) == moved
    host = recorded(lab)
    assert host["status"] == "refused" and "nothing was changed" in host["summary"]
    assert lab.plan(lab.record(CHANGE)).exit_code == 3  # planned again, the change can go ahead
    assert lab.apply(CHANGE).exit_code == 0
    assert_desired(lab)
    assert lab.binding(_host(lab))["dsmapperusage"] == "enable"  # type: ignore[index]  # preserved


def test_tampered_script_is_refused(planned: LabHosts) -> None:
    lab, before = planned, planned.bindings(_host(planned))
    script = lab.record(CHANGE) / "hosts" / _host(lab) / "apply.ps1"
    script.write_text(script.read_text() + "\n# harmless-looking edit\n")
    result = lab.apply(CHANGE)
    assert result.exit_code == 1
    assert "fails its integrity check" in result.output and "apply.ps1" in result.output
    assert_prior(lab, before)
    refused = lab.run_result(CHANGE)
    assert refused["kind"] == "apply" and "apply.ps1" in refused["refused"]
    assert lab.sslbind("record", "check", str(lab.record(CHANGE))).exit_code == 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_host_changes_nothing(planned: LabHosts) -> None:
    lab, before = planned, planned.bindings(_host(planned))
    result = lab.apply(CHANGE, "--port", str(_closed_port()))
    assert result.exit_code == 1, result.output
    assert_prior(lab, before)
    host = recorded(lab)
    assert host["status"] == "failed"
    assert (
        host["summary"].startswith(f"{_host(lab)}: unreachable: ")
        and "nothing was changed" in host["summary"]
    )


def test_wrong_credentials_change_nothing(planned: LabHosts) -> None:
    lab, before = planned, planned.bindings(_host(planned))
    result = lab.apply(CHANGE, password="not-the-password")
    assert result.exit_code == 1, result.output
    assert "not-the-password" not in result.output
    assert_prior(lab, before)
    host = recorded(lab)
    assert host["status"] == "failed" and "authentication failed" in host["summary"]
