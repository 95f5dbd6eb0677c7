"""Bindings -> spec YAML text that `generator.spec.load_spec` accepts. Deterministic, byte for byte.

Written by hand rather than with yaml.dump so that comments can sit next to what they explain (the
provenance header, settings that are not set); every string is double-quoted, so no value can be
read back as another type (a hash of digits as a number, `off` as false).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path

from generator import spec_values
from generator.binding import SETTINGS, KeyKind, SettingValue
from generator.errors import UserError
from generator.importers.certfacts import CertFacts
from generator.importers.extended import as_added, binding_notes
from generator.importers.result import ImportResult
from generator.importers.served import DIFFERS, Served
from generator.importers.warnings import BindingWarning, binding_warnings
from generator.model import Binding, Connection
from generator.remote.connection import is_loopback
from generator.safetext import comment

PLACEHOLDER_HOST = "replace-me.invalid"
_KIND_ORDER = {kind: index for index, kind in enumerate(KeyKind)}
_PLAIN = re.compile(r"^(enable|disable|exact|preserve|netsh|registry)$")


@dataclass(frozen=True)
class TargetDoc:
    host: str
    bindings: tuple[Binding, ...]
    connection: Mapping[str, object] = field(default_factory=dict)
    notes: Mapping[str, Sequence[str]] = field(default_factory=dict)  # binding ("ipport=...") -> comments
    info: Mapping[str, Sequence[str]] = field(default_factory=dict)  # binding -> facts kept as comments


def scalar(value: object) -> str:
    """A YAML scalar that reads back as exactly `value`."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"no spec value is {value!r}")
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return text if _PLAIN.fullmatch(text) else json.dumps(text, ensure_ascii=False)


def sorted_bindings(bindings: Iterable[Binding]) -> tuple[Binding, ...]:
    """Kind order of KeyKind, then key text: the same host gives the same spec whatever the source."""
    return tuple(sorted(bindings, key=lambda b: (_KIND_ORDER[b.key.kind], b.key.value)))


def binding_lines(
    binding: Binding, indent: str = "      ", notes: Sequence[str] = (), info: Sequence[str] = ()
) -> list[str]:
    """The binding's YAML lines; `notes` (warnings) and `info` (facts the spec cannot hold, such as
    netsh's Extended Properties) become comments under its key line, where a reviewer sees them."""
    key: SettingValue = binding.key.port if binding.key.kind is KeyKind.CCS else binding.key.value
    lines = [f"{indent}- {binding.key.kind.value}: {scalar(key)}"]
    lines += [f"{indent}  # WARNING: {comment(' '.join(note.split()))}" for note in notes]
    lines += [f"{indent}  # NOTE: {comment(' '.join(note.split()))}" for note in info]
    lines.append(f"{indent}  mode: {binding.mode}")
    if binding.method != "netsh":
        lines.append(f"{indent}  method: {binding.method}")
    unset = []
    for setting in SETTINGS:
        value = binding.settings.get(setting.name)
        if value is None:
            unset.append(setting.name)
        else:
            lines.append(f"{indent}  {setting.name}: {scalar(value)}")
    if binding.mode == "exact" and unset:
        lines.append(f"{indent}  # not set on the host: {', '.join(unset)}")
    return lines


def connection_lines(connection: Mapping[str, object], indent: str) -> list[str]:
    if not connection:
        return []
    return [f"{indent}connection:"] + [f"{indent}  {k}: {scalar(v)}" for k, v in connection.items()]


@dataclass(frozen=True)
class ChangeNames:
    """`--change-id`, `--title`, `--description` of import and rotate; None keeps what they write."""

    id: str | None = None
    title: str | None = None
    description: str | None = None


NO_NAMES = ChangeNames()


def change_names(change_id: str | None, title: str | None, description: str | None) -> ChangeNames:
    """The options checked by the rules the spec's change.id, title and description follow."""
    checked: list[str | None] = []
    for option, check, value in (
        ("--change-id", spec_values.change_id, change_id),
        ("--title", spec_values.title, title),
        ("--description", spec_values.description, description),
    ):
        try:
            checked.append(None if value is None else check(value) or None)
        except spec_values.Invalid as problem:
            raise UserError(f"{option}: {problem}") from None
    return ChangeNames(*checked)


def spec_connection(host: str, connection: Connection) -> tuple[dict[str, object], list[str]]:
    """The connection a spec written from a live host carries, and a header line on what it leaves out.

    A loopback host is the lab (which listens on loopback only, on a new port each `--port 0` start)
    or this machine: the port that reached it belongs to this session, not to the change, so it is
    not written; every other non-default key is. A remote host's port is written as given."""
    written = non_default_connection(connection)
    if not is_loopback(host) or "port" not in written:
        return written, []
    port = written.pop("port")
    return written, [
        f"connection.port {port} is not written: {host} is loopback (the lab takes a new port each "
        f"start); give --port to plan, apply, verify and rollback, or add `port: {port}` under connection."
    ]


def non_default_connection(connection: Connection) -> dict[str, object]:
    """The connection keys whose value differs from the model's default, in field order."""
    default = Connection()
    out: dict[str, object] = {}
    for item in fields(connection):
        value = getattr(connection, item.name)
        if value is not None and value != getattr(default, item.name):
            out[item.name] = value
    return out


def comment_lines(title: str, items: Sequence[object]) -> list[str]:
    if not items:
        return []
    return [f"# {title}:"] + [f"#   {comment(' '.join(str(item).split()))}" for item in items]


def render_spec(
    change_id: str, title: str, targets: Sequence[TargetDoc], header: Sequence[str], description: str = ""
) -> str:
    # Comments carry host text (certificate subjects, netsh lines): printable only, or the spec
    # would not load (a control character anywhere in YAML is an error).
    lines = [f"# {comment(line)}" if line else "#" for line in header]
    lines += ["version: 1", "change:", f"  id: {scalar(change_id)}", f"  title: {scalar(title)}"]
    if description:
        lines.append(f"  description: {scalar(description)}")
    lines.append("targets:")
    for target in targets:
        lines.append(f"  - host: {scalar(target.host)}")
        lines += connection_lines(target.connection, "    ")
        lines.append("    bindings:")
        for binding in target.bindings:  # one string per binding: a big host is not millions of lines
            name = str(binding.key)
            notes, info = target.notes.get(name, ()), target.info.get(name, ())
            lines.append("\n".join(binding_lines(binding, notes=notes, info=info)))
    return "\n".join(lines) + "\n"


def change_id_for(prefix: str, host: str) -> str:
    """`prefix-host` cut to the spec's change-id shape (letters, digits, . _ -; at most 64)."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{prefix}-{host}").strip("-._")
    return text[:64].rstrip("-._")


def import_warnings(
    result: ImportResult,
    certs: Mapping[str, CertFacts] | None = None,
    now: datetime | None = None,
    served: Sequence[Served] = (),
) -> list[BindingWarning]:
    """Every warning of one import: what the importer found per binding, then the host-level checks,
    and each handshake from the host that did not receive the binding's own certificate."""
    found = [*result.warnings, *binding_warnings(sorted_bindings(result.bindings), certs, now)]
    found += [BindingWarning(s.binding, "tls-served", str(s)) for s in served if s.result in DIFFERS]
    return sorted(found)


def served_summary(served: Sequence[Served]) -> list[str]:
    """One header line about the handshakes from the host, which stand under each binding."""
    if not served:
        return []
    differ = sum(1 for s in served if s.result in DIFFERS)
    return [
        f"# TLS: what a handshake from the host received is a NOTE under each binding; {differ} of "
        f"{len(served)} handshake(s) did not get the binding's own certificate (WARNING)."
    ]


def served_notes(served: Sequence[Served]) -> dict[str, list[str]]:
    """Per binding (kind=key) its handshake lines, as NOTE comments."""
    notes: dict[str, list[str]] = {}
    for entry in served:
        notes.setdefault(entry.binding, []).append(str(entry))
    return notes


def extended_summary(result: ImportResult) -> list[str]:
    """One header line about netsh's Extended Properties blocks, which stand under each binding."""
    if not result.extended:
        return []
    kept = sum(1 for block in result.extended if as_added(block))
    owners = len({block.binding for block in result.extended})
    return [
        f"# Extended Properties: {len(result.extended)} block(s) on {owners} binding(s), each shown as a "
        f"NOTE under its binding; {kept} as a plain `netsh http add sslcert` leaves them, "
        f"{len(result.extended) - kept} that a delete+add would lose (WARNING)."
    ]


def import_spec(
    result: ImportResult,
    host: str | None = None,
    connection: Connection | Mapping[str, object] | None = None,
    certs: Mapping[str, CertFacts] | None = None,
    now: datetime | None = None,
    served: Sequence[Served] = (),
    names: ChangeNames = NO_NAMES,
) -> str:
    """The spec (mode: exact, every setting spelled out) for the bindings of one import.

    `certs` (thumbprint -> facts, from a live host) adds expiry warnings as of `now`; `served` (the
    handshakes from a live host) a NOTE per handshake under its binding, and a warning where the
    certificate received is not the binding's own. A live host's `connection` is written as
    `spec_connection` says; `names` replaces the written change id, title and description.
    """
    name = host or PLACEHOLDER_HOST
    left_out: list[str] = []
    if isinstance(connection, Connection):
        connection, left_out = spec_connection(name, connection)
    bindings = sorted_bindings(result.bindings)
    source = Path(result.source).name
    if result.sha256:
        header = [
            f"Imported by sslbind from {source} ({result.format}, {result.encoding}).",
            f"Source sha256: {result.sha256}",
        ]
    else:
        header = [f"Imported by sslbind from host {name} over PowerShell Remoting ({result.format})."]
    header.append(
        "mode: exact with every setting spelled out: applying it re-creates each binding as captured."
    )
    if host is None:
        header.append(f"The host name is a placeholder: replace {PLACEHOLDER_HOST} before rendering.")
    header += left_out
    if "unverified" in result.format:
        header.append("The label table used is a constructed translation: check every value below.")
    if not result.format.startswith("netsh"):  # the registry holds no Extended Properties
        header.append(
            "Extended Properties (HTTP/2 window and settings limits) are not in this source: "
            "`netsh http show sslcert` shows them; a delete+add resets them."
        )
    carried = {(block.line, block.binding) for block in result.extended}  # shown under their binding
    body = [
        *comment_lines(
            "Not imported (review before applying)",
            [r for r in result.not_imported if (r.line, r.binding) not in carried],
        ),
        *extended_summary(result),
        *comment_lines("Inferred, not read from a known label", result.inferred),
        *served_summary(served),
        *comment_lines("Warnings", import_warnings(result, certs, now, served)),
    ]
    header += [line[2:] for line in body]
    title = f"Adopt the SSL bindings of {name} as imported from {source}"
    notes: dict[str, list[str]] = {}
    for warning in result.warnings:  # also next to the binding: the reason a change to it is refused
        notes.setdefault(warning.binding, []).append(warning.message)
    info = binding_notes(result.extended)
    for binding, lines in served_notes(served).items():
        info[binding] = [*info.get(binding, ()), *lines]
    target = TargetDoc(name, bindings, connection or {}, notes, info)
    change_id = names.id or change_id_for("import", name)
    return render_spec(change_id, names.title or title, [target], header, names.description or "")
