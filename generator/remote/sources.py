"""Which prior state `rollback` restores on each host, and why it can be trusted.

Per host the source is the newest apply run that may have changed it (outcome applied, a person
needed, or started with the outcome unknown), never a run that changed nothing (no-change, refused,
failed, rolled back on the target, not started): those hold either no prior or the new state as
their "prior". `--run STAMP` names the run instead.

The prior it holds (prior.json, written before the change started) is accepted only if it agrees
with the capture of the plan that run applied, with the prior apply.ps1 itself found on the host
(its result), and with the sha256 the run's event log recorded when the prior was written; a
record edited together with its run manifest is refused rather than installed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import EXIT_FAILED, EXIT_USAGE, UserError
from generator.record import PLANS, sha256_hex
from generator.remote import runlog
from generator.remote.runlog import PRIOR_FILE, Run, host_file, read_object
from generator.remote.scriptio import Capture

ROLLBACK_RESUMABLE = frozenset({"manual", runlog.UNKNOWN, "error"})


@dataclass(frozen=True)
class Source:
    """The run a host is rolled back from, its checked prior and the state it left."""

    run: Run
    prior: Capture
    applied: Capture | None  # None when the outcome is unknown
    resume: bool  # an earlier rollback from this run stopped half-way on this host


class NoSource(Exception):
    """No trustworthy prior for a host; the message says why (the host is refused, exit 1)."""


def apply_runs(record: Path) -> list[Run]:
    found = list(runlog.runs(record, ("apply",)))
    if not found:
        raise UserError(f"{record}: no apply run to roll back", EXIT_USAGE)
    return found


def named_run(record: Path, stamp: str) -> Run:
    for run in runlog.runs(record, ("apply",)):
        if run.name == stamp:
            return run
    raise UserError(f"--run {stamp}: not an apply run of {record} (see {record}/runs)", EXIT_USAGE)


def after_apply(result: dict[str, Any] | None) -> Capture | None:
    """The state the apply left on a host: apply.ps1's 'after', or the state re-captured after it."""
    result = result or {}
    script_result = result.get("result")
    if isinstance(script_result, dict) and script_result.get("after"):
        return Capture({"before": script_result["after"]})
    after = result.get("after")
    return Capture(after) if isinstance(after, dict) else None


def _planned_capture(record: Path, run: Run, host: str) -> Capture:
    name = run.header.get("plan")
    if not isinstance(name, str) or "/" in name or not name.endswith(".json"):
        raise NoSource(f"run {run.name} names no plan, so its prior cannot be cross-checked")
    plan = read_object(record / PLANS / name)
    hosts = plan.get("hosts") if plan else None
    for entry in hosts if isinstance(hosts, list) else []:
        if isinstance(entry, dict) and entry.get("host") == host and isinstance(entry.get("capture"), dict):
            return Capture(entry["capture"])
    raise NoSource(f"plan {name} of run {run.name} holds no capture of this host")


def _recorded_digests(run: Run, host: str) -> set[str]:
    """sha256 of prior.json as the event log recorded it when it was written."""
    try:
        lines = (run.folder / runlog.EVENTS_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return set()
    found = set()
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("host") == host and event.get("event") == "prior-recorded":
            found.add(str(event.get("sha256")))
    return found


def checked_prior(record: Path, run: Run, host: str) -> Capture:
    """The run's prior for `host`, refused (NoSource) unless every witness agrees with it."""
    path = host_file(run.folder, host, PRIOR_FILE)
    try:
        data = path.read_bytes()
        raw = json.loads(data)
    except (OSError, ValueError):
        raise NoSource(f"run {run.name} holds no readable prior for this host") from None
    if not isinstance(raw, dict) or not Capture(raw).before:
        raise NoSource(f"run {run.name}: {PRIOR_FILE} is not a captured state")
    prior = Capture(raw)
    if not prior.same_bindings(_planned_capture(record, run, host)):
        raise NoSource(f"run {run.name}: {PRIOR_FILE} does not agree with the plan's capture")
    started = read_object(host_file(run.folder, host, runlog.STARTED_FILE))
    # A write-ahead run recorded the prior's sha256 in its marker and its event log: both must agree.
    if started is not None:
        digest = sha256_hex(data)
        if started.get("prior_sha256") != digest or digest not in _recorded_digests(run, host):
            raise NoSource(f"run {run.name}: {PRIOR_FILE} is not the prior its event log recorded")
    result = run.state(host).result or {}
    seen = result.get("prior")
    if isinstance(seen, dict) and Capture(seen).before and not prior.same_bindings(Capture(seen)):
        raise NoSource(f"run {run.name}: {PRIOR_FILE} does not agree with what apply.ps1 found on the host")
    return prior


def _resumes(record: Path, run: Run, host: str) -> bool:
    """A later rollback from `run` stopped half-way on this host."""
    for later in runlog.runs(record, ("rollback",)):
        if later.name <= run.name:
            break
        sources = later.header.get("sources")
        source = sources.get(host) if isinstance(sources, dict) else later.header.get("source_run")
        if source == run.name and later.state(host).state in ROLLBACK_RESUMABLE:
            return True
    return False


def find(record: Path, host: str, candidates: list[Run]) -> Source:
    """The newest candidate run that may have changed `host`, its prior checked."""
    for run in candidates:
        state = run.state(host)
        if not state.may_have_changed:
            continue
        prior = checked_prior(record, run, host)
        return Source(run, prior, after_apply(state.result), _resumes(record, run, host))
    names = ", ".join(r.name for r in candidates[:3]) + (", ..." if len(candidates) > 3 else "")
    raise NoSource(
        f"no apply run of this record changed it (looked at {names}); "
        "nothing was restored: check the host with `sslbind verify`, or name a run with --run"
    )


def sources(record: Path, hosts: list[str], stamp: str | None) -> tuple[dict[str, Source], dict[str, str]]:
    """Per host its source, and per host without one why (each a refusal, exit 1)."""
    candidates = [named_run(record, stamp)] if stamp else apply_runs(record)
    found: dict[str, Source] = {}
    problems: dict[str, str] = {}
    for host in hosts:
        try:
            found[host] = find(record, host, candidates)
        except NoSource as why:
            problems[host] = str(why)
    if not found:
        shown = "; ".join(f"{h}: {why}" for h, why in problems.items())
        raise UserError(f"{record}: nothing to roll back: {shown}", EXIT_FAILED)
    return found, problems
