"""Many hosts at once: a bounded worker pool where one host's failure never touches another's.

Each host runs in its own thread with its own connection (pypsrp objects are not thread-safe).
Ctrl-C (and SIGTERM, SIGHUP) starts no new host; hosts already running finish (or roll back on the
target) and the outcome of every host, started or not, is returned so the caller can record it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from generator.errors import EXIT_FAILED, EXIT_MANUAL, EXIT_OK, EXIT_PENDING
from generator.remote.events import Events
from generator.remote.signals import StopFlag, deferred

DEFAULT_FORKS = 10
NOT_STARTED = "not-started"
INTERRUPTED = "interrupted: no new host starts; hosts already running finish or roll back"
# Which exit code wins when hosts disagree: a person must act > failed > pending > fine.
SEVERITY = (EXIT_MANUAL, EXIT_FAILED, EXIT_PENDING, EXIT_OK)


@dataclass
class HostOutcome:
    """How one host ended: a status word, the exit code it calls for and one line for people."""

    host: str
    status: str
    exit_code: int
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "status": self.status,
            "exit_code": self.exit_code,
            "summary": self.summary,
            **self.details,
        }


def overall_exit(outcomes: Sequence[HostOutcome]) -> int:
    codes = {o.exit_code for o in outcomes}
    return next((code for code in SEVERITY if code in codes), EXIT_OK)


@dataclass
class FleetResult:
    outcomes: list[HostOutcome]
    interrupted: bool

    @property
    def exit_code(self) -> int:
        return overall_exit(self.outcomes)


HostWork = Callable[[str], HostOutcome]


class Fleet:
    """Runs `work(host)` for every host on at most `forks` threads."""

    def __init__(
        self,
        events: Events,
        forks: int = DEFAULT_FORKS,
        crash_exit: int = EXIT_FAILED,
        stop: StopFlag | None = None,
    ) -> None:
        if forks < 1:
            raise ValueError("forks must be at least 1")
        self.events = events
        self.forks = forks
        self.crash_exit = crash_exit  # exit code for a host whose work raised unexpectedly
        # Shared with the caller, whose own signal deferral covers writing the record afterwards.
        self._stop = stop or StopFlag()
        self._announced = False

    def _not_started(self, host: str) -> HostOutcome:
        return HostOutcome(host, NOT_STARTED, EXIT_FAILED, "not started: the run was interrupted")

    def _guarded(self, work: HostWork, host: str) -> HostOutcome:
        if self._stop.is_set():
            return self._not_started(host)
        self.events.emit(host, "host-start")
        try:
            outcome = work(host)
        except Exception as error:  # a bug must not take the other hosts down with it
            outcome = HostOutcome(
                host, "error", self.crash_exit, f"internal error: {type(error).__name__}: {error}"
            )
        self.events.emit(host, "host-end", status=outcome.status, exit_code=outcome.exit_code)
        return outcome

    def run(self, hosts: Sequence[str], work: HostWork) -> FleetResult:
        """Every host's outcome, in the order given; a stop signal only stops new hosts starting."""
        with deferred(self._stop):
            results = self._run(list(hosts), work)
        return FleetResult([results[h] for h in hosts], self._stop.is_set())

    def _run(self, queue: list[str], work: HostWork) -> dict[str, HostOutcome]:
        results: dict[str, HostOutcome] = {}
        running: dict[Future[HostOutcome], str] = {}
        with ThreadPoolExecutor(max_workers=min(self.forks, max(1, len(queue)))) as pool:
            while queue or running:
                if self._stop.is_set() and not self._announced:
                    self._announced = True
                    self.events.emit("*", "interrupted", detail=INTERRUPTED)
                    results.update((h, self._not_started(h)) for h in queue)
                    queue = []
                while queue and len(running) < self.forks and not self._stop.is_set():
                    host = queue.pop(0)
                    running[pool.submit(self._guarded, work, host)] = host
                done, _ = wait(running, timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    results[running.pop(future)] = future.result()
        return results

    def stop(self) -> None:
        """Start no new host (what Ctrl-C does); for callers that stop a run themselves."""
        self._stop.set()
