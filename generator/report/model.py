"""The typed view of a change record that the report renders: nothing here reads files or formats HTML.

Every value comes from the record as written (manifest, change.yaml, plans, runs); nothing is
computed from the clock, so the same record always gives the same view.
"""

from __future__ import annotations

from dataclasses import dataclass

# Phases of one host's change, in the order they happen (the timeline's rows).
PHASES = ("capture", "trial", "change", "verify", "rollback")


@dataclass(frozen=True)
class SettingChange:
    """One setting of one binding: what the host had and what the plan sets."""

    setting: str
    before: str
    after: str


@dataclass(frozen=True)
class PlannedBinding:
    """One binding of the latest plan: what changes, how, and the netsh commands it runs."""

    binding: str
    path: str  # update | replace | add | set-registry | none
    swap: str
    changes: tuple[SettingChange, ...]
    commands: tuple[str, ...]
    restorable: bool | None
    undo_problem: str | None

    @property
    def window(self) -> str:
        """What the plan expects for the time the binding is absent."""
        if self.path == "replace":
            return "delete+add: the binding is absent between the delete and the add"
        if self.path == "update":
            return "none: updated in place"
        if self.path == "add":
            return "none: a new binding (nothing to remove)"
        if self.path == "set-registry":
            return "none: registry value (takes effect after the HTTP service restarts)"
        return "none: no change"


@dataclass(frozen=True)
class PlannedHost:
    host: str
    status: str
    summary: str
    bindings: tuple[PlannedBinding, ...]


@dataclass(frozen=True)
class Plan:
    name: str  # plans/<stamp>.json
    started_at: str
    finished_at: str
    hosts: tuple[PlannedHost, ...]
    problem: str = ""  # why the plan file could not be read, when it could not


@dataclass(frozen=True)
class Step:
    """One thing that happened to one host, in order: a client event or a step apply.ps1 reported."""

    phase: str  # one of PHASES, or "client" for the client's own bookkeeping
    name: str
    binding: str
    at: str  # the event's UTC timestamp, "" for steps only the script's result reports
    ms: float | None  # how long the step took, where recorded
    result: str
    detail: str


@dataclass(frozen=True)
class BindingWindow:
    """How long one binding was absent during a run, as apply.ps1 measured it."""

    binding: str
    path: str
    gap_ms: float | None
    reached: bool = True  # False: the script stopped before it changed this binding

    @property
    def text(self) -> str:
        if not self.reached:
            return "none: not changed (the script stopped before this binding)"
        if self.gap_ms is not None:
            return f"{self.gap_ms:.0f} ms without a binding (delete+add)"
        if self.path == "update":
            return "none (updated in place)"
        if self.path == "replace":
            return "not recorded by the script"
        return "none"


@dataclass(frozen=True)
class HostRun:
    """One host in one run: its outcome, when it started and ended, and its steps."""

    host: str
    status: str
    summary: str
    started_at: str
    ended_at: str
    duration_s: float | None
    steps: tuple[Step, ...]
    windows: tuple[BindingWindow, ...]

    @property
    def rolled_back(self) -> bool:
        return self.status == "rolled-back"

    @property
    def tone(self) -> str:
        """A colour class for the status: ok, back (rolled back), bad (needs a person), other."""
        if self.status in ("applied", "restored", "no-change", "unchanged", "compliant"):
            return "ok"
        if self.status == "rolled-back":
            return "back"
        if self.status in ("manual", "error", "started, outcome unknown", "failed"):
            return "bad"
        return "other"

    def phase_ms(self, phase: str) -> float | None:
        """Total recorded time of a phase's steps; None when the phase did not happen."""
        timed = [s.ms for s in self.steps if s.phase == phase and s.ms is not None]
        return sum(timed) if timed else None


@dataclass(frozen=True)
class Run:
    name: str  # runs/<stamp>
    kind: str  # apply | rollback | verify | ...
    plan: str
    started_at: str
    finished_at: str
    sealed: bool
    exit_code: int | None
    hosts: tuple[HostRun, ...]
    log_problem: str  # "" when events.jsonl was read whole


@dataclass(frozen=True)
class Signatures:
    """Authenticode status of the record's scripts: unsigned, signed (by whom) or broken."""

    state: str  # unsigned | signed | broken | unknown
    detail: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Integrity:
    problems: tuple[str, ...]  # record check's lines; empty when intact
    files: tuple[tuple[str, str], ...]  # (path, sha256) from manifest.json
    manifest_sha256: str
    signatures: Signatures

    @property
    def problem_count(self) -> int:
        """Every problem `record check` would fail on: hashes and signatures alike."""
        return len(self.problems) + len(self.signatures.problems)

    @property
    def intact(self) -> bool:
        return not self.problem_count


@dataclass(frozen=True)
class TargetBinding:
    """A binding as change.yaml asks for it (shown when there is no plan yet)."""

    host: str
    binding: str
    settings: tuple[tuple[str, str], ...]
    mode: str
    swap: str


@dataclass(frozen=True)
class Report:
    change_id: str
    title: str
    description: str
    tool_version: str
    created_at: str
    spec_sha256: str
    hosts: tuple[str, ...]
    targets: tuple[TargetBinding, ...]
    plan: Plan | None
    plan_count: int
    runs: tuple[Run, ...]
    integrity: Integrity
