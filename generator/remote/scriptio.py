"""The contract with the rendered scripts: which parameters they take and what their JSON result means.

Everything the remote side knows about prepare.ps1, apply.ps1, verify.ps1 and rollback.ps1 lives
here, so a change in the templates touches one module. The scripts' parameters and result objects
are documented in generator/render.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from generator.binding import diff_settings
from generator.model import Target
from generator.remote.runner import ScriptResult

PREPARE, APPLY, VERIFY, ROLLBACK = "prepare", "apply", "verify", "rollback"

# Outcomes of apply.ps1 as the client understands them.
APPLIED = "applied"
STALE = "stale"
ROLLED_BACK = "rolled_back"
NOT_RESTORED = "not_restored"
UNKNOWN = "unknown"


class ScriptFailed(Exception):
    """A read-only script failed on the host (no result, or it threw)."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


@dataclass(frozen=True)
class BindingState:
    key: str
    current: dict[str, Any] | None  # None: no such binding on the host
    desired: dict[str, Any]
    diff: dict[str, Any]

    def describe(self) -> str:
        if self.current is None:
            return f"{self.key}: create"
        names = ", ".join(sorted(self.diff))
        return f"{self.key}: change {names}"


@dataclass(frozen=True)
class Capture:
    """A host's captured bindings as prepare.ps1 reports them (`raw` is stored in plans and runs)."""

    raw: dict[str, Any]
    bindings: tuple[BindingState, ...] = field(default=())

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> Capture:
        return cls(raw, tuple(_binding_state(b) for b in raw.get("bindings", [])))

    def changed_bindings(self) -> list[BindingState]:
        return [b for b in self.bindings if b.current is None or b.diff]

    def current_by_key(self) -> dict[str, dict[str, Any] | None]:
        return {b.key: b.current for b in self.bindings}

    def same_bindings(self, other: Capture) -> bool:
        """Every binding's current settings equal in both captures (missing equals missing)."""
        mine, theirs = self.current_by_key(), other.current_by_key()
        if mine.keys() != theirs.keys():
            return False
        for key, current in mine.items():
            before = theirs[key]
            if (current is None) != (before is None):
                return False
            if current is not None and before is not None and diff_settings(before, current):
                return False
        return True


def _binding_state(raw: dict[str, Any]) -> BindingState:
    return BindingState(
        key=str(raw.get("key")),
        current=raw.get("current"),
        desired=raw.get("desired") or {},
        diff=raw.get("diff") or {},
    )


def prepare_parameters(target: Target) -> dict[str, Any]:
    return {}


def parse_prepare(result: ScriptResult) -> Capture:
    obj = result.json_object()
    if not result.succeeded or obj is None:
        reason = "; ".join(result.errors) or f"pipeline {result.state}, no result object"
        raise ScriptFailed(f"prepare.ps1 failed: {reason}", {"state": result.state, "errors": result.errors})
    return Capture.from_raw(obj)


def apply_parameters(target: Target, prior: Capture) -> dict[str, Any]:
    return {}


def rollback_parameters(target: Target, prior: Capture) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class ApplyVerdict:
    outcome: str
    summary: str
    gap_ms: float | None


def parse_apply(result: ScriptResult) -> ApplyVerdict:
    obj = result.json_object()
    if obj is None:
        return ApplyVerdict(UNKNOWN, "no result", None)
    return ApplyVerdict(str(obj.get("outcome", UNKNOWN)), str(obj.get("summary", "")), obj.get("gap_ms"))


def manual_instruction(record: Any, host: str, prior: Capture) -> str:
    return f"on {host}, run {record.script_path(host, ROLLBACK)} with the prior state"
