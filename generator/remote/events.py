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
    """Appends each event as one JSON line and syncs it, so a crash keeps everything up to then."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = open(path, "x", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def __call__(self, event: Event) -> None:
        if self._handle is None:
            return
        self._handle.write(json.dumps(event, sort_keys=True, default=str) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


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
