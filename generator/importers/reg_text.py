"""Saved registry output of the Ssl*BindingInfo keys -> bindings, decoded through generator.binding.

Two inputs (reference 4.6 and regedit's export format):
- `reg query HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters /s`: a key line, then
  `    <name>    <REG_TYPE>    <data>` lines; REG_BINARY is uppercase contiguous hex, REG_DWORD `0x...`.
- a `.reg` export (`Windows Registry Editor Version 5.00`, usually UTF-16LE): `[key]`, then
  `"name"=hex:aa,bb,\\` (continued on the next line), `dword:0000000a` or `"string"`.
Registry names are not localized, so unlike netsh text nothing here is guessed from labels; any value
the table in generator.binding does not know is refused, naming the binding and the value. Bits no
netsh parameter sets are read and reported per binding (generator/importers/extras.py), not refused.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NoReturn

from generator.binding import (
    CHECK_MODE_FRESHNESS,
    CHECK_MODE_VALUE,
    FLAGS_VALUE,
    KNOWN_CHECK_MODE_BITS,
    KNOWN_FLAG_BITS,
    REGISTRY_SUBKEY,
    SETTINGS,
    UINT32_MAX,
    KeyKind,
    SettingValue,
    decode_check_mode,
    decode_flags,
)
from generator.errors import IMPORT_MAX_BYTES, read_input
from generator.importers import values
from generator.importers.decode import DecodeError, decode_output, lines_of
from generator.importers.extras import freshness_warning, registry_extras, warnings_for
from generator.importers.result import ExtraSetting, ImportInputError, ImportResult, Remark
from generator.importers.warnings import BindingWarning
from generator.model import Binding, BindingKey

RegData = bytes | int | str
HOSTNAME_PORT_VALUE = "HostnamePort"
_PARAMETERS = re.compile(
    r"^(?:HKEY_LOCAL_MACHINE|HKLM)\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters(?:\\(.*))?$",
    re.IGNORECASE,
)
_KIND_BY_SUBKEY = {name.casefold(): kind for kind, name in REGISTRY_SUBKEY.items()}
_TYPE_TOKEN = re.compile(r" {4}(REG_[A-Z_]+)(?= {4}|$)")
_SETTING_BY_VALUE = {s.registry_value: s for s in SETTINGS if s.registry_value}
_EXPECTED_TYPE = {
    **{s.registry_value: "REG_BINARY" for s in SETTINGS if s.registry_value and s.kind in ("hash", "guid")},
    **{s.registry_value: "REG_SZ" for s in SETTINGS if s.registry_value and s.kind in ("store", "ctlid")},
    **{s.registry_value: "REG_DWORD" for s in SETTINGS if s.registry_value and s.kind == "uint32"},
    CHECK_MODE_VALUE: "REG_DWORD",
    FLAGS_VALUE: "REG_DWORD",
    HOSTNAME_PORT_VALUE: "REG_SZ",
}
_REG_HEADERS = ("Windows Registry Editor Version 5.00", "REGEDIT4")


@dataclass
class RegKey:
    path: str
    line: int
    values: dict[str, tuple[int, str, RegData]] = field(default_factory=dict)  # name -> (line, type, data)


@dataclass
class _Read:
    keys: list[RegKey] = field(default_factory=list)
    remarks: list[Remark] = field(default_factory=list)
    # An unreadable line since the last key line: it may be a damaged key line (a `[` lost), so a
    # value after it may belong to a key we never saw. (line, text) until the next key line.
    broken: tuple[int, str] | None = None

    def key(self, path: str, number: int) -> None:
        self.keys.append(RegKey(path, number))
        self.broken = None

    def unreadable(self, number: int, line: str) -> None:
        self.remarks.append(Remark(number, None, line, "not a key or value line, not imported"))
        if self.keys:  # before any key line there is no key a value could be wrongly given to
            self.broken = self.broken or (number, line.strip())

    def placeable(self, source: str, number: int) -> None:
        """Refuse a value line that an unreadable line separates from its key line (F9)."""
        if self.broken is None:
            return
        line, text = self.broken
        _refuse(
            source,
            number,
            f"this value cannot be placed: line {line} {_shown(text)!r} is neither a key nor a value "
            f"line (a damaged key line?), so it may not belong to {self.keys[-1].path} (line "
            f"{self.keys[-1].line}); repair line {line} or remove that key's lines",
        )


def _shown(text: str, room: int = 120) -> str:
    """A line short enough for a one-line message, keeping its end (where a key names its binding)."""
    return text if len(text) <= room else text[: room // 3] + "..." + text[-(room - room // 3) :]


def _refuse(source: str, line: int | None, problem: str, binding: str | None = None) -> NoReturn:
    raise ImportInputError(source, line, problem, binding)


# --- reg query -----------------------------------------------------------------------------------


def read_reg_query(text: str, source: str) -> _Read:
    read = _Read()
    for number, line in enumerate(lines_of(text), start=1):
        if not line.strip():
            continue
        if line.startswith((" ", "\t")):
            if not read.keys:
                _refuse(
                    source, number, "indented line before any key line; is this `reg query ... /s` output?"
                )
            read.placeable(source, number)
            if _holds_binding(read.keys[-1]):  # values of other keys are not read, so cannot fail
                name, kind, data = _split_value(source, number, line)
                _add_value(source, read.keys[-1], number, name, kind, data)
        elif line.upper().startswith(("HKEY_", "HKLM\\")):
            read.key(line.strip(), number)
        elif line.startswith("ERROR:"):
            _refuse(source, number, f"reg.exe reported {line.strip()!r}")
        else:
            read.unreadable(number, line)
    return read


def _split_value(source: str, number: int, line: str) -> tuple[str, str, RegData]:
    """Name, type and data, split on the type token from the right (names may hold spaces)."""
    tokens = list(_TYPE_TOKEN.finditer(line))
    if not tokens:
        _refuse(source, number, f"no REG_ type token in {line.strip()!r}")
    if len(tokens) > 1:
        _refuse(source, number, f"more than one REG_ type token in {line.strip()!r}; cannot split it")
    token = tokens[0]
    name, kind, data = line[: token.start()].strip(), token.group(1), line[token.end() :].strip()
    try:
        if kind == "REG_BINARY":
            return name, kind, bytes.fromhex(data)
        if kind in ("REG_DWORD", "REG_QWORD"):
            return name, kind, int(data, 16)
    except ValueError:
        _refuse(source, number, f"{name}: {kind} data {data!r} is not hex")
    return name, kind, data


def _add_value(source: str, key: RegKey, number: int, name: str, kind: str, data: RegData) -> None:
    if name in key.values:
        _refuse(source, number, f"value {name!r} twice under {key.path}")
    key.values[name] = (number, kind, data)


# --- .reg export ---------------------------------------------------------------------------------

_REG_VALUE = re.compile(r'^(?:"(?P<name>(?:[^"\\]|\\.)*)"|(?P<default>@))=(?P<data>.*)$')
_HEX_TYPES = {"hex": "REG_BINARY", "hex(0)": "REG_NONE", "hex(2)": "REG_EXPAND_SZ", "hex(7)": "REG_MULTI_SZ"}


def read_reg_export(text: str, source: str) -> _Read:
    read = _Read()
    for number, line in _logical_lines(text):
        if not line or line.startswith(";") or line in _REG_HEADERS:
            continue
        if line.startswith("[-"):
            _refuse(source, number, f"{line}: a deletion, not an export")
        if line.startswith("[") and line.endswith("]"):
            read.key(line[1:-1], number)
            continue
        found = _REG_VALUE.match(line)
        if found is None or not read.keys:
            read.unreadable(number, line)
            continue
        read.placeable(source, number)
        if not _holds_binding(read.keys[-1]):
            continue
        name = "(Default)" if found.group("default") else _unescape(found.group("name"))
        kind, data = _export_data(source, number, name, found.group("data"))
        _add_value(source, read.keys[-1], number, name, kind, data)
    return read


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with `\\` continuations joined, each numbered by its first physical line."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(lines_of(text), start=1):
        line = raw.strip()
        if pending is not None:
            start, head = pending
            line = head + line
            number = start
        if line.endswith("\\") and re.match(r'^(?:"|@)', line) and "=hex" in line:
            pending = (number, line[:-1])
            continue
        pending = None
        out.append((number, line))
    if pending is not None:
        out.append(pending)
    return out


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _export_data(source: str, number: int, name: str, data: str) -> tuple[str, RegData]:
    if data == "-":
        _refuse(source, number, f"{name}: a deletion, not an export")
    if data.startswith('"') and data.endswith('"') and len(data) >= 2:
        return "REG_SZ", _unescape(data[1:-1])
    if data.lower().startswith("dword:"):
        try:
            return "REG_DWORD", int(data[6:], 16)
        except ValueError:
            _refuse(source, number, f"{name}: dword data {data[6:]!r} is not hex")
    prefix, sep, body = data.partition(":")
    if sep and prefix.lower() in _HEX_TYPES:
        try:
            raw = bytes.fromhex(body.replace(",", "").replace(" ", ""))
        except ValueError:
            _refuse(source, number, f"{name}: hex data is malformed")
        kind = _HEX_TYPES[prefix.lower()]
        if kind in ("REG_EXPAND_SZ", "REG_MULTI_SZ"):
            return kind, raw.decode("utf-16-le", errors="replace").rstrip("\x00")
        return kind, raw
    _refuse(source, number, f"{name}: cannot read value data {data[:40]!r}")


# --- keys -> bindings ----------------------------------------------------------------------------


Place = tuple[KeyKind, str] | Literal["outside", "container", "deeper"]


def _binding_place(path: str) -> Place:
    """(kind, child name) for a binding key, else where the key sits relative to the binding keys."""
    found = _PARAMETERS.match(path)
    parts = found.group(1).split("\\") if found and found.group(1) else []
    kind = _KIND_BY_SUBKEY.get(parts[0].casefold()) if parts else None
    if kind is None:
        return "outside"
    if len(parts) == 1:
        return "container"
    if len(parts) > 2:
        return "deeper"
    return kind, parts[1]


def _holds_binding(key: RegKey) -> bool:
    return isinstance(_binding_place(key.path), tuple)


def _is_empty_default(name: str, data: RegData) -> bool:
    """The key's unnamed value, `(Default)` (localized by reg.exe), when it holds nothing."""
    return name.startswith("(") and name.endswith(")") and (data in ("", b"") or str(data).startswith("("))


@dataclass
class _Decoded:
    bindings: list[Binding] = field(default_factory=list)
    remarks: list[Remark] = field(default_factory=list)
    extras: list[ExtraSetting] = field(default_factory=list)
    warnings: list[BindingWarning] = field(default_factory=list)


def _binding(source: str, key: RegKey, kind: KeyKind, child: str, decoded: _Decoded) -> Binding:
    ident = _identity(source, key, kind, child)
    name = f"{kind.value}={ident}"
    for value, (line, reg_type, data) in key.values.items():
        if _is_empty_default(value, data):
            continue
        expected = _EXPECTED_TYPE.get(value)
        if expected is None:
            _refuse(source, line, f"unknown registry value {value!r}; cannot say what it does", name)
        if reg_type != expected:
            _refuse(source, line, f"{value} is {reg_type}, expected {expected}", name)
    settings = _settings(source, key, kind, name)
    _bits(key, name, settings, decoded)
    ordered = {s.name: settings[s.name] for s in SETTINGS if s.name in settings}  # in table order
    return Binding(BindingKey(kind, ident), ordered, mode="exact", line=key.line)


def _identity(source: str, key: RegKey, kind: KeyKind, child: str) -> str:
    hostport = key.values.get(HOSTNAME_PORT_VALUE)
    try:
        if kind in (KeyKind.HOSTNAMEPORT, KeyKind.SCOPEDCCS):
            if hostport is None:
                _refuse(source, key.line, f"{kind.value} key {child!r} has no {HOSTNAME_PORT_VALUE} value")
            return values.binding_key(kind, str(hostport[2]))
        if hostport is not None:
            _refuse(source, hostport[0], f"{HOSTNAME_PORT_VALUE} under a {kind.value} key")
        if kind is KeyKind.CCS:
            return values.binding_key(kind, child.rpartition(":")[2])
        return values.binding_key(kind, child)
    except ValueError as error:
        _refuse(source, key.line, f"binding key: {error}")


def _settings(source: str, key: RegKey, kind: KeyKind, name: str) -> dict[str, SettingValue]:
    def get(value: str) -> tuple[int, RegData] | None:
        found = key.values.get(value)
        return (found[0], found[2]) if found else None

    out: dict[str, SettingValue] = {}
    for reg_name, setting in _SETTING_BY_VALUE.items():
        found = get(reg_name)
        if found is None:
            if setting.default is not None:
                out[setting.name] = setting.default
            continue
        line, data = found
        try:
            out[setting.name] = _setting(setting.name, data)
        except ValueError as error:
            _refuse(source, line, f"{reg_name}: {error}", name)
    if "certhash" not in out and kind not in (KeyKind.CCS, KeyKind.SCOPEDCCS):
        _refuse(source, key.line, "no SslCertHash value; this kind of binding needs one", name)
    if "appid" not in out:
        _refuse(source, key.line, "no AppId value; netsh cannot re-add a binding without one", name)
    return out


def _bits(key: RegKey, name: str, out: dict[str, SettingValue], decoded: _Decoded) -> None:
    """Decode the two bit fields into `out`; bits no netsh parameter sets become extras and warnings."""
    for bits_name, known, decode in (
        (CHECK_MODE_VALUE, KNOWN_CHECK_MODE_BITS, decode_check_mode),
        (FLAGS_VALUE, KNOWN_FLAG_BITS, decode_flags),
    ):
        found = key.values.get(bits_name)
        number = int(found[2]) & UINT32_MAX if found else 0
        line = (found[0] if found else key.line) or None
        out.update(decode(number & known))
        extras = registry_extras(name, bits_name, number, line)
        decoded.extras += extras
        decoded.warnings += warnings_for(extras)
    found = key.values.get(CHECK_MODE_VALUE)
    bit_set = bool(found and int(found[2]) & CHECK_MODE_FRESHNESS)
    where = f"line {found[0]}" if found and found[0] else ""
    warning = freshness_warning(name, bit_set, int(out.get("revocationfreshnesstime", 0)), where)
    if warning is not None:
        decoded.warnings.append(warning)


def _setting(name: str, data: RegData) -> SettingValue:
    if isinstance(data, bytes):
        size = {"certhash": 20, "appid": 16}[name]
        if len(data) != size:
            raise ValueError(f"{len(data)} bytes, expected {size}")
        if name == "appid":
            return "{" + str(uuid.UUID(bytes_le=data)) + "}"  # GUID struct: first three fields LE
        return data.hex()
    return values.setting_value(name, str(data))


def bindings_from_keys(source: str, read: _Read) -> _Decoded:
    decoded = _Decoded(remarks=list(read.remarks))
    seen: dict[BindingKey, int] = {}
    ignored = 0
    for key in read.keys:
        place = _binding_place(key.path)
        if place == "outside":
            ignored += 1
        elif place == "deeper":
            decoded.remarks.append(Remark(key.line, None, key.path, "key below a binding key, not imported"))
        elif place == "container":
            continue
        else:
            binding = _binding(source, key, *place, decoded)
            if binding.key in seen:
                problem = f"the same binding appears twice (first at line {seen[binding.key]})"
                _refuse(source, key.line, problem, str(binding.key))
            seen[binding.key] = key.line
            decoded.bindings.append(binding)
    if ignored:
        decoded.remarks.append(Remark(None, None, f"{ignored} key(s)", "outside Ssl*BindingInfo: ignored"))
    if not decoded.bindings:
        _refuse(source, None, "no key under HTTP\\Parameters\\Ssl*BindingInfo\\<binding> found")
    return decoded


def parse_reg(data: bytes, source: str, encoding: str | None = None) -> ImportResult:
    """Bindings in saved `reg query ... /s` output or a .reg export (`data` as read from the file)."""

    def score(text: str) -> int:
        return sum(1 for line in lines_of(text) if "REG_" in line or line.startswith(("[", "HKEY_")))

    try:
        decoded = decode_output(data, score, encoding)
    except DecodeError as error:
        raise ImportInputError(source, None, f"{error}; pass --encoding") from error
    first = next((line.strip() for line in lines_of(decoded.text) if line.strip()), "")
    is_export = first in _REG_HEADERS
    read = read_reg_export(decoded.text, source) if is_export else read_reg_query(decoded.text, source)
    found = bindings_from_keys(source, read)
    return ImportResult(
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        format=".reg export" if is_export else "reg query",
        encoding=decoded.encoding,
        bindings=tuple(found.bindings),
        not_imported=tuple(found.remarks),
        extras=tuple(found.extras),
        warnings=tuple(sorted(found.warnings)),
    )


def parse_registry_values(
    keys: Mapping[str, Mapping[str, RegData]], source: str, describe: str = "registry values"
) -> ImportResult:
    """Bindings from typed registry values as a live capture returns them (the hook for `--host`).

    `keys` maps a full key path (`HKLM\\SYSTEM\\...\\SslBindingInfo\\0.0.0.0:443`) to its values:
    bytes for REG_BINARY, int for REG_DWORD, str for REG_SZ, exactly as Get-ItemProperty gives them.
    """
    read = _Read()
    for path, given in keys.items():
        key = RegKey(path, 0)  # no lines: messages name the host, key and value instead
        for name, data in given.items():
            kind = (
                "REG_BINARY"
                if isinstance(data, bytes)
                else "REG_DWORD"
                if isinstance(data, int)
                else "REG_SZ"
            )
            key.values[name] = (0, kind, data)
        read.keys.append(key)
    found = bindings_from_keys(source, read)
    return ImportResult(
        source,
        "",
        describe,
        "-",
        tuple(found.bindings),
        tuple(found.remarks),
        extras=tuple(found.extras),
        warnings=tuple(sorted(found.warnings)),
    )


def read_reg(path: Path, encoding: str | None = None) -> ImportResult:
    data = read_input(path, IMPORT_MAX_BYTES, "an import input")
    return parse_reg(data, str(path), encoding)
