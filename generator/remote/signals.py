"""Stop signals while a change runs: SIGINT, SIGTERM and SIGHUP only ask the run to stop.

A change that dies with the client leaves hosts changed and the record without their outcome, so
while hosts run and while the record is written and sealed, Ctrl-C, `timeout`/systemd/CI
cancellation (SIGTERM) and a closed SSH session (SIGHUP) set a flag instead: no new host starts,
running hosts finish (or roll back on the target), the record is completed, then the command ends
with the exit code its hosts call for. SIGKILL cannot be caught; the write-ahead run record
(`runlog`) covers it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = tuple(
    s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None
)


class StopFlag:
    """Set once a stop signal arrives; remembers which one, for the record."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None

    def set(self, signum: int | None = None) -> None:
        if signum is not None and self.signal_name is None:
            self.signal_name = signal.Signals(signum).name
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()


@contextlib.contextmanager
def deferred(flag: StopFlag) -> Iterator[StopFlag]:
    """While inside, a stop signal sets `flag` instead of ending the process.

    Only the main thread may install handlers; elsewhere (tests calling the library from a worker
    thread) the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        flag.set(signum)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
