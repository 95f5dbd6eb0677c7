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
import math
import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from generator.errors import UserError, read_head
from generator.remote.events import Event
from generator.remote.runlog import (
    EVENTS_FILE,
    RESULT_FILE,
    RUN_FILE,
    STARTED_FILE,
    host_file,
    load_object,
    runs,
)
from generator.remote.runlog import Run as RunFolder
from generator.report.model import BindingWindow, HostRun, Run, Step
from generator.safetext import shown

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


# The page shows at most this much of one run's event log; a longer log is cut, with a note, so
# the page stays bounded whatever a run folder holds.
EVENTS_MAX_BYTES = 16 * 1024 * 1024
EVENTS_MAX_LINES = 50_000
STEP_TEXT_MAX = 500  # characters of one step's result or detail on the page


class Malformed(Exception):
    """A value in a run file that sslbind never writes; read_run names the file (exit 2)."""


def _number(value: object) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _moment(stamp: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def elapsed_ms(start: str, end: str) -> float | None:
    first, last = _moment(start), _moment(end)
    if first is None or last is None:
        return None
    return (last - first).total_seconds() * 1000


def _check_event(event: Event, line: int) -> None:
    """The values the timeline computes with: a UTC timestamp with its zone, a finite duration."""
    ts = event.get("ts")
    if ts is not None and (not isinstance(ts, str) or _moment(ts) is None):
        raise Malformed(f"line {line}: ts {shown(ts, 60)!r} is not an ISO 8601 time with a zone")
    duration = event.get("duration_s")
    if duration is not None and _number(duration) is None:
        raise Malformed(f"line {line}: duration_s {shown(duration, 60)} is not a finite number of seconds")


def read_events(folder: Path) -> tuple[list[Event], str]:
    """events.jsonl's events, and a problem line when it is missing, cut for the page, or has lines
    that are not events. A FIFO or device is refused unopened, and text that is not UTF-8 or
    values sslbind never writes are a Malformed/UserError (exit 2)."""
    path = folder / EVENTS_FILE
    if not os.path.lexists(path):
        return [], f"{EVENTS_FILE}: missing"
    data, size = read_head(path, EVENTS_MAX_BYTES, "an event log")
    if size is not None:
        data = data[: data.rfind(b"\n") + 1]  # whole lines only
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise Malformed(f"is not UTF-8 text (byte {error.start})") from None
    cut = ""
    if size is not None or len(lines) > EVENTS_MAX_LINES:
        lines = lines[:EVENTS_MAX_LINES]
        whole = f"{size:,} bytes" if size is not None else "more lines"
        cut = f"{EVENTS_FILE}: {whole}; only its first {len(lines):,} events are shown"
    events: list[Event] = []
    bad = 0
    for number, line in enumerate(lines, 1):
        try:
            event = json.loads(line)
        except RecursionError:
            raise Malformed(f"line {number}: nests too deeply to be an event") from None
        except ValueError:
            bad += 1
            continue
        if isinstance(event, dict) and isinstance(event.get("host"), str):
            _check_event(event, number)
            events.append(event)
        else:
            bad += 1
    problems = [cut] if cut else []
    if bad:
        problems.append(f"{EVENTS_FILE}: {bad} line(s) are not events (cut short?)")
    return events, "; ".join(problems)


def action_step(action: dict[str, Any], at: str) -> Step:
    name = str(action.get("step") or "?")
    return Step(
        phase=step_phase(name),
        name=name,
        binding=str(action.get("binding") or ""),
        at=at,
        ms=_number(action.get("ms")),
        result=shown(action.get("result") or "", STEP_TEXT_MAX),
        detail=shown(action.get("command") or "", STEP_TEXT_MAX),
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
    elif (seconds := _number(event.get("duration_s"))) is not None:
        ms = seconds * 1000
    detail = event.get("script") or event.get("state") or event.get("outcome") or event.get("status") or ""
    return Step(
        phase=event_phase(event),
        name=str(event.get("event")),
        binding=shown(event.get("binding") or ""),
        at=str(event.get("ts", "")),
        ms=ms,
        result=shown(event.get("result") or event.get("status") or "", STEP_TEXT_MAX),
        detail=shown(detail, STEP_TEXT_MAX),
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
        actions = _dicts(listed[:EVENTS_MAX_LINES] if isinstance(listed, list) else None)
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
    listed = timings.get("gaps") if isinstance(timings, dict) else None
    if listed is not None and not isinstance(listed, list):
        raise Malformed(f"result.timings.gaps is {type(listed).__name__}, not a list")
    gaps = {str(g.get("binding")).lower(): _number(g.get("gap_ms")) for g in _dicts(listed)}
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


def host_run(folder: RunFolder, host: str, mine: list[Event], listed: dict[str, Any] | None) -> HostRun:
    """One host's part of a run; `mine` are its events, in order."""
    state = folder.state(host)
    result = state.result or listed
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
        summary=shown((result or {}).get("summary") or ""),
        started_at=started,
        ended_at=ended,
        duration_s=duration / 1000 if duration is not None else None,
        steps=host_steps(mine, script),
        windows=windows(script),
    )


def _strict(folder: RunFolder, hosts: list[str]) -> dict[str, Any]:
    """Every JSON file of the run read as `record check` would want it: a FIFO, a device, a file
    too large, not UTF-8 or nested too deeply is one line, exit 2 (runlog's lenient reader would
    show it as absent). Returns result.json's object ({} when absent)."""
    load_object(folder.folder / RUN_FILE)
    result = load_object(folder.folder / RESULT_FILE) or {}
    for host in hosts or [str(h.get("host")) for h in _dicts(result.get("hosts"))]:
        for name in (RESULT_FILE, STARTED_FILE):
            load_object(host_file(folder.folder, host, name))
    return result


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def read_run(folder: RunFolder) -> Run:
    result = _strict(folder, folder.hosts)
    try:
        events, problem = read_events(folder.folder)
    except Malformed as error:
        raise UserError(f"{folder.folder / EVENTS_FILE}: {error}") from None
    listed = {str(h.get("host")): h for h in _dicts(result.get("hosts"))}
    hosts = folder.hosts or list(listed)
    by_host: dict[str, list[Event]] = {}
    for event in events:
        by_host.setdefault(str(event.get("host")), []).append(event)
    host_runs = []
    for host in hosts:
        try:
            host_runs.append(host_run(folder, host, by_host.get(host, []), listed.get(host)))
        except Malformed as error:
            raise UserError(f"{host_file(folder.folder, host, RESULT_FILE)}: {error}") from None
    code = result.get("exit_code")
    return Run(
        name=f"runs/{folder.name}",
        kind=folder.kind,
        plan=str(folder.header.get("plan") or ""),
        started_at=str(folder.header.get("started_at") or ""),
        finished_at=str(result.get("finished_at") or ""),
        sealed=folder.sealed,
        exit_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        hosts=tuple(host_runs),
        log_problem=problem,
    )


def read_runs(record: Path) -> tuple[Run, ...]:
    """Every run of the record, oldest first."""
    return tuple(read_run(folder) for folder in reversed(list(runs(record))))
