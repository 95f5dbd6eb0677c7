"""Each run of a record as a timeline per host, read from the run folder the client wrote.

Sources, through `generator.remote.runlog` (so the write-ahead layout has one reader): run.json (kind,
plan, hosts), result.json (finished_at, exit code; absent when the client was killed), each host's
result.json or started marker (its outcome, or "started, outcome unknown"), and events.jsonl, the
audit trail with a UTC timestamp per event. apply.ps1 reports its own steps (trial, delete, add,
update, verify, rollback-*) with their durations; the client logs them as `target-action` events.
A rollback run's steps exist only in the host's result (`restore.result.actions`), so they are read
from there.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from generator.remote.events import Event
from generator.remote.runlog import EVENTS_FILE, RESULT_FILE, read_object, runs
from generator.remote.runlog import Run as RunFolder
from generator.report.model import BindingWindow, HostRun, Run, Step

# Client events and the phase of the host's change they belong to.
_EVENT_PHASES = {
    "host-start": "capture",
    "prior-recorded": "capture",
    "planned": "capture",
    "recapture-failed": "capture",
    "restore-start": "rollback",
    "restore-result": "rollback",
    "restored": "rollback",
    "recover-start": "rollback",
    "recovered": "rollback",
    "verified": "verify",
}
# Client events that send a script to the host, and how a script's name gives its phase.
_SCRIPT_STARTS = ("apply-start", "script-start")
_SCRIPT_PHASES = {"prepare": "capture", "verify": "verify", "rollback": "rollback"}


def step_phase(step: str) -> str:
    """apply.ps1's step name -> phase: trial-*, rollback-*, verify, else the change itself."""
    if step.startswith("trial"):
        return "trial"
    if step.startswith("rollback"):
        return "rollback"
    if step == "verify":
        return "verify"
    return "change"


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _moment(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None


def elapsed_ms(start: str, end: str) -> float | None:
    first, last = _moment(start), _moment(end)
    if first is None or last is None:
        return None
    return (last - first).total_seconds() * 1000


def read_events(folder: Path) -> tuple[list[Event], str]:
    """events.jsonl's events, and a problem line when it is missing or has lines that are not events."""
    try:
        lines = (folder / EVENTS_FILE).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        return [], f"{EVENTS_FILE}: cannot be read ({error.strerror or error})"
    events: list[Event] = []
    bad = 0
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(event, dict) and isinstance(event.get("host"), str):
            events.append(event)
        else:
            bad += 1
    return events, (f"{EVENTS_FILE}: {bad} line(s) are not events (cut short?)" if bad else "")


def action_step(action: dict[str, Any], at: str) -> Step:
    name = str(action.get("step") or "?")
    return Step(
        phase=step_phase(name),
        name=name,
        binding=str(action.get("binding") or ""),
        at=at,
        ms=_number(action.get("ms")),
        result=str(action.get("result") or ""),
        detail=str(action.get("command") or ""),
    )


def script_name(event: Event) -> str:
    """`hosts/web01/prepare.ps1` -> `prepare`; "" when the event names no script."""
    script = str(event.get("script") or "")
    return script.rsplit("/", 1)[-1].removesuffix(".ps1")


def event_phase(event: Event) -> str:
    name = str(event.get("event"))
    if name in _EVENT_PHASES:
        return _EVENT_PHASES[name]
    return _SCRIPT_PHASES.get(script_name(event), "client")


def event_step(event: Event, until: str = "") -> Step:
    """A client event. `until` (for host-start) is the time the first script went out: the time
    between is the client's own capture (connecting, re-checking the host against the plan)."""
    ms = None
    if until:
        ms = elapsed_ms(str(event.get("ts", "")), until)
    elif isinstance(event.get("duration_s"), int | float):
        ms = float(event["duration_s"]) * 1000
    detail = event.get("script") or event.get("state") or event.get("outcome") or event.get("status") or ""
    return Step(
        phase=event_phase(event),
        name=str(event.get("event")),
        binding=str(event.get("binding") or ""),
        at=str(event.get("ts", "")),
        ms=ms,
        result=str(event.get("result") or event.get("status") or ""),
        detail=str(detail),
    )


def script_result(host_result: dict[str, Any] | None) -> dict[str, Any]:
    """The object the host's script returned: apply.ps1's `result` or rollback.ps1's `restore.result`."""
    if not host_result:
        return {}
    for holder in (host_result, host_result.get("restore")):
        if isinstance(holder, dict) and isinstance(holder.get("result"), dict):
            return dict(holder["result"])
    return {}


def host_steps(events: list[Event], script: dict[str, Any]) -> tuple[Step, ...]:
    """The host's client events in order, with the script's own steps placed after the event that
    sent that script. The client logs those steps once the script has ended, so they carry the
    durations the script measured but no time of their own."""
    actions = [e for e in events if e.get("event") == "target-action"]
    if not actions:  # a rollback run: the steps are only in the host's result
        listed = script.get("actions")
        actions = [a for a in listed if isinstance(a, dict)] if isinstance(listed, list) else []
    inner = [action_step(a, "") for a in actions]
    sent = [e for e in events if e.get("event") in _SCRIPT_STARTS]
    owner = next((e for e in sent if script_name(e) == script.get("phase")), sent[0] if sent else None)
    inner_owner = script_name(owner) if owner is not None and inner else ""
    steps: list[Step] = []
    for event in events:
        if event.get("event") == "target-action":
            continue
        until = str(sent[0].get("ts", "")) if sent and event.get("event") == "host-start" else ""
        step = event_step(event, until)
        if inner_owner and script_name(event) == inner_owner:  # its steps carry the phases and times
            step = replace(step, phase="client")
        steps.append(step)
        if event is owner:
            steps += inner
            inner = []
    return tuple(steps + inner)


def windows(script: dict[str, Any]) -> tuple[BindingWindow, ...]:
    """Per binding the script was to change: its path, whether a change step reached it, and, for
    delete+add, how long it was absent (timings.gaps)."""
    timings = script.get("timings")
    gaps = {
        str(g.get("binding")).lower(): _number(g.get("gap_ms"))
        for g in (timings.get("gaps") or [] if isinstance(timings, dict) else [])
        if isinstance(g, dict)
    }
    actions = script.get("actions")
    changed = {
        str(a.get("binding")).lower()
        for a in (actions if isinstance(actions, list) else [])
        if isinstance(a, dict) and step_phase(str(a.get("step"))) == "change"
    }
    found: list[BindingWindow] = []
    bindings = script.get("bindings")
    for binding in bindings if isinstance(bindings, list) else []:
        if not isinstance(binding, dict) or binding.get("path") in (None, "none"):
            continue
        name = str(binding.get("binding") or binding.get("key"))
        reached = name.lower() in changed or not isinstance(actions, list)
        found.append(BindingWindow(name, str(binding["path"]), gaps.pop(name.lower(), None), reached))
    found += [BindingWindow(name, "replace", gap) for name, gap in sorted(gaps.items())]
    return tuple(found)


def host_run(folder: RunFolder, host: str, events: list[Event], listed: dict[str, Any] | None) -> HostRun:
    state = folder.state(host)
    result = state.result or listed
    mine = [e for e in events if e.get("host") == host]
    stamps = {str(e.get("event")): str(e.get("ts", "")) for e in reversed(mine)}  # the first of each
    started = stamps.get("host-start", "")
    ended = next((str(e.get("ts", "")) for e in reversed(mine) if e.get("event") == "host-end"), "")
    duration = elapsed_ms(started, ended) if started and ended else None
    if duration is None and result is not None:
        duration = _number(result.get("duration_s"))
        duration = duration * 1000 if duration is not None else None
    script = script_result(result)
    return HostRun(
        host=host,
        status=state.state if state.result is not None or listed is None else str(listed.get("status")),
        summary=str((result or {}).get("summary") or ""),
        started_at=started,
        ended_at=ended,
        duration_s=duration / 1000 if duration is not None else None,
        steps=host_steps(mine, script),
        windows=windows(script),
    )


def read_run(folder: RunFolder) -> Run:
    events, problem = read_events(folder.folder)
    result = read_object(folder.folder / RESULT_FILE) or {}
    listed = {str(h.get("host")): h for h in result.get("hosts") or [] if isinstance(h, dict)}
    hosts = folder.hosts or list(listed)
    code = result.get("exit_code")
    return Run(
        name=f"runs/{folder.name}",
        kind=folder.kind,
        plan=str(folder.header.get("plan") or ""),
        started_at=str(folder.header.get("started_at") or ""),
        finished_at=str(result.get("finished_at") or ""),
        sealed=folder.sealed,
        exit_code=code if isinstance(code, int) else None,
        hosts=tuple(host_run(folder, h, events, listed.get(h)) for h in hosts),
        log_problem=problem,
    )


def read_runs(record: Path) -> tuple[Run, ...]:
    """Every run of the record, oldest first."""
    return tuple(read_run(folder) for folder in reversed(list(runs(record))))
