"""`sslbind record resolve RECORD`: close what an interrupted command left open in a record.

A client killed during apply or rollback (SIGKILL, power loss, a full disk) leaves a run folder
unsealed, with hosts that started and whose outcome nobody wrote; a plan write cut short leaves a
plan sidecar without its plan. Instead of deleting files by hand, resolve re-captures each host
whose outcome is unknown (read-only, prepare.ps1), writes what it finds into the run as that host's
outcome (marked `resolved`), writes the run's result and seals it; the orphan sidecar is removed.
`record check` is then green again, and `rollback` knows from the resolved outcome whether the
host was changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from generator.errors import EXIT_FAILED, EXIT_MANUAL, EXIT_OK
from generator.record import PLANS, orphan_sidecars, seal_folder
from generator.remote import flow, operations, runlog
from generator.remote.connection import Credentials
from generator.remote.display import safe
from generator.remote.events import now_iso
from generator.remote.fleet import HostOutcome, overall_exit
from generator.remote.recordio import Record, open_trusted
from generator.remote.runlog import HostLog, Run, read_object
from generator.remote.runner import ConnectionFailure
from generator.remote.scriptio import Capture, ScriptFailed


def judge(ctx: flow.HostContext, kind: str, prior: Capture | None, restored_by: str | None) -> HostOutcome:
    """A host of an unfinished run, by what it holds now: the outcome the run would have written.

    `restored_by`: a later rollback run that restored this host from this (apply) run, which
    proves the change went through even though the host is back at its prior now.
    """
    try:
        now = flow.capture(ctx, state_only=True)
    except (ConnectionFailure, ScriptFailed) as error:
        return HostOutcome(ctx.host, "unknown", EXIT_FAILED, f"cannot re-capture ({error}); still unknown")
    details: dict[str, Any] = {"after": now.raw, "resolved": now_iso()}
    at_prior = prior is not None and now.same_bindings(prior)
    if kind == "apply" and restored_by is not None:
        summary = f"resolved: the change went through; rollback run {restored_by} restored the prior since"
        return HostOutcome(ctx.host, "applied", EXIT_OK, summary, {**details, "restored_by": restored_by})
    if kind == "apply" and now.at_desired:
        return HostOutcome(
            ctx.host, "applied", EXIT_OK, "resolved: re-captured, desired state in place", details
        )
    if kind == "rollback" and at_prior:
        return HostOutcome(
            ctx.host, "restored", EXIT_OK, "resolved: re-captured, prior state in place", details
        )
    if at_prior:
        return HostOutcome(
            ctx.host, "rolled-back", EXIT_FAILED, "resolved: re-captured, prior state in place", details
        )
    what = "neither the desired nor the prior state" if kind == "apply" else "not the prior state"
    return HostOutcome(
        ctx.host,
        "manual",
        EXIT_MANUAL,
        f"resolved: re-captured, {what}: inspect the host; `sslbind rollback` restores the prior",
        details,
    )


def _restored_by(record: Path, run: Run, host: str) -> str | None:
    """A later rollback run that restored `host` from `run`."""
    for later in runlog.runs(record, ("rollback",)):
        if later.name <= run.name:
            return None
        sources = later.header.get("sources")
        if (
            isinstance(sources, dict)
            and sources.get(host) == run.name
            and later.state(host).state == "restored"
        ):
            return later.name
    return None


def _prior(run: Run, host: str) -> Capture | None:
    raw = read_object(runlog.host_file(run.folder, host, runlog.PRIOR_FILE))
    return Capture(raw) if raw is not None and Capture(raw).before else None


def _resolve_run(
    run: Run,
    record: Record,
    options: operations.RunOptions,
    credentials: Credentials,
    console: Console,
    progress: Console,
) -> dict[str, Any]:
    """Re-capture the run's unknown hosts, write their outcomes, its result, and seal it."""
    unknown = run.unknown_hosts()
    outcomes: list[HostOutcome] = []
    if unknown:
        work = operations._Run(record, options, credentials, console, unknown)
        result = work.run(
            f"resolve {run.name}",
            lambda ctx: judge(ctx, run.kind, _prior(run, ctx.host), _restored_by(record.path, run, ctx.host)),
            progress,
            EXIT_FAILED,
        )
        outcomes = result.outcomes
    still_unknown = [o.host for o in outcomes if o.status == "unknown"]
    for outcome in outcomes:
        if outcome.status != "unknown":
            HostLog(run.folder, outcome.host).outcome(outcome.to_json())
    entry: dict[str, Any] = {
        "run": run.name,
        "kind": run.kind,
        "hosts": [o.to_json() for o in outcomes],
        "sealed": run.sealed,
    }
    if still_unknown or run.sealed:
        return entry
    if not (run.folder / runlog.RESULT_FILE).exists():
        states = {h: run.state(h) for h in run.hosts}
        document = {
            **run.header,
            "resolved_at": now_iso(),
            "interrupted": True,
            "hosts": [s.result or {"host": h, "status": s.state} for h, s in states.items()],
        }
        runlog.write_json(run.folder / runlog.RESULT_FILE, document)
    seal_folder(run.folder)
    entry["sealed"] = True
    return entry


def resolve(
    record_path: Path,
    options: operations.RunOptions,
    credentials: Credentials,
    console: Console,
    progress: Console,
) -> operations.Report:
    """Resolve every unfinished run of a record and clear a plan write cut short."""
    with operations._exclusive(record_path):
        record = open_trusted(record_path, options.require_signers)
        cleared = []
        for sidecar in orphan_sidecars(record_path):
            if all(sidecar.name > p.name for p in (record_path / PLANS).glob("*.json")):
                sidecar.unlink()
                cleared.append(f"{PLANS}/{sidecar.name}")
                console.print(f"removed {PLANS}/{sidecar.name} (a plan write cut short)", highlight=False)
        entries = [
            _resolve_run(run, record, options, credentials, console, progress)
            for run in reversed(runlog.unfinished_runs(record_path))
        ]
    outcomes = [HostOutcome(**_outcome_fields(h)) for e in entries for h in e["hosts"]]
    for entry in entries:
        for host in entry["hosts"]:
            console.print(
                safe(f"{entry['kind']} run {entry['run']}: {host['host']}: {host['summary']}"),
                highlight=False,
            )
        state = "sealed" if entry["sealed"] else "left open: some hosts could not be re-captured"
        console.print(f"{entry['kind']} run {entry['run']}: {state}", highlight=False)
    if not entries and not cleared:
        console.print(f"{record_path}: nothing to resolve", highlight=False)
    open_runs = [e["run"] for e in entries if not e["sealed"]]
    exit_code = EXIT_FAILED if open_runs else overall_exit([o for o in outcomes if o.status == "manual"])
    document = {
        "kind": "resolve",
        "record": str(record_path),
        "runs": entries,
        "cleared": cleared,
        "exit_code": exit_code,
    }
    return operations.Report(document, exit_code)


def _outcome_fields(host: dict[str, Any]) -> dict[str, Any]:
    return {k: host[k] for k in ("host", "status", "exit_code", "summary")}
