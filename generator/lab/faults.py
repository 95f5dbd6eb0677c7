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

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.binding import KeyKind
from generator.lab.state import State

# netsh operations, plus `set` for Set-ItemProperty on a binding's registry key, plus `tls` for the
# TLS front's `stale_tls` (which stays until removed; front.py reads it, nothing takes it).
FAULT_OPERATIONS = ("add", "update", "delete", "show", "set", "tls")

ENV_SHELL_ID = "SSLBIND_LAB_SHELL_ID"
ENV_CONTROL_DIR = "SSLBIND_LAB_CONTROL_DIR"


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


def hang(fault: Fault | None) -> None:
    if fault is not None and fault.hang > 0:
        time.sleep(fault.hang)


def kill_pwsh() -> None:
    """Kills the pwsh that ran this shim (our parent): the pipeline dies mid-way, as on a crash."""
    os.kill(os.getppid(), signal.SIGKILL)
    os._exit(137)


def drop_connection() -> None:
    """Asks the lab server to drop this shell's WinRM connection; pwsh itself carries on."""
    shell_id, control = os.environ.get(ENV_SHELL_ID), os.environ.get(ENV_CONTROL_DIR)
    if shell_id and control:
        (Path(control) / drop_marker_name(shell_id)).touch()


def drop_marker_name(shell_id: str) -> str:
    return f"drop-{shell_id.lower()}"
