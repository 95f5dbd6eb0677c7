"""The write-ahead run record: what a run folder says about each host, at every moment.

Before a host's change starts, its folder holds the prior state to restore (prior.json, taken from
the plan; the host re-checks it as apply.ps1's ExpectedPrior) and a `started.json` marker; the
host's outcome (result.json) is written the moment it is known. So whatever ends the client (a
signal, SIGKILL, a full disk), a run folder tells per host one of:

- not started: no marker, no result;
- started, outcome unknown: the marker without a result (`sslbind record resolve` re-captures);
- its outcome: result.json's status.

Layout of one run: runs/<stamp>/{run.json, events.jsonl, result.json, manifest.json} and
hosts/<host>/{prior.json, started.json, result.json}; manifest.json seals it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import InputFileError, load_json, read_input
from generator.record import MANIFEST, RUNS, sha256_hex, write_new_file
from generator.render import host_dir

RUN_FILE = "run.json"
RESULT_FILE = "result.json"
PRIOR_FILE = "prior.json"
STARTED_FILE = "started.json"
EVENTS_FILE = "events.jsonl"

NOT_STARTED = "not started"
UNKNOWN = "started, outcome unknown"
# Host statuses after which the host may hold something other than its prior state: a rollback
# source. An unknown outcome counts too: the change may have gone through.
CHANGED_STATUSES = frozenset({"applied", "manual"})


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode()


def write_json(path: Path, value: Any) -> None:
    write_new_file(path, json_bytes(value))


def host_file(folder: Path, host: str, name: str) -> Path:
    return folder / "hosts" / host_dir(host) / name


RUN_FILE_MAX_BYTES = 64 * 1024 * 1024  # a run's result.json for 5,000 hosts is a few MB


def load_object(path: Path) -> dict[str, Any] | None:
    """A JSON object from a run file; None when it is missing or not an object; an InputFileError
    (one line, exit 2) when it cannot be read as one: a FIFO or device (never opened), too large,
    not UTF-8, nested too deeply, not JSON."""
    if not os.path.lexists(path):
        return None
    value = load_json(read_input(path, RUN_FILE_MAX_BYTES, "a run file"), path, "a run file")
    return value if isinstance(value, dict) else None


def read_object(path: Path) -> dict[str, Any] | None:
    """A JSON object from a run file, or None when it is missing, unreadable or not an object."""
    try:
        return load_object(path)
    except InputFileError:
        return None


@dataclass(frozen=True)
class HostState:
    """What one run folder says about one host."""

    host: str
    state: str  # NOT_STARTED, UNKNOWN or the recorded status
    result: dict[str, Any] | None

    @property
    def exit_code(self) -> int | None:
        code = (self.result or {}).get("exit_code")
        return code if isinstance(code, int) else None

    @property
    def may_have_changed(self) -> bool:
        """The host may hold something other than its prior: the run is a rollback source."""
        if self.state == UNKNOWN or self.state in CHANGED_STATUSES:
            return True
        # A client-side crash after the change started (internal error, exit 4).
        return self.state == "error" and self.exit_code == 4


def host_state(folder: Path, host: str) -> HostState:
    result = read_object(host_file(folder, host, RESULT_FILE))
    if result is not None and isinstance(result.get("status"), str):
        return HostState(host, str(result["status"]), result)
    if host_file(folder, host, STARTED_FILE).is_file():
        return HostState(host, UNKNOWN, None)
    return HostState(host, NOT_STARTED, None)


@dataclass(frozen=True)
class Run:
    """One run folder with its run.json."""

    folder: Path
    header: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.header.get("kind"))

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def sealed(self) -> bool:
        return (self.folder / MANIFEST).is_file()

    @property
    def hosts(self) -> list[str]:
        listed = self.header.get("hosts")
        return [str(h) for h in listed] if isinstance(listed, list) else []

    def state(self, host: str) -> HostState:
        return host_state(self.folder, host)

    def unknown_hosts(self) -> list[str]:
        return [h for h in self.hosts if self.state(h).state == UNKNOWN]

    @property
    def unfinished(self) -> bool:
        """Not sealed, or a host whose outcome nobody knows."""
        return not self.sealed or bool(self.unknown_hosts())


def runs(record: Path, kinds: tuple[str, ...] = ()) -> Iterator[Run]:
    """Run folders, newest first, of the given kinds (all when empty)."""
    base = record / RUNS
    folders = sorted((p for p in base.iterdir() if p.is_dir()), reverse=True) if base.is_dir() else []
    for folder in folders:
        header = read_object(folder / RUN_FILE)
        if header is None:
            header = {"kind": "unknown"}
        run = Run(folder, header)
        if not kinds or run.kind in kinds:
            yield run


def unfinished_runs(record: Path) -> list[Run]:
    return [r for r in runs(record) if r.unfinished]


def unfinished_lines(record: Path) -> list[str]:
    """For plan/apply/rollback/verify: each earlier run that did not finish, and what to do."""
    lines = []
    for run in unfinished_runs(record):
        unknown = run.unknown_hosts()
        what = f"hosts started, outcome unknown: {', '.join(unknown)}" if unknown else "it was not sealed"
        lines.append(
            f"warning: the earlier {run.kind} run {RUNS}/{run.name} did not finish ({what}); "
            f"`sslbind record resolve {record}` re-captures its hosts and closes it"
        )
    return lines


class HostLog:
    """Writes one host's part of a run as it happens (each file atomic, never overwritten)."""

    def __init__(self, folder: Path, host: str) -> None:
        self.folder, self.host = folder, host

    def path(self, name: str) -> Path:
        return host_file(self.folder, self.host, name)

    def before_start(self, prior: dict[str, Any], at: str) -> str:
        """prior.json then the started marker; returns prior.json's sha256 (for the events)."""
        data = json_bytes(prior)
        write_new_file(self.path(PRIOR_FILE), data)
        digest = sha256_hex(data)
        write_json(self.path(STARTED_FILE), {"host": self.host, "at": at, "prior_sha256": digest})
        return digest

    def outcome(self, result: dict[str, Any]) -> None:
        write_json(self.path(RESULT_FILE), result)

    def has_outcome(self) -> bool:
        return self.path(RESULT_FILE).is_file()
