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
    host = Host(monkeypatch, [ConnectionFailure("web01", "unreachable", "refused")] * 10)
    host.ctx.prior_file = lambda h: Path("/records/CHG1/runs/S/hosts") / h / "prior.json"
    outcome = flow.recover(host.ctx, PRIOR, "connection dropped during apply")
    assert (outcome.status, outcome.exit_code) == ("manual", EXIT_MANUAL)
    assert "web01" in outcome.summary and "rollback.ps1 -Prior" in outcome.summary
    assert "/records/CHG1/runs/S/hosts/web01/prior.json" in outcome.summary
    assert outcome.details["prior"] == PRIOR.raw


def test_recapture_keeps_trying_within_the_settle_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # F11: the host's WinRM service restarting answers the first re-capture with an error; the
    # settle time is not over, so the client asks again instead of calling for a person.
    down = ConnectionFailure("web01", "remoting error", "HTTP 400 from the WinRM endpoint")
    host = Host(monkeypatch, [down, down, PRIOR.raw, PRIOR.raw])
    outcome = flow.recover(host.ctx, PRIOR, "connection dropped during apply")
    assert (outcome.status, outcome.exit_code) == ("rolled-back", EXIT_FAILED)
    assert "re-captured: prior state in place" in outcome.summary
    assert [e["event"] for e in host.events].count("recapture-failed") == 2


def test_recapture_waits_out_the_orphaned_pipeline_holding_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # F5: after a drop the original apply.ps1 may still run on the host; prepare.ps1 then waits for
    # the host lock and refuses naming the holder. That is no state to judge by: ask again until
    # the orphan has ended, so the outcome reported is the one the host ends in.
    busy = {
        "outcome": "refused",
        "error": "another sslbind phase holds this host: apply (pid 42)",
        "before": [],
    }
    host = Host(monkeypatch, [busy, busy, DESIRED, DESIRED])
    outcome = flow.recover(host.ctx, PRIOR, "connection dropped during apply")
    assert (outcome.status, outcome.exit_code) == ("applied", EXIT_OK)
    assert host.ran == ["prepare.ps1"] * 4


def test_recapture_gives_up_only_when_the_settle_time_is_over(monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host(monkeypatch, [ConnectionFailure("web01", "unreachable", "refused")] * 10)
    outcome = flow.recover(host.ctx, PRIOR, "connection dropped during apply")
    assert outcome.exit_code == EXIT_MANUAL
    assert host.clock >= 60  # waited the settle time, then kept trying for another settle time
    assert 1 < len(host.ran) < 10


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


def mixed() -> dict[str, Any]:
    """What a rollback stopped half-way leaves: the main binding gone, the SNI one back on the prior."""
    sni_old = {
        "kind": "hostnameport",
        "key": "api.contoso.com:443",
        "exists": True,
        "settings": {"certhash": OLD},
    }
    missing = {"kind": "ipport", "key": "0.0.0.0:443", "exists": False, "settings": None}
    return {"outcome": "refused", "before": [missing, sni_old], "bindings": []}


def two_bindings(certhash: str) -> Capture:
    main = state(certhash, "changes_pending")["before"][0]
    sni = {
        "kind": "hostnameport",
        "key": "api.contoso.com:443",
        "exists": True,
        "settings": {"certhash": certhash},
    }
    return Capture({"outcome": "changes_pending", "before": [main, sni], "bindings": []})


def test_a_second_rollback_resumes_one_that_stopped_half_way(monkeypatch: pytest.MonkeyPatch) -> None:
    # F6: a pwsh crash mid-rollback left 0.0.0.0:443 missing; refusing "changed since the apply"
    # would leave the host without its binding for good.
    prior, applied = two_bindings(OLD), two_bindings(NEW)
    restored = {"outcome": "rolled_back", "before": mixed()["before"], "bindings": []}
    host = Host(monkeypatch, [mixed(), restored, prior.raw])
    outcome = flow.rollback_host(host.ctx, prior, applied, resume=True)
    assert (outcome.status, outcome.exit_code) == ("restored", EXIT_OK)
    assert host.ran == ["prepare.ps1", "rollback.ps1", "prepare.ps1"]


def test_without_a_stopped_rollback_a_mixed_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host(monkeypatch, [mixed()])
    outcome = flow.rollback_host(host.ctx, two_bindings(OLD), two_bindings(NEW), resume=False)
    assert (outcome.status, outcome.exit_code) == ("refused", EXIT_FAILED)


def test_resume_still_refuses_a_binding_someone_else_set(monkeypatch: pytest.MonkeyPatch) -> None:
    foreign = mixed()
    foreign["before"][1]["settings"] = {"certhash": "1" * 40}
    host = Host(monkeypatch, [foreign])
    outcome = flow.rollback_host(host.ctx, two_bindings(OLD), two_bindings(NEW), resume=True)
    assert (outcome.status, outcome.exit_code) == ("refused", EXIT_FAILED)


def test_a_rollback_that_lost_its_connection_is_judged_by_what_the_host_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # F6: rollback.ps1 finished on the host after the connection dropped; no false alarm.
    dropped = ConnectionFailure("web01", "connection dropped", "reset by peer")
    host = Host(monkeypatch, [DESIRED, dropped, PRIOR.raw, PRIOR.raw])
    outcome = flow.rollback_host(host.ctx, PRIOR, Capture({"before": DESIRED["before"]}))
    assert (outcome.status, outcome.exit_code) == ("restored", EXIT_OK)
    assert "connection-lost" in [e["event"] for e in host.events]


def test_rollback_of_an_unknown_outcome_accepts_the_desired_state(monkeypatch: pytest.MonkeyPatch) -> None:
    restored = {"outcome": "rolled_back", "before": DESIRED["before"], "bindings": []}
    host = Host(monkeypatch, [DESIRED, restored, PRIOR.raw])
    outcome = flow.rollback_host(host.ctx, PRIOR, None)
    assert (outcome.status, outcome.exit_code) == ("restored", EXIT_OK)


# --- zero-downtime changes: the path per binding, --accept-no-undo ------------------------------

GONE = f"certificate {OLD} is no longer in LocalMachine\\My"


def pathed_state(path: str, restorable: bool) -> dict[str, Any]:
    """A newer prepare.ps1 result: each binding says how apply changes it and whether it can undo it."""
    binding = {
        "binding": "ipport=0.0.0.0:443",
        "kind": "ipport",
        "key": "0.0.0.0:443",
        "change": "replace",
        "swap": "auto",
        "path": path,
        "commands": [f"netsh http update sslcert ipport=0.0.0.0:443 certhash={NEW}"],
        "restorable": restorable,
        "undo_problem": None if restorable else GONE,
        "differences": [{"setting": "certhash", "expected": NEW, "actual": OLD}],
    }
    return {**state(OLD, "changes_pending"), "bindings": [binding], "update_supported": {"ipport": True}}


def test_plan_records_each_path_and_what_cannot_be_undone(monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host(monkeypatch, [pathed_state("update", restorable=False)])
    outcome = flow.plan_host(host.ctx)
    assert (outcome.status, outcome.exit_code) == ("pending", 3)
    assert outcome.summary == (
        f"ipport=0.0.0.0:443: update (certhash {OLD} -> {NEW}); ipport=0.0.0.0:443: cannot be undone: "
        f"{GONE} (apply refuses it unless --accept-no-undo)"
    )
    document = outcome.to_json()  # what plan --json prints and the plan file keeps
    assert document["changes"][0]["path"] == "update" and document["changes"][0]["restorable"] is False
    assert document["update_supported"] == {"ipport": True}
    assert [e.get("cannot_undo") for e in host.events if e["event"] == "planned"] == [1]


def test_plan_of_an_older_record_has_no_path_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    older = {
        **state(OLD, "changes_pending"),
        "bindings": [{"binding": "ipport=0.0.0.0:443", "change": "replace"}],
    }
    outcome = flow.plan_host(Host(monkeypatch, [older]).ctx)
    assert outcome.summary == "ipport=0.0.0.0:443: replace"
    assert outcome.details["update_supported"] is None
    assert outcome.details["changes"] == [
        {
            "binding": "ipport=0.0.0.0:443",
            **dict.fromkeys(("swap", "path", "commands", "restorable", "undo_problem")),
        }
    ]


class NewerRecord(FakeRecord):
    """Scripts rendered with Swap in -Binding and apply.ps1's -AcceptNoUndo switch."""

    def script(self, host: str, name: str) -> Script:
        text = "param([hashtable[]]$Binding = @(@{\n    Swap = 'auto'\n}), [switch]$AcceptNoUndo)\n"
        return Script(self.script_path(host, name), text, "0" * 64)


class Session:
    """One fake PSRP session: records the parameters the script got, answers with `result`."""

    def __init__(self, result: ScriptResult) -> None:
        self.result = result
        self.parameters: dict[str, Any] = {}

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def run(self, text: str, parameters: dict[str, Any], timeout: float) -> ScriptResult:
        self.parameters = parameters
        return self.result


def applied_with(path: str, gap_ms: float | None) -> ScriptResult:
    binding = {**pathed_state(path, restorable=True)["bindings"][0]}
    gaps = [{"binding": "ipport=0.0.0.0:443", "gap_ms": gap_ms}] if gap_ms is not None else []
    obj = {
        "outcome": "applied",
        "error": None,
        "before": PRIOR.before,
        "bindings": [binding],
        "timings": {"gaps": gaps},
    }
    return ScriptResult([json.dumps(obj)], [], [], "Completed", 2.0)


@pytest.mark.parametrize("accept", [True, False])
def test_apply_passes_accept_no_undo_only_when_given_and_logs_it(
    monkeypatch: pytest.MonkeyPatch, accept: bool
) -> None:
    host = Host(monkeypatch, [])
    host.ctx.record = NewerRecord()  # type: ignore[assignment]
    session = Session(applied_with("update", None))
    monkeypatch.setattr(flow.HostContext, "session", lambda self: session)
    planned = {"scripts": {"apply": "0" * 64}, "capture": PRIOR.raw}
    outcome = flow.apply_host(host.ctx, planned, accept_no_undo=accept)
    assert (outcome.status, outcome.exit_code) == ("applied", EXIT_OK)
    assert outcome.summary == f"ipport=0.0.0.0:443: updated in place: certhash {OLD} -> {NEW}"
    assert ("AcceptNoUndo" in session.parameters) is accept
    if accept:
        assert session.parameters["AcceptNoUndo"] is True
    start = next(e for e in host.events if e["event"] == "apply-start")
    assert start["accept_no_undo"] is accept and outcome.details["accept_no_undo"] is accept
    result = next(e for e in host.events if e["event"] == "apply-result")
    assert result["paths"] == {"ipport=0.0.0.0:443": "update"} and result["gap_ms"] is None


def test_apply_summary_names_the_window_of_a_replaced_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host(monkeypatch, [])
    outcome = flow.interpret_apply(host.ctx, PRIOR, applied_with("replace", 41.7))
    assert outcome.summary == f"ipport=0.0.0.0:443: replaced (window 42 ms): certhash {OLD} -> {NEW}"
    assert outcome.details["gap_ms"] == 41.7


def test_a_refusal_for_no_undo_says_which_option_accepts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = {
        **pathed_state("update", restorable=False),
        "outcome": "refused",
        "error": f"ipport=0.0.0.0:443 cannot be restored ({GONE}); pass -AcceptNoUndo to change it anyway",
    }
    result = ScriptResult([json.dumps(refused)], ["refused"], [], "Failed", 1.0)
    outcome = flow.interpret_apply(Host(monkeypatch, []).ctx, PRIOR, result)
    assert (outcome.status, outcome.exit_code) == ("refused", EXIT_FAILED)
    assert outcome.summary.endswith(
        "nothing was changed (--accept-no-undo lets apply change what it cannot undo)"
    )
    given = flow.interpret_apply(Host(monkeypatch, []).ctx, PRIOR, result, accept_no_undo=True)
    assert "--accept-no-undo" not in given.summary
    # a script that names the option itself is not repeated
    named = {**refused, "error": "cannot be undone; accept it explicitly (sslbind apply --accept-no-undo)"}
    again = ScriptResult([json.dumps(named)], ["refused"], [], "Failed", 1.0)
    assert (
        flow.interpret_apply(Host(monkeypatch, []).ctx, PRIOR, again).summary.count("--accept-no-undo") == 1
    )


def test_a_restore_the_host_reports_failed_is_not_called_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    # rollback.ps1 put the prior back in the registry but its TLS check saw another certificate:
    # the client must not say "prior state restored and confirmed".
    failed = {
        "outcome": "rollback_failed",
        "error": "ipport=0.0.0.0:443: TLS: 127.0.0.1:443 still serves " + NEW,
        "before": DESIRED["before"],
        "bindings": [],
    }
    host = Host(monkeypatch, [DESIRED, failed, PRIOR.raw])
    outcome = flow.rollback_host(host.ctx, PRIOR, Capture({"before": DESIRED["before"]}))
    assert (outcome.status, outcome.exit_code) == ("manual", EXIT_MANUAL)
    assert "the prior bindings are back in the registry" in outcome.summary
    assert "still serves" in outcome.summary


def test_the_run_s_lock_wait_reaches_every_script_that_knows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host(monkeypatch, [])
    knows = Script("hosts/web01/apply.ps1", "param([int]$LockWait = 60)", "0" * 64)
    older = Script("hosts/web01/apply.ps1", "param([switch]$AcceptNoUndo)", "0" * 64)
    assert host.ctx.parameters(knows, {"TargetHost": "web01"}) == {"TargetHost": "web01"}
    host.ctx.lock_wait = 0
    assert host.ctx.parameters(knows, {"TargetHost": "web01"}) == {"TargetHost": "web01", "LockWait": 0}
    assert host.ctx.parameters(older, {"TargetHost": "web01"}) == {"TargetHost": "web01"}
