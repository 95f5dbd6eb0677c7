"""`rotate --spec`: the user's own spec with the certificate swapped, everything else kept as typed.

The spec is the user's desired state and the reviewer's document, so the rotation edits its text
rather than writing a new one: only the `certhash` values that name the old certificate (and
`certstorename`, with `--to-store`), the change id and the title change. Mode, defaults, connection,
every other setting, comments, key order and quoting stay byte for byte. The edited text is then
parsed again and compared binding by binding with the original: anything but the intended change
(a value shared in `defaults` with a binding that must keep it, say) refuses the rotation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from generator.errors import SPEC_MAX_BYTES, InputFileError, SpecError, read_input
from generator.importers.rotate import (
    HostBinding,
    RotationError,
    RotationPlan,
    plan_rotation,
    rotation_report,
)
from generator.importers.spec_writer import NO_NAMES, ChangeNames, scalar
from generator.model import Binding, Change
from generator.spec import parse_spec
from generator.spec_values import MAX_TITLE
from generator.spec_yaml import decode

_ROTATED_ID = re.compile(r"-rotate-[0-9a-f]{8}$")  # a spec rotated before: replace, not stack
_MAX_ID = 64
# libyaml when present, as spec_yaml reads specs: its marks index characters like PyYAML's.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class SpecRotation:
    text: str  # the rotated spec
    plan: RotationPlan
    change_id: str
    title: str
    moved_store: tuple[HostBinding, ...]  # bindings whose certstorename --to-store changed


def rotate_spec(
    data: bytes,
    path: str,
    old: str,
    new: str,
    to_store: str | None = None,
    names: ChangeNames = NO_NAMES,
) -> SpecRotation:
    """The spec in `data` with OLD swapped for NEW on every binding using it (see the module doc);
    `names` sets the change id, title and description instead of the derived ones."""
    change = parse_spec(data, path)
    plan = plan_rotation(change.targets, old, new)
    text = decode(data, path)
    # JSON indented with tabs is read with spaces (spec_yaml): one character for one, so the
    # positions still point into `text`.
    untabbed = text.replace("\t", " ") if text.lstrip().startswith("{") else text
    root = yaml.compose(untabbed, _LOADER)
    if root is None:  # pragma: no cover - parse_spec refuses an empty spec first
        raise RotationError(f"{path}: is empty")
    change_id, title = _new_names(change, plan)
    change_id, title = names.id or change_id, names.title or title
    edits = [
        _replace(text, _value(root, "change", "id"), change_id),
        _replace(text, _value(root, "change", "title"), title),
    ]
    if names.description is not None:
        edits.append(_description_edit(text, _value(root, "change"), names.description))
    rotating = {id(item.binding) for item in plan.changes}
    moved: list[HostBinding] = []
    targets = _value(root, "targets").value
    for target, target_node in zip(change.targets, targets, strict=True):
        bindings = _value(target_node, "bindings").value
        for binding, node in zip(target.bindings, bindings, strict=True):
            if id(binding) not in rotating:
                continue
            edits.append(_certhash_edit(text, root, node, plan.new, path, HostBinding(target.host, binding)))
            store = binding.settings.get("certstorename")
            if to_store is not None and str(store).lower() != to_store.lower():
                edits.append(_store_edit(text, node, to_store))
                moved.append(HostBinding(target.host, binding))
    rotated = ("\ufeff" if data.startswith(b"\xef\xbb\xbf") else "") + _apply(text, edits)
    after = parse_spec(rotated.encode("utf-8"), path)
    _check_only_intended(change, after, plan, to_store, path, names.description)
    return SpecRotation(rotated, plan, change_id, title, tuple(moved))


def _description_edit(text: str, change: yaml.Node, description: str) -> _Edit:
    """Set change.description: its own value replaced, or a new first entry of `change:` in the
    mapping's style (a block line at the keys' indentation, or a flow entry)."""
    own = _get(change, "description")
    if isinstance(own, yaml.ScalarNode):
        return _replace(text, own, description)
    assert isinstance(change, yaml.MappingNode)
    first = change.value[0][0]
    at = first.start_mark.index
    if change.flow_style:
        return _Edit(at, at, f'"description": {json.dumps(description)}, ')
    return _Edit(at, at, f"description: {json.dumps(description)}\n{' ' * first.start_mark.column}")


def _new_names(change: Change, plan: RotationPlan) -> tuple[str, str]:
    suffix = f"-rotate-{plan.new[:8]}"
    base = _ROTATED_ID.sub("", change.id)[: _MAX_ID - len(suffix)].rstrip("-._")
    head = f"Rotate certificate {plan.old[:8]} to {plan.new[:8]} on {len(plan.changes)} binding(s): "
    title = head + change.title
    if len(title) > MAX_TITLE:
        title = title[: MAX_TITLE - 3].rstrip() + "..."
    return base + suffix, title


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found: yaml.Node = value_node
            return found
    return None


def _value(node: yaml.Node, *keys: str) -> Any:
    """The node under `keys`; parse_spec has validated the shape, so it is there."""
    for key in keys:
        found = _get(node, key)
        if found is None:  # pragma: no cover - parse_spec refuses such a spec first
            raise RotationError(f"spec has no {'.'.join(keys)}")
        node = found
    return node


def _replace(text: str, node: yaml.ScalarNode, value: str) -> _Edit:
    """Replace a scalar in its own quoting style (a plain one stays plain when YAML reads the new
    value back as the same string)."""
    if node.style == "'":
        written = "'" + value.replace("'", "''") + "'"
    elif node.style == '"':
        written = json.dumps(value)
    elif node.style in ("|", ">"):  # the span ends after the block's line break: keep it
        span = text[node.start_mark.index : node.end_mark.index]
        written = scalar(value) + span[len(span.rstrip("\r\n")) :]
    else:
        written = _written(value)
    return _Edit(node.start_mark.index, node.end_mark.index, written)


def _written(value: str) -> str:
    return value if _plain_safe(value) else scalar(value)


def _plain_safe(value: str) -> bool:
    """Written plain, `value` reads back as this very string (not a number, bool or date)."""
    return bool(_PLAIN_WORD.fullmatch(value)) and yaml.safe_load(value) == value


def _certhash_edit(
    text: str, root: yaml.Node, binding: yaml.Node, new: str, path: str, item: HostBinding
) -> _Edit:
    """The binding's own certhash, else the one in `defaults` it inherits."""
    node = _get(binding, "certhash") or _get(_get(root, "defaults"), "certhash")
    if not isinstance(node, yaml.ScalarNode) or node.style in ("|", ">"):
        raise RotationError(f"{path}: {item}: write its certhash as one plain or quoted value, then rotate")
    return _replace(text, node, new.upper() if node.value.isupper() else new)


def _store_edit(text: str, binding: yaml.Node, store: str) -> _Edit:
    """Set the binding's own certstorename; a binding that inherits it gets its own line after its
    certhash (or its key), in the binding's style."""
    own = _get(binding, "certstorename")
    if isinstance(own, yaml.ScalarNode):
        return _replace(text, own, store)
    assert isinstance(binding, yaml.MappingNode)
    key_node, after = next(((k, v) for k, v in binding.value if k.value == "certhash"), binding.value[0])
    entry = f"certstorename: {_written(store)}"
    if binding.flow_style:
        return _Edit(after.end_mark.index, after.end_mark.index, f", {entry}")
    line_end = text.find("\n", after.end_mark.index)
    line_end = len(text) if line_end < 0 else line_end
    newline = "\r\n" if text[line_end - 1 : line_end] == "\r" else "\n"
    at = line_end - 1 if newline == "\r\n" else line_end
    return _Edit(at, at, f"{newline}{' ' * key_node.start_mark.column}{entry}")


def _apply(text: str, edits: list[_Edit]) -> str:
    """`text` with every edit made, in one pass (edits never overlap; an insertion and a
    replacement may meet at one position, the replacement first)."""
    unique = sorted({(e.start, e.end): e for e in edits}.values(), key=lambda e: (e.start, e.end))
    pieces, at = [], 0
    for edit in unique:
        pieces += [text[at : edit.start], edit.text]
        at = edit.end
    pieces.append(text[at:])
    return "".join(pieces)


def _comparable(binding: Binding) -> Binding:
    return replace(binding, line=0)


def _check_only_intended(
    before: Change,
    after: Change,
    plan: RotationPlan,
    to_store: str | None,
    path: str,
    description: str | None = None,
) -> None:
    """The edited spec must be the original with exactly the planned bindings rotated (and the
    description asked for)."""
    rotating = {id(item.binding) for item in plan.changes}
    same_shape = len(before.targets) == len(after.targets) and all(
        a.host == b.host and a.connection == b.connection and len(a.bindings) == len(b.bindings)
        for a, b in zip(before.targets, after.targets, strict=True)
    )
    described = before.description if description is None else description
    if not same_shape or after.description != described:  # pragma: no cover - edits touch no such key
        raise RotationError(f"{path}: rotating would change more than certificates; edit the spec by hand")
    for target_before, target_after in zip(before.targets, after.targets, strict=True):
        for b, a in zip(target_before.bindings, target_after.bindings, strict=True):
            expected = b
            if id(b) in rotating:
                settings = {**b.settings, "certhash": plan.new}
                if to_store is not None:
                    settings["certstorename"] = _same_store(b.settings.get("certstorename"), to_store)
                expected = replace(b, settings=settings)
            if _comparable(expected) != _comparable(a):
                raise RotationError(
                    f"{path}: {target_before.host} {b.key}: rotating would also change this binding "
                    "(its certhash comes from defaults shared with it); set certhash on each binding "
                    "that uses the old certificate, then rotate"
                )


def _same_store(current: object, to_store: str) -> str:
    return str(current) if current is not None and str(current).lower() == to_store.lower() else to_store


def rotate_spec_file(
    path: Path, old: str, new: str, to_store: str | None = None, names: ChangeNames = NO_NAMES
) -> SpecRotation:
    """`rotate_spec` on the file at `path`, read like every spec (size cap, no FIFOs)."""
    try:
        data = read_input(path, SPEC_MAX_BYTES, "a spec")
    except InputFileError as error:  # in the spec's own message shape: file, key, problem
        raise SpecError(str(path), None, "file", error.problem) from None
    return rotate_spec(data, str(path), old, new, to_store, names)


def spec_rotation_report(rotation: SpecRotation, to_store: str | None) -> list[str]:
    lines = rotation_report(rotation.plan)
    lines += [f"store  {item}: certstorename -> {to_store}" for item in rotation.moved_store]
    lines.append(
        f"kept: mode, defaults, connection and every other setting as in the spec; "
        f"change id {rotation.change_id}"
    )
    return lines
