"""The latest plan of a record as the report shows it: per host and binding, before -> after and commands.

A plan is JSON the client wrote (`sslbind plan`); each host carries prepare.ps1's capture, whose
`bindings[]` hold the path (update, replace, add, set-registry), the exact netsh commands and the
per-setting differences. Anything missing or of the wrong type is shown as absent, never guessed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generator.errors import NotJsonError, load_json, read_input
from generator.remote.recordio import PLAN_MAX_BYTES
from generator.report.model import Plan, PlannedBinding, PlannedHost, SettingChange
from generator.safetext import shown

ABSENT = "(not set)"
NO_BINDING = "(no binding)"


def text(value: object) -> str:
    """A setting's value as the page shows it."""
    if value is None:
        return ABSENT
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _strings(value: object) -> tuple[str, ...]:
    return tuple(shown(v) for v in value) if isinstance(value, list) else ()


def setting_changes(binding: dict[str, Any]) -> tuple[SettingChange, ...]:
    """prepare.ps1's differences; for a binding that does not exist yet, every setting it gets."""
    found = tuple(
        SettingChange(str(d.get("setting")), text(d.get("actual")), text(d.get("expected")))
        for d in _dicts(binding.get("differences"))
    )
    desired = binding.get("desired")
    if found or binding.get("exists") is not False or not isinstance(desired, dict):
        return found
    return tuple(
        SettingChange(str(name), NO_BINDING, text(value))
        for name, value in sorted(desired.items())
        if value is not None
    )


def planned_binding(binding: dict[str, Any]) -> PlannedBinding:
    restorable = binding.get("restorable")
    undo = binding.get("undo_problem")
    return PlannedBinding(
        binding=str(binding.get("binding") or binding.get("key") or "?"),
        path=str(binding.get("path") or "none"),
        swap=str(binding.get("swap") or ""),
        changes=setting_changes(binding),
        commands=_strings(binding.get("commands")),
        restorable=restorable if isinstance(restorable, bool) else None,
        undo_problem=shown(undo) if undo else None,
    )


def planned_host(entry: dict[str, Any]) -> PlannedHost:
    capture = entry.get("capture")
    bindings = _dicts(capture.get("bindings")) if isinstance(capture, dict) else []
    summary = entry.get("summary") or entry.get("error") or ""
    return PlannedHost(
        host=str(entry.get("host") or "?"),
        status=str(entry.get("status") or "unknown"),
        summary=shown(summary),
        bindings=tuple(planned_binding(b) for b in bindings),
    )


def read_plan(path: Path) -> Plan:
    """One plan file. A FIFO or device (refused unopened), a file over the cap, text that is not
    UTF-8 or JSON nested too deeply is one line, exit 2; a file that is not a plan gives a Plan
    naming the problem (the page says so)."""
    name = f"plans/{path.name}"
    try:
        document = load_json(read_input(path, PLAN_MAX_BYTES, "a plan"), path, "a plan")
    except NotJsonError as error:
        return Plan(name, "", "", (), error.problem)
    if not isinstance(document, dict):
        return Plan(name, "", "", (), "is not a JSON object")
    if not isinstance(document.get("hosts"), list):
        return Plan(name, "", "", (), "is not an sslbind plan (it has no hosts list)")
    return Plan(
        name=name,
        started_at=str(document.get("started_at") or ""),
        finished_at=str(document.get("finished_at") or ""),
        hosts=tuple(planned_host(h) for h in _dicts(document.get("hosts"))),
    )
