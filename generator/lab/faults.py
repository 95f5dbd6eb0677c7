"""Faults from the state file: each fires once, matched by operation and optional binding key.

A fault entry: `{"on": OP, ...}` with OP one of `FAULT_OPERATIONS`, and any of
`"error": <win32 code>` (the operation fails with that code, nothing changes),
`"hang": <seconds>` (the operation stalls first, then runs),
`"drop_connection": true` (the operation runs, then the WinRM connection of that shell drops),
`"kill_pwsh": true` (pwsh dies; `"when": "before"` (default) or `"after"` the operation),
`"usage": true` (netsh add/update/delete prints its usage and exits 1 instead, nothing changes),
and optionally `"target": "0.0.0.0:443"` or `"ipport=0.0.0.0:443"` to match one binding.
`{"on": "tls", "stale_tls": true}` is read by the TLS front (front.py), not taken here; so is
`{"on": "tls", "hang": S}` (the front's next handshake for the binding waits S seconds, once).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.binding import KeyKind
from generator.lab.state import State

# netsh operations, plus `set` for Set-ItemProperty on a binding's registry key, plus `tls` for the
# TLS front's `stale_tls` (which stays until removed; front.py reads it, nothing takes it).
FAULT_OPERATIONS = ("add", "update", "delete", "show", "set", "tls")

ENV_SHELL_ID = "SSLBIND_LAB_SHELL_ID"


@dataclass(frozen=True)
class Caller:
    """The lab pwsh a simulated call came from (its pid and shell token): what a fault kills or drops."""

    pid: int
    shell: str
    control_dir: Path
    # Whether the caller still waits for the answer: a call stopped during a fault's hang (the
    # client's timeout stops the pipeline) must not run afterwards, as a killed netsh would not.
    waiting: Callable[[], bool] = lambda: True


@dataclass(frozen=True)
class Fault:
    on: str
    error: int | None = None
    hang: float = 0.0
    drop_connection: bool = False
    kill_pwsh: bool = False
    kill_after: bool = False
    usage: bool = False

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> Fault:
        error = entry.get("error")
        return cls(
            on=str(entry["on"]),
            error=int(error) if error is not None else None,
            hang=float(entry.get("hang", 0) or 0),
            drop_connection=bool(entry.get("drop_connection", False)),
            kill_pwsh=bool(entry.get("kill_pwsh", False)),
            kill_after=entry.get("when", "before") == "after",
            usage=bool(entry.get("usage", False)),
        )


def matches(entry: dict[str, Any], operation: str, kind: KeyKind | None, key: str | None) -> bool:
    if str(entry.get("on", "")).lower() != operation:
        return False
    target = entry.get("target")
    if target is None:
        return True
    if key is None or kind is None:
        return False
    target = str(target).lower()
    return target in (key.lower(), f"{kind.value}={key}".lower())


def take_fault(state: State, operation: str, kind: KeyKind | None, key: str | None) -> Fault | None:
    """Removes and returns the first fault for this operation (call inside a state transaction)."""
    faults: list[dict[str, Any]] = state["faults"]
    for index, entry in enumerate(faults):
        if matches(entry, operation, kind, key):
            del faults[index]
            return Fault.from_entry(entry)
    return None


def hang(fault: Fault | None, caller: Caller | None = None) -> bool:
    """Stalls for the fault's hang; False when the caller gave up meanwhile (the call must not run)."""
    if fault is None or fault.hang <= 0:
        return True
    time.sleep(fault.hang)
    return caller is None or caller.waiting()


def kill_pwsh(caller: Caller) -> None:
    """Kills the pwsh the call came from: its pipeline dies mid-way, as on a crash."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(caller.pid, signal.SIGKILL)


def drop_connection(caller: Caller) -> None:
    """Asks the lab server to drop the caller's WinRM connection; pwsh itself carries on."""
    if caller.shell:
        (caller.control_dir / drop_marker_name(caller.shell)).touch()


def drop_marker_name(shell_id: str) -> str:
    return f"drop-{shell_id.lower()}"
