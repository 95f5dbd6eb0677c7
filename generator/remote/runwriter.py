"""Writing one apply or rollback run as it happens (the write-ahead record of `runlog`).

Per host: prior.json and the started marker before its change starts, its result.json the moment
its outcome is known. At the end: the run's result.json and the seal. A local write failure is
never allowed to turn a changed host into "failed, hosts as before": before the host starts it
means the host is not touched (exit 1); after, the host's outcome is kept and raised to exit 4,
naming the host, because the record no longer holds the truth about it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from generator.errors import EXIT_FAILED, EXIT_MANUAL
from generator.record import RUNS, seal_folder, utc_stamp
from generator.remote import flow, runlog
from generator.remote.events import Event, Events, JsonlSink, now_iso
from generator.remote.fleet import HostOutcome, overall_exit
from generator.remote.runlog import HostLog, write_json
from generator.remote.scriptio import Capture

# Events after which the host may have been changed by this run's script.
TOUCHING_EVENTS = frozenset({"apply-start", "restore-start"})
# Outcomes of a host that was changed: a lost record of them needs a person.
CHANGED = frozenset({"applied", "restored", "manual"})

HostWork = Callable[[flow.HostContext], HostOutcome]


def _reason(error: OSError) -> str:
    return f"{error.filename or ''}: {error.strerror or error}".lstrip(": ")


def unrecorded(outcome: HostOutcome, why: str) -> HostOutcome:
    """The host's outcome when the record could not keep it."""
    text = f"the run record could not be written ({why}), so it does not hold this outcome"
    if "unrecorded" in outcome.details:  # already said, once is enough
        return outcome
    if outcome.status in CHANGED or outcome.exit_code == EXIT_MANUAL:
        return HostOutcome(
            outcome.host,
            "manual",
            EXIT_MANUAL,
            f"{outcome.summary}; but {text}: the host WAS changed; keep this output and check the host "
            "(sslbind verify) before anything else",
            {
                **outcome.details,
                "unrecorded": why,
                # A second failure (the seal after the host's result) keeps the first status.
                "status_before_record_failure": outcome.details.get(
                    "status_before_record_failure", outcome.status
                ),
            },
        )
    return HostOutcome(
        outcome.host,
        outcome.status,
        outcome.exit_code,
        f"{outcome.summary} ({text})",
        {**outcome.details, "unrecorded": why},
    )


class RunWriter:
    """runs/<stamp>/ of one apply or rollback, written ahead and sealed at the end."""

    def __init__(self, record: Path, events: Events, kind: str, header: Mapping[str, Any]) -> None:
        self.folder = record / RUNS / utc_stamp()
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self.folder.mkdir()
        write_json(self.folder / runlog.RUN_FILE, {"kind": kind, **header})
        self.sink = JsonlSink(self.folder / runlog.EVENTS_FILE)
        events.add_listener(self.sink)
        events.add_listener(self._watch)
        self._lock = threading.Lock()
        self._touched: set[str] = set()
        self.problems: list[str] = []

    def _watch(self, event: Event) -> None:
        if event.get("event") in TOUCHING_EVENTS:
            with self._lock:
                self._touched.add(str(event.get("host")))

    def touched(self, host: str) -> bool:
        with self._lock:
            return host in self._touched

    def prior_file(self, host: str) -> Path:
        return runlog.host_file(self.folder, host, runlog.PRIOR_FILE)

    def guard(self, work: HostWork, prior_of: Callable[[str], dict[str, Any]]) -> HostWork:
        """`work` with the host's prior and marker written before it and its outcome right after."""

        def guarded(ctx: flow.HostContext) -> HostOutcome:
            log = HostLog(self.folder, ctx.host)
            try:
                digest = log.before_start(prior_of(ctx.host), now_iso())
            except OSError as error:
                why = _reason(error)
                self.problems.append(f"{ctx.host}: {why}")
                return HostOutcome(
                    ctx.host,
                    "failed",
                    EXIT_FAILED,
                    f"cannot write the run record ({why}); nothing was changed",
                )
            ctx.emit("prior-recorded", sha256=digest, file=log.path(runlog.PRIOR_FILE).name)
            outcome = self._run(work, ctx)
            try:
                log.outcome(outcome.to_json())
            except OSError as error:
                self.problems.append(f"{ctx.host}: {_reason(error)}")
                return unrecorded(outcome, _reason(error))
            return outcome

        return guarded

    def _run(self, work: HostWork, ctx: flow.HostContext) -> HostOutcome:
        try:
            return work(ctx)
        except Exception as error:  # a client bug must not report an untouched host as needing a person
            text = f"internal error: {type(error).__name__}: {error}"
            if self.touched(ctx.host):
                return flow.manual(ctx, Capture({}), f"{text} after the change started", {})
            return HostOutcome(ctx.host, "error", EXIT_FAILED, f"{text}; nothing was changed")

    def finish(
        self, document: dict[str, Any], outcomes: Sequence[HostOutcome]
    ) -> tuple[dict[str, Any], list[HostOutcome]]:
        """Write the outcomes of hosts that never started, the run's result.json, then seal.

        On a local write failure the changed hosts' outcomes are raised to exit 4 (see `unrecorded`).
        """
        self.sink.close()
        final = list(outcomes)
        try:
            for outcome in final:
                log = HostLog(self.folder, outcome.host)
                if not log.has_outcome() and not self.touched(outcome.host):
                    log.outcome(outcome.to_json())
            if self.sink.failed:
                document["events_incomplete"] = self.sink.failed
            write_json(self.folder / runlog.RESULT_FILE, {**document, "hosts": [o.to_json() for o in final]})
            seal_folder(self.folder)
        except OSError as error:
            why = _reason(error)
            self.problems.append(why)
            final = [unrecorded(o, why) if o.status in CHANGED else o for o in final]
        if self.problems:
            document["record_problems"] = list(self.problems)
        document["hosts"] = [o.to_json() for o in final]
        document["exit_code"] = overall_exit(final)
        return document, final
