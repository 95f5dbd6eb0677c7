"""One host's decisions without a network: what apply's result means, and recovery after losing sight."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.errors import EXIT_FAILED, EXIT_MANUAL, EXIT_OK
from generator.model import Connection, Target
from generator.remote import flow
from generator.remote.connection import Endpoint
from generator.remote.events import Event, Events
from generator.remote.recordio import Script
from generator.remote.runner import ConnectionFailure, ScriptResult
from generator.remote.scriptio import Capture

OLD, NEW = "8f2c0a4e6b1d3f5a7c9e0b2d4f6a8c1e3b5d7f90", "40db5bb1bf5659a155258d1d007c530fcb8996c2"


def state(certhash: str | None, outcome: str) -> dict[str, Any]:
    exists = certhash is not None
    binding = {"kind": "ipport", "key": "0.0.0.0:443", "exists": exists, "settings": None}
    if exists:
        binding["settings"] = {"certhash": certhash, "appid": "{4dc3e181-e14b-4a21-b022-59fc669b0914}"}
    return {"outcome": outcome, "before": [binding], "bindings": []}


PRIOR = Capture(state(OLD, "changes_pending"))
DESIRED = state(NEW, "unchanged")
MISSING = state(None, "refused")


class FakeRecord:
    path = Path("/records/CHG1")

    def script(self, host: str, name: str) -> Script:
        return Script(self.script_path(host, name), f"# {name}", "0" * 64)

    def script_path(self, host: str, name: str) -> str:
        return f"hosts/{host}/{name}.ps1"

    def target(self, host: str) -> Target:
        return Target(host, Connection(), ())


class Host:
    """Scripted answers for run_script, in order; records which scripts ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answers: list[dict[str, Any] | Exception]) -> None:
        self.answers: Iterator[dict[str, Any] | Exception] = iter(answers)
        self.ran: list[str] = []
        self.events: list[Event] = []
        monkeypatch.setattr(flow, "run_script", self.run_script)
        self.clock = 0.0
        monkeypatch.setattr(flow.time, "sleep", self.sleep)
        monkeypatch.setattr(flow.time, "monotonic", lambda: self.clock)
        self.ctx = flow.HostContext(
            FakeRecord(),  # type: ignore[arg-type]
            Endpoint("web01", Connection()),
            None,
            Events(self.events.append),
            timeout=60,
            settle=30,
        )

    def sleep(self, seconds: float) -> None:
        self.clock += seconds

    def run_script(self, ctx: flow.HostContext, script: Script, parameters: dict[str, Any]) -> ScriptResult:
        self.ran.append(script.relpath.rsplit("/", 1)[-1])
        self.clock += 5  # a pipeline takes time
        answer = next(self.answers)
        if isinstance(answer, Exception):
            raise answer
        ok = answer.get("outcome") in ("unchanged", "changes_pending", "rolled_back", "applied")
        return ScriptResult(
            [json.dumps(answer)], [] if ok else ["failed"], [], "Completed" if ok else "Failed", 1
        )


def apply_result(outcome: str, error: str | None = None) -> ScriptResult:
    obj = {
        "outcome": outcome,
        "error": error,
        "before": PRIOR.before,
        "bindings": [],
        "timings": {"gaps": []},
    }
    ok = outcome in ("applied", "unchanged")
    return ScriptResult(
        [json.dumps(obj)], [] if ok else [str(error)], [], "Completed" if ok else "Failed", 2.0
    )


def test_applied_and_refused_and_rolled_back_need_no_second_look(monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host(monkeypatch, [])
    assert flow.interpret_apply(host.ctx, PRIOR, apply_result("applied")).exit_code == EXIT_OK
    refused = flow.interpret_apply(host.ctx, PRIOR, apply_result("refused", "host moved since the plan"))
    assert (refused.status, refused.exit_code) == ("refused", EXIT_FAILED)
    assert "host moved since the plan" in refused.summary
    rolled = flow.interpret_apply(host.ctx, PRIOR, apply_result("rolled_back", "netsh add failed: 1312"))
    assert (rolled.status, rolled.exit_code) == ("rolled-back", EXIT_FAILED)
    assert host.ran == []


def test_lost_sight_then_desired_twice_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host(monkeypatch, [DESIRED, DESIRED])
    outcome = flow.recover(host.ctx, PRIOR, "connection dropped during apply")
    assert (outcome.status, outcome.exit_code) == ("applied", EXIT_OK)
    assert host.ran == ["prepare.ps1", "prepare.ps1"]


def test_a_state_seen_once_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    # prior at first (the target had not deleted yet), then desired twice: the target finished.
    host = Host(monkeypatch, [PRIOR.raw, DESIRED, DESIRED])
    outcome = flow.recover(host.ctx, PRIOR, "connection dropped during apply")
    assert outcome.status == "applied"
    assert host.ran == ["prepare.ps1"] * 3


def test_missing_binding_is_restored_from_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    restored = {"outcome": "rolled_back", "before": MISSING["before"], "bindings": []}
    host = Host(monkeypatch, [MISSING] * 5 + [restored, PRIOR.raw])
    outcome = flow.recover(host.ctx, PRIOR, "remoting error during apply")
    assert (outcome.status, outcome.exit_code) == ("rolled-back", EXIT_FAILED)
    assert host.ran[-2:] == ["rollback.ps1", "prepare.ps1"]
    assert "prior state restored" in outcome.summary
    assert [e["event"] for e in host.events if e["event"] in ("restore-start", "restored")] == [
        "restore-start",
        "restored",
    ]


def test_unreachable_after_losing_sight_needs_a_person(monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host(monkeypatch, [ConnectionFailure("web01", "unreachable", "refused")])
    host.ctx.prior_file = lambda h: Path("/records/CHG1/runs/S/hosts") / h / "prior.json"
    outcome = flow.recover(host.ctx, PRIOR, "connection dropped during apply")
    assert (outcome.status, outcome.exit_code) == ("manual", EXIT_MANUAL)
    assert "web01" in outcome.summary and "rollback.ps1 -Prior" in outcome.summary
    assert "/records/CHG1/runs/S/hosts/web01/prior.json" in outcome.summary
    assert outcome.details["prior"] == PRIOR.raw


def test_failed_restore_needs_a_person(monkeypatch: pytest.MonkeyPatch) -> None:
    failed = {
        "outcome": "rollback_failed",
        "error": "netsh add failed with error 1312",
        "before": [],
        "bindings": [],
    }
    host = Host(monkeypatch, [*[MISSING] * 5, failed, MISSING])
    outcome = flow.recover(host.ctx, PRIOR, "pwsh died")
    assert outcome.exit_code == EXIT_MANUAL
    assert "restore did not bring back the prior state" in outcome.summary


def test_rollback_failed_on_the_target_is_looked_at_not_guessed(monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host(monkeypatch, [PRIOR.raw, PRIOR.raw])
    outcome = flow.interpret_apply(host.ctx, PRIOR, apply_result("rollback_failed", "rollback add failed"))
    assert (outcome.status, outcome.exit_code) == ("rolled-back", EXIT_FAILED)
    assert "re-captured: prior state in place" in outcome.summary


def test_rollback_refuses_a_host_changed_since_the_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    someone_else = state("1234567890123456789012345678901234567890", "changes_pending")
    host = Host(monkeypatch, [someone_else])
    applied = Capture({"before": DESIRED["before"]})
    outcome = flow.rollback_host(host.ctx, PRIOR, applied)
    assert (outcome.status, outcome.exit_code) == ("refused", EXIT_FAILED)
    assert host.ran == ["prepare.ps1"]


def test_rollback_restores_a_host_the_apply_left_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    restored = {"outcome": "rolled_back", "before": DESIRED["before"], "bindings": []}
    host = Host(monkeypatch, [DESIRED, restored, PRIOR.raw])
    outcome = flow.rollback_host(host.ctx, PRIOR, Capture({"before": DESIRED["before"]}))
    assert (outcome.status, outcome.exit_code) == ("restored", EXIT_OK)
    assert host.ran == ["prepare.ps1", "rollback.ps1", "prepare.ps1"]
