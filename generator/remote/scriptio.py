"""The contract with the rendered scripts: which parameters they take and what their JSON result means.

Everything the remote side knows about prepare.ps1, apply.ps1, verify.ps1 and rollback.ps1 lives
here, so a change in the templates touches one module. The scripts' parameters and their one JSON
result object are documented in generator/render.py's module docstring.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.binding import diff_settings
from generator.model import Target
from generator.remote.recordio import Script
from generator.remote.runner import ScriptResult
from generator.render import pinned_library, script_parameters

PREPARE, APPLY, VERIFY, ROLLBACK = "prepare", "apply", "verify", "rollback"

# apply.ps1 outcomes (render.py): applied and unchanged succeed; the rest throw.
APPLIED, UNCHANGED, REFUSED, ROLLED_BACK, ROLLBACK_FAILED = (
    "applied",
    "unchanged",
    "refused",
    "rolled_back",
    "rollback_failed",
)
UNKNOWN = "unknown"  # no result object came back (connection lost, pwsh died, deadline)
COMPLIANT, DRIFT = "compliant", "drift"  # verify.ps1
CHANGES_PENDING = "changes_pending"  # prepare.ps1, besides unchanged and refused


class ScriptFailed(Exception):
    """A script ended without a usable result (it refused, or returned no JSON)."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


def _subject(item: dict[str, Any]) -> str:
    return f"{item.get('kind')}={item.get('key')}".lower()


@dataclass(frozen=True)
class Capture:
    """A captured state: a prepare.ps1 result (or any result with a 'before' list). `raw` is stored
    as it came and passed back to apply.ps1 -ExpectedPrior and rollback.ps1 -Prior unchanged."""

    raw: dict[str, Any]

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> Capture:
        return cls(raw)

    @property
    def at_desired(self) -> bool:
        """prepare.ps1 found nothing to change."""
        return self.raw.get("outcome") == UNCHANGED

    @property
    def before(self) -> list[dict[str, Any]]:
        return [b for b in self.raw.get("before") or [] if isinstance(b, dict)]

    def changed_bindings(self) -> list[dict[str, Any]]:
        """prepare.ps1's bindings that need a change (change != none)."""
        return [
            b for b in self.raw.get("bindings") or [] if isinstance(b, dict) and b.get("change") != "none"
        ]

    @property
    def update_supported(self) -> dict[str, bool]:
        """Per binding kind: this host's netsh has `update sslcert` for it ({} from older scripts)."""
        given = self.raw.get("update_supported")
        if not isinstance(given, dict):
            return {}
        return {str(kind): value for kind, value in given.items() if isinstance(value, bool)}

    def unrestorable(self) -> list[dict[str, Any]]:
        """Changed bindings the script proved it could not put back (apply refuses them by default)."""
        return [b for b in self.changed_bindings() if b.get("restorable") is False]

    def planned_paths(self) -> list[dict[str, Any]]:
        """Per changed binding: how apply will change it, for the plan's JSON (None where an older
        script did not say)."""
        return [{name: b.get(name) for name in PATH_FIELDS} for b in self.changed_bindings()]

    def same_bindings(self, other: Capture) -> bool:
        """Every captured binding equal in both (absent equals absent; stores/hashes case-blind)."""
        mine = {_subject(b): b for b in self.before}
        theirs = {_subject(b): b for b in other.before}
        if not mine or mine.keys() != theirs.keys():
            return False
        return all(_same_binding(mine[k], theirs[k]) for k in mine)

    def each_binding_one_of(self, *states: Capture) -> bool:
        """Every binding absent, at desired (prepare.ps1 found no change for it) or equal to that
        binding in one of `states`: what a change or its rollback leaves when stopped half-way."""
        settled = {
            _subject(b)
            for b in self.raw.get("bindings") or []
            if isinstance(b, dict) and b.get("change") == "none"
        }
        others = [{_subject(b): b for b in state.before} for state in states]
        for binding in self.before:
            subject = _subject(binding)
            if "error" in binding:
                return False
            if not binding.get("exists") or subject in settled:
                continue
            if not any(subject in other and _same_binding(binding, other[subject]) for other in others):
                return False
        return bool(self.before)

    def to_json(self) -> str:
        return json.dumps(self.raw, separators=(",", ":"))


def _same_binding(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if "error" in a or "error" in b or bool(a.get("exists")) != bool(b.get("exists")):
        return False
    if not a.get("exists"):
        return True
    return not diff_settings(a.get("settings") or {}, b.get("settings") or {})


def _differences(binding: dict[str, Any]) -> list[str]:
    return [
        f"{d.get('setting')} {d.get('actual')} -> {d.get('expected')}"
        for d in binding.get("differences") or []
        if isinstance(d, dict)
    ]


def _name(binding: dict[str, Any]) -> str:
    return str(binding.get("binding") or _subject(binding))


def _path(binding: dict[str, Any]) -> str:
    """The path a binding takes (prepare/apply `path`); older scripts only say `change`."""
    path = binding.get("path")
    return path if isinstance(path, str) and path else str(binding.get("change"))


def describe_change(binding: dict[str, Any]) -> str:
    """One binding of prepare.ps1's result for people: `ipport=0.0.0.0:443: update (certhash a -> b)`."""
    parts = _differences(binding)
    return f"{_name(binding)}: {_path(binding)}" + (f" ({'; '.join(parts)})" if parts else "")


# --- the path each binding takes (fields of newer prepare/apply results; absent in older records) --

PATH_FIELDS = ("binding", "swap", "path", "commands", "restorable", "undo_problem")
PATH_TEXT = {
    "none": "no change",
    "add": "add (the binding does not exist yet)",
    "update": "update in place: one netsh http update sslcert, no moment without a binding",
    "replace": "delete+add: the binding is absent between the two",
    "set-registry": "registry write: HTTP.sys reads it after the HTTP service or the server restarts",
}
ACCEPT_NO_UNDO = "--accept-no-undo"


def _replace_reason(binding: dict[str, Any], update_supported: dict[str, bool]) -> str | None:
    """Why a binding is deleted and re-added rather than updated: the script's own `path_note`, else
    what the result lets us tell."""
    note = binding.get("path_note")
    if isinstance(note, str) and note:
        return note
    kind = str(binding.get("kind"))
    if binding.get("swap") == "replace":
        return "swap: replace"
    if kind == "scopedccs":
        return "update does not cover scoped CCS"
    if update_supported.get(kind) is False:
        return f"this host's netsh has no update sslcert for {kind}"
    return None


def describe_path(binding: dict[str, Any], update_supported: dict[str, bool]) -> str:
    """How apply will change one binding, for people."""
    path = _path(binding)
    text = PATH_TEXT.get(path, path)
    reason = _replace_reason(binding, update_supported) if path == "replace" else None
    return f"{text} ({reason})" if reason else text


def binding_commands(binding: dict[str, Any]) -> list[str]:
    """The netsh lines apply will run for a binding, in order (older scripts: the add line only)."""
    commands = binding.get("commands")
    if isinstance(commands, list):
        return [c for c in commands if isinstance(c, str) and c]
    line = binding.get("command_line")
    return [line] if isinstance(line, str) and line else []


def undo_warning(binding: dict[str, Any]) -> str | None:
    """The reviewer's warning for a binding apply could not put back, or None."""
    if binding.get("restorable") is not False:
        return None
    problem = binding.get("undo_problem") or "the prior binding could not be put back"
    return f"cannot be undone: {problem} (apply refuses it unless {ACCEPT_NO_UNDO})"


def plan_lines(capture: Capture) -> list[str]:
    """What plan shows per changed binding: the path, each command, and a no-undo warning."""
    lines: list[str] = []
    for binding in capture.changed_bindings():
        name = _name(binding)
        if not isinstance(binding.get("path"), str):  # an older prepare.ps1: its one add line
            lines.append(f"{name}: {binding.get('command_line') or binding.get('change')}")
            continue
        lines.append(f"{name}: {describe_path(binding, capture.update_supported)}")
        lines.extend(f"  {command}" for command in binding_commands(binding))
        warning = undo_warning(binding)
        if warning:
            lines.append(f"{name}: {warning}")
    return lines


def describe_plan(capture: Capture) -> str:
    """The plan's one line per host: each change with its path, then any binding that cannot be undone."""
    parts = [describe_change(b) for b in capture.changed_bindings()]
    parts += [f"{_name(b)}: {undo_warning(b)}" for b in capture.unrestorable()]
    return "; ".join(parts)


def _gaps(result: dict[str, Any]) -> dict[str, float]:
    """Per binding (lower-cased subject): how long it was missing; only delete+add has a gap."""
    gaps: dict[str, float] = {}
    for item in (result.get("timings") or {}).get("gaps") or []:
        if isinstance(item, dict) and isinstance(item.get("gap_ms"), int | float):
            gaps[str(item.get("binding")).lower()] = float(item["gap_ms"])
    return gaps


def describe_applied(binding: dict[str, Any], gaps: dict[str, float]) -> str:
    """One binding of apply.ps1's result: `ipport=0.0.0.0:443: updated in place: certhash a -> b`."""
    path = _path(binding)
    if path == "update":
        what = "updated in place"
    elif path == "replace":
        gap = gaps.get(_name(binding).lower())
        what = f"replaced (window {gap:.0f} ms)" if gap is not None else "replaced (delete+add)"
    else:
        what = {"add": "added", "set-registry": "registry value set (restart needed)"}.get(path, path)
    parts = _differences(binding)
    return f"{_name(binding)}: {what}" + (f": {'; '.join(parts)}" if parts else "")


def describe_apply(result: dict[str, Any]) -> str:
    """apply.ps1's changed bindings for people, each with its path and, for delete+add, its window;
    then what the host's TLS check could not confirm (describe_host_tls)."""
    gaps = _gaps(result)
    changed = [b for b in result.get("bindings") or [] if isinstance(b, dict) and _path(b) != "none"]
    return "; ".join([*(describe_applied(b, gaps) for b in changed), *describe_host_tls(result)])


def describe_host_tls(result: Mapping[str, Any]) -> list[str]:
    """What the summary line must say about the host's own TLS check of a change that went through:
    that it did not run (ConstrainedLanguage: "TLS not verified on the host: ConstrainedLanguage"),
    that a binding gave no answer in time, that a binding the change did not touch answers first,
    or that an endpoint failed in the same way before the change (apply names these instead of
    failing). Empty when every handshake confirmed the change."""
    parts: list[str] = []
    for entry in result.get("tls") or []:
        if not isinstance(entry, dict):
            continue
        detail = str(entry.get("detail") or "")
        if (
            entry.get("result") == "not checked"
            and entry.get("address") is None
            and detail.endswith("Language")
        ):
            part = f"TLS not verified on the host: {detail.removeprefix('not checked: ')}"
        elif entry.get("result") == "not checked" and "no answer within" in detail:
            part = (
                f"TLS not verified on the host for {entry.get('binding')} at {entry.get('address')}: {detail}"
            )
        elif entry.get("result") in ("mismatch", "failed") and detail.startswith("as before the change: "):
            part = f"TLS at {entry.get('address')} for {entry.get('binding')} {detail}"
        elif entry.get("result") == "mismatch" and entry.get("shadowed_by"):
            part = f"TLS at {entry.get('address')} not checked for {entry.get('binding')}: {detail}"
        else:
            continue
        if part not in parts:
            parts.append(part)
    return parts


def describe_differences(result: dict[str, Any]) -> str:
    """verify.ps1's differences for people."""
    parts = [
        f"{d.get('binding')} {d.get('setting')}: {d.get('actual')} (want {d.get('expected')})"
        for d in result.get("differences") or []
        if isinstance(d, dict)
    ]
    return "; ".join(parts) or str(result.get("error") or "drift")


# How PowerShell refuses script text in a JEA-style session (NoLanguage: "The syntax is not supported
# by this runspace ... no-language mode"; RestrictedLanguage: parse errors "... not allowed in a Data
# section" / "restricted language mode").
_RESTRICTED_SESSION = re.compile(
    r"no-language mode|restricted language mode|not allowed in a Data section|ScriptsNotAllowed",
    re.IGNORECASE,
)
RESTRICTED_SESSION_TEXT = (
    "the endpoint's session runs PowerShell in NoLanguage or RestrictedLanguage mode (a JEA endpoint?), "
    "where scripts cannot run; sslbind's scripts need FullLanguage or ConstrainedLanguage: connect to "
    "the default endpoint (configuration_name Microsoft.PowerShell). Nothing was run on the host"
)


def _refused_by_session(result: ScriptResult) -> bool:
    return result.state == "Failed" and any(_RESTRICTED_SESSION.search(error) for error in result.errors)


def _failure_text(name: str, result: ScriptResult, obj: dict[str, Any] | None) -> str:
    if obj is not None and obj.get("error"):
        return f"{name}.ps1 {obj.get('outcome')}: {obj['error']}"
    if obj is None and _refused_by_session(result):
        return f"{name}.ps1 refused: {RESTRICTED_SESSION_TEXT}"
    reason = "; ".join(result.errors[:2]) or "no result object"
    return f"{name}.ps1 failed (pipeline {result.state}): {reason}"


# --- the pipeline: the library, then the host script ---------------------------------------------

# The host script's switch that says the library came with it (script.ps1.j2): it then uses the
# SslBind module the first statement defined instead of loading lib/SslBind from a file, which
# does not exist on the host. Only this client sets it, after checking the library's hash.
LIBRARY_PRELOADED = "LibraryPreloaded"
# Seconds a host script waits for another sslbind phase's host lock (--lock-wait).
LOCK_WAIT = "LockWait"


def library_statement(library_text: str) -> str:
    """The pipeline's first statement: the library's exact text, made the SslBind module in memory
    (New-Module works in ConstrainedLanguage; piped to Import-Module so nothing reaches the output)."""
    return "New-Module -Name SslBind -ScriptBlock {\r\n" + library_text + "\r\n} | Import-Module\r\n"


def pipeline(script: Script) -> str | tuple[str, str]:
    """What one host's one pipeline runs: the library statement and the script, or the script alone
    (a record rendered before the library existed)."""
    if script.library is None:
        return script.text
    return (library_statement(script.library), script.text)


def sent_parameters(script: Script, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """`parameters`, plus the switch telling a library-pinning script that its library came first."""
    if script.library is None:
        return dict(parameters)
    return {**parameters, LIBRARY_PRELOADED: True}


# --- parameters ---------------------------------------------------------------------------------


def prepare_parameters(target: Target) -> dict[str, Any]:
    return dict(script_parameters(target))


def verify_parameters(target: Target) -> dict[str, Any]:
    return dict(script_parameters(target))


def apply_parameters(target: Target, prior: Capture, *, accept_no_undo: bool = False) -> dict[str, Any]:
    """The spec's values plus the planned prior state (a mismatch makes apply.ps1 refuse).

    `AcceptNoUndo` only when the operator gave --accept-no-undo: without it apply.ps1 refuses a host
    where it has proven it could not restore a binding, with nothing touched.
    """
    parameters = {**script_parameters(target), "ExpectedPrior": prior.to_json(), "Confirm": False}
    if accept_no_undo:
        parameters["AcceptNoUndo"] = True
    return parameters


def fit_parameters(script_text: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a recorded script knows. A record rendered before `Swap` and `AcceptNoUndo`
    existed refuses an unknown -Binding entry and fails on an unknown parameter (no JSON, so the
    client could not tell that nothing ran); such a script never updates in place nor refuses a
    binding it cannot undo, so leaving both out keeps its own behaviour. One rendered before
    `LockWait` waits its own 60 s for the host lock."""
    fitted = dict(parameters)
    for optional in ("AcceptNoUndo", LOCK_WAIT):
        if optional in fitted and not re.search(r"\$" + optional + r"\b", script_text):
            del fitted[optional]
    if pinned_library(script_text) is None and not re.search(r"\bSwap = '", script_text):
        bindings = fitted.get("Binding")
        if isinstance(bindings, list):
            fitted["Binding"] = [
                {k: v for k, v in b.items() if k != "Swap"} if isinstance(b, dict) else b for b in bindings
            ]
    return fitted


def rollback_parameters(target: Target, prior: Capture) -> dict[str, Any]:
    return {**script_parameters(target), "Prior": prior.to_json(), "Confirm": False}


# --- results ------------------------------------------------------------------------------------


def parse_prepare(result: ScriptResult, *, state_only: bool = False) -> Capture:
    """prepare.ps1's capture. With `state_only` a refusal still counts when it captured the bindings
    (a binding missing after a lost change makes preserve mode refuse, yet its state is what matters)."""
    obj = result.json_object()
    usable = obj is not None and obj.get("outcome") in (CHANGES_PENDING, UNCHANGED)
    if (
        obj is not None
        and state_only
        and Capture(obj).before
        and not any("error" in b for b in Capture(obj).before)
    ):
        usable = True
    if obj is None or not usable:
        raise ScriptFailed(_failure_text(PREPARE, result, obj), {"state": result.state, "result": obj})
    return Capture(obj)


@dataclass(frozen=True)
class Verdict:
    """What a changing script's result means to the client."""

    outcome: str
    summary: str
    result: dict[str, Any] | None
    gap_ms: float | None = None

    @property
    def before(self) -> Capture | None:
        return Capture(self.result) if self.result and self.result.get("before") else None


def _max_gap(obj: dict[str, Any]) -> float | None:
    gaps = [g.get("gap_ms") for g in (obj.get("timings") or {}).get("gaps") or [] if isinstance(g, dict)]
    numbers = [float(g) for g in gaps if isinstance(g, int | float)]
    return max(numbers) if numbers else None


def parse_change(name: str, result: ScriptResult) -> Verdict:
    """apply.ps1 / rollback.ps1: the outcome word, or UNKNOWN when there is no result object."""
    obj = result.json_object()
    if obj is None and _refused_by_session(result):
        # The session could not even parse the script: nothing ran, the host is as before.
        return Verdict("refused", _failure_text(name, result, None), None)
    if obj is None or not isinstance(obj.get("outcome"), str):
        return Verdict(UNKNOWN, _failure_text(name, result, None), None)
    outcome = str(obj["outcome"])
    if outcome in (APPLIED, UNCHANGED, "rolled_back") and result.succeeded:
        changed = [b for b in obj.get("bindings") or [] if isinstance(b, dict) and _path(b) != "none"]
        parts = (
            [describe_apply(obj)]
            if outcome == APPLIED
            else [*map(describe_change, changed), *describe_host_tls(obj)]
        )
        summary = "; ".join(p for p in parts if p)
        return Verdict(outcome, summary or outcome, obj, _max_gap(obj))
    return Verdict(outcome, _failure_text(name, result, obj), obj, _max_gap(obj))


def parse_verify(result: ScriptResult) -> tuple[str, dict[str, Any] | None, str]:
    """(compliant | drift | refused | unknown, result object, one line)."""
    obj = result.json_object()
    if obj is None:
        return UNKNOWN, None, _failure_text(VERIFY, result, None)
    outcome = str(obj.get("outcome"))
    if outcome == COMPLIANT and result.succeeded:
        return COMPLIANT, obj, "; ".join(["every binding as desired", *describe_host_tls(obj)])
    if outcome == DRIFT:
        return DRIFT, obj, describe_differences(obj)
    return outcome, obj, _failure_text(VERIFY, result, obj)


def manual_instruction(record: Path, script_path: str, host: str, prior_file: Path | None) -> str:
    """What a person runs on the host to put the prior bindings back."""
    script = record / script_path
    if prior_file is None:
        return (
            f"on {host}, in an elevated PowerShell, run {script} with -Prior set to this host's prior "
            "state JSON (its 'prior' in the run result) and -Confirm:$false"
        )
    return (
        f"on {host}, in an elevated PowerShell, copy {script} and {prior_file} over and run: "
        f".\\rollback.ps1 -Prior (Get-Content -Raw .\\{prior_file.name}) -Confirm:$false "
        "(it restores the captured bindings and verifies them)"
    )
