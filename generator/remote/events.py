"""The event stream of a fleet run: one dict per thing that happened, to the log file and the display.

Every step of every host is an event (`host`, `event`, `ts` and details). The run's events.jsonl is
the audit trail a change manager reads afterwards; the live display listens to the same stream.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

Event = dict[str, Any]
Listener = Callable[[Event], None]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonlSink:
    """Appends each event as one JSON line and syncs it, so a crash keeps everything up to then.

    A write that fails (full disk, read-only remount) must not break the change running on a host:
    the sink remembers the error, stops writing and the run reports its log as incomplete.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failed: str | None = None
        self._handle: IO[str] | None = open(path, "x", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def __call__(self, event: Event) -> None:
        if self._handle is None:
            return
        try:
            self._handle.write(json.dumps(event, sort_keys=True, default=str) + "\n")
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as error:
            self.failed = f"{self.path}: {error.strerror or error}"
            self.close()

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                handle.close()
            except OSError as error:  # the final flush of a full disk
                self.failed = self.failed or f"{self.path}: {error.strerror or error}"


class Events:
    """Thread-safe fan-out of events to listeners (the log file, the progress display)."""

    def __init__(self, *listeners: Listener) -> None:
        self._lock = threading.Lock()
        self._listeners = list(listeners)

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def emit(self, host: str, event: str, **details: Any) -> Event:
        record: Event = {"ts": now_iso(), "host": host, "event": event, **details}
        with self._lock:
            for listener in self._listeners:
                listener(record)
        return record
