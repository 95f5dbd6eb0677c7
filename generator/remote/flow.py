"""One host's plan, apply, verify and rollback: which recorded script runs, and what its result means.

Every change is one pipeline of a recorded script; the rollback on failure happens on the target,
inside apply.ps1. When the client loses sight of a change (connection dropped, pwsh died, deadline
passed) it never guesses: it reconnects, captures the host's actual state read-only and reports
it; only a host found with neither the desired nor the prior binding is restored from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import EXIT_FAILED, EXIT_MANUAL, EXIT_OK, EXIT_PENDING
from generator.remote import scriptio
from generator.remote.connection import Endpoint, Password
from generator.remote.events import Events
from generator.remote.fleet import HostOutcome
from generator.remote.recordio import Record, Script
from generator.remote.runner import ConnectionFailure, HostSession, RequestCounter, ScriptResult
from generator.remote.scriptio import Capture

SETTLE_INTERVAL = 2.0


@dataclass
class HostContext:
    """What one host's work needs; built per host by operations, used on that host's thread only."""

    record: Record
    endpoint: Endpoint
    password: Password | None
    events: Events
    timeout: float
    counter: RequestCounter | None = None
    settle: float = 30.0  # how long a lost change may take to finish on the target
    prior_file: Callable[[str], Path] | None = None  # where the run keeps a host's prior state
    lock_wait: int | None = None  # the scripts' -LockWait (--lock-wait); None: their own default

    def parameters(self, script: Script, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """`parameters` with the run's -LockWait, fitted to what the recorded script knows."""
        given = dict(parameters)
        if self.lock_wait is not None:
            given[scriptio.LOCK_WAIT] = self.lock_wait
        return scriptio.fit_parameters(script.text, given)

    @property
    def host(self) -> str:
        return self.endpoint.host

    def session(self) -> HostSession:
        return HostSession(self.endpoint, self.password, self.counter)

    def emit(self, event: str, **details: Any) -> None:
        self.events.emit(self.host, event, **details)


def _result_details(result: ScriptResult) -> dict[str, Any]:
    return {
        "state": result.state,
        "duration_s": round(result.duration, 3),
        "errors": result.errors,
        "messages": result.messages[-50:],
        "result": result.json_object(),
    }


def run_script(ctx: HostContext, script: Script, parameters: Mapping[str, Any]) -> ScriptResult:
    """Open, run one recorded script as one pipeline, close; ConnectionFailure propagates."""
    ctx.emit("script-start", script=script.relpath, sha256=script.sha256)
    with ctx.session() as session:
        sent = scriptio.sent_parameters(script, ctx.parameters(script, parameters))
        result = session.run(scriptio.pipeline(script), sent, ctx.timeout)
    ctx.emit("script-end", script=script.relpath, state=result.state, duration_s=round(result.duration, 3))
    return result


def capture(ctx: HostContext, *, state_only: bool = False) -> Capture:
    """Read-only: run prepare.ps1 and return the captured state, or raise ScriptFailed."""
    script = ctx.record.script(ctx.host, scriptio.PREPARE)
    target = ctx.record.target(ctx.host)
    result = run_script(ctx, script, scriptio.prepare_parameters(target))
    return scriptio.parse_prepare(result, state_only=state_only)


# --- plan ---------------------------------------------------------------------------------------


def plan_host(ctx: HostContext) -> HostOutcome:
    try:
        state = capture(ctx)
    except ConnectionFailure as failure:
        ctx.emit("connection-failed", kind=failure.kind, detail=failure.detail)
        return HostOutcome(ctx.host, "error", EXIT_FAILED, str(failure), {"failure": failure.kind})
    except scriptio.ScriptFailed as failed:
        ctx.emit("prepare-failed", detail=str(failed))
        return HostOutcome(ctx.host, "error", EXIT_FAILED, str(failed), failed.details)
    changes = state.changed_bindings()
    ctx.emit("planned", changes=len(changes), cannot_undo=len(state.unrestorable()))
    details = {
        "capture": state.raw,
        "scripts": {
            name: ctx.record.script(ctx.host, name).sha256 for name in (scriptio.PREPARE, scriptio.APPLY)
        },
        # How apply will change each binding, lifted out of the capture for readers of --json.
        "changes": state.planned_paths(),
        "update_supported": state.update_supported or None,
    }
    if state.at_desired:
        return HostOutcome(ctx.host, "no-change", EXIT_OK, "already as desired", details)
    return HostOutcome(ctx.host, "pending", EXIT_PENDING, scriptio.describe_plan(state), details)


# --- apply --------------------------------------------------------------------------------------


def apply_host(ctx: HostContext, planned: Mapping[str, Any], accept_no_undo: bool = False) -> HostOutcome:
    """Run apply.ps1 once with the planned prior state; interpret or, if unclear, re-capture.

    `accept_no_undo` (--accept-no-undo) lets apply.ps1 change bindings it has proven it cannot
    restore; without it such a host is refused on the target with nothing touched.
    """
    script = ctx.record.script(ctx.host, scriptio.APPLY)
    if planned.get("scripts", {}).get(scriptio.APPLY) != script.sha256:
        return HostOutcome(
            ctx.host, "refused", EXIT_FAILED, "apply.ps1 differs from the planned one; plan again"
        )
    prior = scriptio.Capture.from_raw(planned["capture"])
    target = ctx.record.target(ctx.host)
    parameters = scriptio.apply_parameters(target, prior, accept_no_undo=accept_no_undo)
    parameters = ctx.parameters(script, parameters)
    session = ctx.session()
    try:
        session.open()
    except ConnectionFailure as failure:
        ctx.emit("connection-failed", kind=failure.kind, detail=failure.detail)
        return HostOutcome(
            ctx.host, "failed", EXIT_FAILED, f"{failure}; nothing was changed", {"prior": prior.raw}
        )
    try:
        ctx.emit("apply-start", script=script.relpath, sha256=script.sha256, accept_no_undo=accept_no_undo)
        result = session.run(
            scriptio.pipeline(script), scriptio.sent_parameters(script, parameters), ctx.timeout
        )
    except ConnectionFailure as failure:
        ctx.emit("connection-lost", kind=failure.kind, detail=failure.detail)
        return recover(ctx, prior, f"{failure.kind} during apply")
    finally:
        session.close()
    ctx.emit("apply-end", state=result.state, duration_s=round(result.duration, 3))
    return interpret_apply(ctx, prior, result, accept_no_undo)


def interpret_apply(
    ctx: HostContext, prior: Capture, result: ScriptResult, accept_no_undo: bool = False
) -> HostOutcome:
    verdict = scriptio.parse_change(scriptio.APPLY, result)
    captured = verdict.before or prior
    details = {
        "prior": captured.raw,
        **_result_details(result),
        "gap_ms": verdict.gap_ms,
        "accept_no_undo": accept_no_undo,
    }
    _emit_target_actions(ctx, verdict.result)
    ctx.emit("apply-result", outcome=verdict.outcome, gap_ms=verdict.gap_ms, paths=_paths(verdict.result))
    if verdict.outcome == scriptio.APPLIED and result.succeeded:
        return HostOutcome(ctx.host, "applied", EXIT_OK, verdict.summary, details)
    if verdict.outcome == scriptio.UNCHANGED and result.succeeded:
        return HostOutcome(ctx.host, "no-change", EXIT_OK, "already as desired", details)
    if verdict.outcome == scriptio.REFUSED:
        summary = f"{verdict.summary}; nothing was changed"
        unrestorable = verdict.result is not None and Capture(verdict.result).unrestorable()
        if unrestorable and not accept_no_undo and scriptio.ACCEPT_NO_UNDO not in summary:
            summary += f" ({scriptio.ACCEPT_NO_UNDO} lets apply change what it cannot undo)"
        return HostOutcome(ctx.host, "refused", EXIT_FAILED, summary, details)
    if verdict.outcome == scriptio.ROLLED_BACK:
        return HostOutcome(
            ctx.host, "rolled-back", EXIT_FAILED, f"{verdict.summary}; prior state restored", details
        )
    # rollback_failed, no result at all, or an outcome this client does not know: look, don't guess.
    return recover(ctx, captured, verdict.summary, details)


def _paths(result: Mapping[str, Any] | None) -> dict[str, Any]:
    """Per binding the path apply.ps1 took (update, replace, ...), for the event log."""
    return {
        str(b.get("binding")): b.get("path")
        for b in (result or {}).get("bindings") or []
        if isinstance(b, dict) and "path" in b
    }


def _emit_target_actions(ctx: HostContext, result: Mapping[str, Any] | None) -> None:
    """What the script did on the target, step by step, into the run's event log."""
    for action in (result or {}).get("actions") or []:
        if isinstance(action, dict):
            keys = ("step", "binding", "command", "result", "code", "ms")
            ctx.emit("target-action", **{k: action.get(k) for k in keys})


def recover(ctx: HostContext, prior: Capture, why: str, details: dict[str, Any] | None = None) -> HostOutcome:
    """After losing sight of a change: capture the actual state, restore only a broken host."""
    details = {"prior": prior.raw, **(details or {}), "lost_sight": why}
    ctx.emit("recover-start", reason=why)
    try:
        now = settle(ctx, prior)
    except (ConnectionFailure, scriptio.ScriptFailed) as error:
        return manual(ctx, prior, f"{why}; state unknown, cannot re-capture ({error})", details)
    details["after"] = now.raw
    if now.at_desired:
        ctx.emit("recovered", state="desired")
        return HostOutcome(
            ctx.host, "applied", EXIT_OK, f"{why}; re-captured: desired state in place", details
        )
    if now.same_bindings(prior):
        ctx.emit("recovered", state="prior")
        return HostOutcome(
            ctx.host, "rolled-back", EXIT_FAILED, f"{why}; re-captured: prior state in place", details
        )
    return restore(ctx, prior, f"{why}; re-captured: neither desired nor prior", details)


def settle(ctx: HostContext, prior: Capture) -> Capture:
    """The host's state once its own apply.ps1 has had `ctx.settle` seconds to finish or roll back.

    After a lost connection the pipeline may still be running on the target, so a state seen too
    early (prior before its delete, desired before its verify, missing between delete and add)
    proves nothing. Wait, then capture until two captures agree on desired or prior, or another
    `settle` seconds pass. A capture that fails (the host restarting its WinRM service, a second
    drop) is tried again while that time lasts: one bad moment is not an unknown state.
    """
    ctx.emit("settling", seconds=ctx.settle)
    time.sleep(ctx.settle)
    deadline = time.monotonic() + ctx.settle
    last: Capture | None = None
    while True:
        try:
            now = capture(ctx, state_only=True)
        except (ConnectionFailure, scriptio.ScriptFailed) as error:
            ctx.emit("recapture-failed", detail=str(error))
            if time.monotonic() >= deadline:
                raise
            last = None
            time.sleep(SETTLE_INTERVAL)
            continue
        known = now.at_desired or now.same_bindings(prior)
        if (known and last is not None and now.same_bindings(last)) or time.monotonic() >= deadline:
            return now
        last = now
        time.sleep(SETTLE_INTERVAL)


def restore(ctx: HostContext, prior: Capture, why: str, details: dict[str, Any]) -> HostOutcome:
    """Re-add the prior binding with rollback.ps1, then confirm by capturing again.

    Losing sight of rollback.ps1 is handled like losing sight of apply.ps1: let it finish on the
    host, re-capture until two captures agree, and judge by what is there.
    """
    ctx.emit("restore-start", reason=why)
    reported: scriptio.Verdict | None = None
    try:
        script = ctx.record.script(ctx.host, scriptio.ROLLBACK)
        parameters = scriptio.rollback_parameters(ctx.record.target(ctx.host), prior)
        try:
            result = run_script(ctx, script, parameters)
        except ConnectionFailure as failure:
            ctx.emit("connection-lost", kind=failure.kind, detail=failure.detail)
            details["restore"] = {"lost_sight": f"{failure.kind} during rollback.ps1"}
            now = settle(ctx, prior)
        else:
            details["restore"] = _result_details(result)
            reported = scriptio.parse_change(scriptio.ROLLBACK, result)
            ctx.emit("restore-result", outcome=reported.outcome)
            now = capture(ctx, state_only=True)
    except (ConnectionFailure, scriptio.ScriptFailed) as error:
        return manual(ctx, prior, f"{why}; restoring failed: {error}", details)
    details["after"] = now.raw
    if now.same_bindings(prior) and reported is not None and reported.outcome == "rollback_failed":
        # The registry is back, but rollback.ps1 saw a failure the registry does not show (clients
        # still get another certificate in the TLS handshake, a trial binding left behind).
        return manual(
            ctx, prior, f"{why}; the prior bindings are back in the registry, but {reported.summary}", details
        )
    if now.same_bindings(prior):
        ctx.emit("restored")
        return HostOutcome(ctx.host, "rolled-back", EXIT_FAILED, f"{why}; prior state restored", details)
    return manual(ctx, prior, f"{why}; restore did not bring back the prior state", details)


def manual(ctx: HostContext, prior: Capture, why: str, details: dict[str, Any]) -> HostOutcome:
    """Exit 4: say exactly which host needs a person and what to run."""
    prior_file = ctx.prior_file(ctx.host) if ctx.prior_file is not None else None
    script = ctx.record.script_path(ctx.host, scriptio.ROLLBACK)
    instruction = scriptio.manual_instruction(ctx.record.path, script, ctx.host, prior_file)
    ctx.emit("manual-action-needed", reason=why, instruction=instruction)
    details = {"prior": prior.raw, **details, "instruction": instruction}
    return HostOutcome(ctx.host, "manual", EXIT_MANUAL, f"{why}. {instruction}", details)


# --- verify and rollback ------------------------------------------------------------------------


def verify_host(ctx: HostContext) -> HostOutcome:
    script = ctx.record.script(ctx.host, scriptio.VERIFY)
    try:
        result = run_script(ctx, script, scriptio.verify_parameters(ctx.record.target(ctx.host)))
    except ConnectionFailure as failure:
        return HostOutcome(ctx.host, "error", EXIT_FAILED, str(failure), {"failure": failure.kind})
    outcome, obj, summary = scriptio.parse_verify(result)
    ctx.emit("verified", outcome=outcome)
    details = {"result": obj}
    if outcome == scriptio.COMPLIANT:
        return HostOutcome(ctx.host, "compliant", EXIT_OK, summary, details)
    if outcome == scriptio.DRIFT:
        return HostOutcome(ctx.host, "drift", EXIT_PENDING, summary, details)
    return HostOutcome(ctx.host, "error", EXIT_FAILED, summary, {**details, **_result_details(result)})


def rollback_host(
    ctx: HostContext, prior: Capture, applied: Capture | None = None, resume: bool = False
) -> HostOutcome:
    """Restore the prior state the source apply captured, confirmed by a fresh capture.

    `applied` is the state that apply left (None when its outcome is unknown: then the desired
    state stands in for it). A host found neither at the prior state nor where the apply left it
    was changed by someone since; it is refused rather than overwritten, except when `resume`
    (an earlier rollback from the same run stopped half-way) and every binding is one a change or
    its rollback leaves: prior, applied, desired or absent.
    """
    try:
        now = capture(ctx, state_only=True)
    except (ConnectionFailure, scriptio.ScriptFailed) as error:
        return HostOutcome(
            ctx.host, "failed", EXIT_FAILED, f"{error}; nothing was changed", {"prior": prior.raw}
        )
    if now.same_bindings(prior):
        return HostOutcome(ctx.host, "no-change", EXIT_OK, "already at the prior state", {"after": now.raw})
    details: dict[str, Any] = {"before": now.raw, "prior": prior.raw, "resumed": resume}
    if not _may_restore(now, prior, applied, resume):
        return HostOutcome(
            ctx.host,
            "refused",
            EXIT_FAILED,
            "the bindings changed since the apply (neither its result nor the prior state); nothing was "
            "changed: inspect the host and plan a new change",
            details,
        )
    why = "rollback resumed" if resume else "rollback requested"
    outcome = restore(ctx, prior, why, details)
    if outcome.status == "rolled-back":
        return HostOutcome(
            ctx.host, "restored", EXIT_OK, "prior state restored and confirmed", outcome.details
        )
    return outcome


def _may_restore(now: Capture, prior: Capture, applied: Capture | None, resume: bool) -> bool:
    if applied is not None and now.same_bindings(applied):
        return True
    if applied is None and now.at_desired:
        return True
    if resume or applied is None:
        return now.each_binding_one_of(*(c for c in (prior, applied) if c is not None))
    return False
