"""HTTP.sys's registry view of the bindings (`HKLM:\\...\\HTTP\\Parameters\\Ssl*BindingInfo`).

Values are derived from the binding's settings with generator.binding's table and encoders, so a
value at its default is absent, exactly as HTTP.sys leaves it. A binding entry may also carry a
`registry` object of raw values (`{"DefaultFlags": 8192}`; binary as `"hex:…"`) that override the
derived ones, for bindings that netsh could not have written.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from generator.binding import (
    CHECK_MODE_VALUE,
    FLAGS_VALUE,
    KNOWN_CHECK_MODE_BITS,
    KNOWN_FLAG_BITS,
    REGISTRY_ROOT,
    REGISTRY_SUBKEY,
    SETTINGS,
    SETTINGS_BY_NAME,
    UINT32_MAX,
    BitDecodeError,
    KeyKind,
    SettingValue,
    decode_check_mode,
    decode_flags,
    encode_check_mode,
    encode_flags,
)
from generator.lab.state import State, binding_key

NATIVE_ROOT = "HKEY_LOCAL_MACHINE" + REGISTRY_ROOT[len("HKLM:") :]
PROVIDER = "Microsoft.PowerShell.Core\\Registry::"
HOSTNAME_VALUE = "HostnamePort"
_SNI_NAMESPACE = uuid.UUID("6f1c5a52-3c55-4d5e-9a43-5b1f0c7d2a11")
# Forms a script may use for the same key: drive, provider-qualified, or native.
_PREFIXES = re.compile(
    r"^(?:(?:Microsoft\.PowerShell\.Core\\)?Registry::)?(?:HKLM:|HKEY_LOCAL_MACHINE)(?=\\|$)", re.IGNORECASE
)


@dataclass
class RegValue:
    name: str
    kind: str  # "binary" (hex text), "dword" or "string"
    value: str | int


@dataclass
class RegKey:
    native: str  # HKEY_LOCAL_MACHINE\...
    child: str
    values: list[RegValue] = field(default_factory=list)
    subkeys: int = 0
    binding: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        parent = self.native.rsplit("\\", 1)[0]
        return {
            "type": "regkey",
            "name": self.native,
            "child": self.child,
            "pspath": PROVIDER + self.native,
            "parent_pspath": PROVIDER + parent,
            "subkeys": self.subkeys,
            "values": [{"name": v.name, "kind": v.kind, "value": _as_read(v)} for v in self.values],
        }


def _as_read(value: RegValue) -> str | int:
    # PowerShell reads a REG_DWORD as Int32: 0x80000000 and above come back negative, as on Windows.
    if value.kind == "dword" and isinstance(value.value, int) and value.value > 0x7FFFFFFF:
        return value.value - (UINT32_MAX + 1)
    return value.value


def settings_of(entry: dict[str, Any]) -> dict[str, SettingValue]:
    return {name: value for name, value in entry.items() if name in SETTINGS_BY_NAME}


def child_name(kind: KeyKind, key: str) -> str:
    """Subkey name: `<ip>:<port>` for IP bindings, opaque for hostname ones (scripts read HostnamePort)."""
    if kind is KeyKind.IPPORT:
        return key
    if kind is KeyKind.CCS:
        return f"0.0.0.0:{key}"
    return "{" + str(uuid.uuid5(_SNI_NAMESPACE, f"{kind.value}:{key.lower()}")) + "}"


def _setting_value(name: str, value: SettingValue) -> RegValue | None:
    setting = SETTINGS_BY_NAME[name]
    assert setting.registry_value is not None
    if setting.kind == "hash":
        return RegValue(setting.registry_value, "binary", str(value).lower())
    if setting.kind == "guid":
        return RegValue(setting.registry_value, "binary", uuid.UUID(str(value)).bytes_le.hex())
    if setting.kind == "uint32":
        return RegValue(setting.registry_value, "dword", int(value)) if int(value) else None
    return RegValue(setting.registry_value, "string", str(value))


def _raw_value(name: str, raw: Any) -> RegValue:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raw = str(raw)
    if isinstance(raw, int):
        return RegValue(name, "dword", raw)
    if raw.lower().startswith("hex:"):
        return RegValue(name, "binary", raw[4:].lower())
    return RegValue(name, "string", raw)


def binding_values(entry: dict[str, Any]) -> list[RegValue]:
    kind, key = binding_key(entry)
    settings = settings_of(entry)
    values: list[RegValue] = []
    for setting in SETTINGS:
        if setting.registry_value and settings.get(setting.name) is not None:
            value = _setting_value(setting.name, settings[setting.name])
            if value is not None:
                values.append(value)
    if kind in (KeyKind.HOSTNAMEPORT, KeyKind.SCOPEDCCS):
        values.append(RegValue(HOSTNAME_VALUE, "string", key))
    for name, number in (
        (CHECK_MODE_VALUE, encode_check_mode(settings)),
        (FLAGS_VALUE, encode_flags(settings)),
    ):
        if number:
            values.append(RegValue(name, "dword", number))
    for name, raw in (entry.get("registry") or {}).items():
        values = [v for v in values if v.name.lower() != str(name).lower()]
        if raw is not None:
            values.append(_raw_value(str(name), raw))
    return values


def _parts(path: str) -> list[str] | None:
    """Path components below the HTTP Parameters root, or None if the path is not under it."""
    match = _PREFIXES.match(path.strip())
    if match is None:
        return None
    rest = path.strip()[match.end() :].strip("\\")
    root_parts = REGISTRY_ROOT.split("\\")[1:]
    parts = [p for p in rest.split("\\") if p]
    if [p.lower() for p in parts[: len(root_parts)]] != [p.lower() for p in root_parts]:
        return None
    return parts[len(root_parts) :]


def _subkey_kind(name: str) -> KeyKind | None:
    for kind, subkey in REGISTRY_SUBKEY.items():
        if subkey.lower() == name.lower():
            return kind
    return None


def _binding_keys(state: State, kind: KeyKind) -> list[RegKey]:
    keys = []
    for entry in state["bindings"]:
        entry_kind, key = binding_key(entry)
        if entry_kind is kind:
            name = child_name(kind, key)
            native = f"{NATIVE_ROOT}\\{REGISTRY_SUBKEY[kind]}\\{name}"
            keys.append(RegKey(native, name, binding_values(entry), binding=entry))
    return keys


def _subkeys(state: State) -> list[RegKey]:
    out = []
    for kind, subkey in REGISTRY_SUBKEY.items():
        count = len(_binding_keys(state, kind))
        if count:  # HTTP.sys has the key only while a binding of that kind exists
            out.append(RegKey(f"{NATIVE_ROOT}\\{subkey}", subkey, subkeys=count))
    return out


def lookup(state: State, path: str) -> tuple[RegKey | None, list[RegKey]]:
    """(the key at `path` or None, its subkeys) for a path under the HTTP Parameters root."""
    parts = _parts(path)
    if parts is None:
        return None, []
    if not parts:
        root = RegKey(NATIVE_ROOT, "Parameters", subkeys=len(_subkeys(state)))
        return root, _subkeys(state)
    kind = _subkey_kind(parts[0])
    if kind is None:
        return None, []
    children = _binding_keys(state, kind)
    if len(parts) == 1:
        if not children:
            return None, []
        return RegKey(
            f"{NATIVE_ROOT}\\{REGISTRY_SUBKEY[kind]}", REGISTRY_SUBKEY[kind], subkeys=len(children)
        ), children
    if len(parts) == 2:
        for key in children:
            if key.child.lower() == parts[1].lower():
                return key, []
    return None, []


def is_registry_path(path: str) -> bool:
    return _parts(path) is not None


def set_value(entry: dict[str, Any], name: str, value: Any) -> None:
    """Writes one registry value into a binding entry, as settings where the table can express it."""
    raw: dict[str, Any] = dict(entry.get("registry") or {})
    raw.pop(name, None)
    setting = next(
        (s for s in SETTINGS if s.registry_value and s.registry_value.lower() == name.lower()), None
    )
    try:
        if setting is not None and setting.kind in ("uint32",):
            entry[setting.name] = int(value)
        elif setting is not None and setting.kind in ("store", "ctlid"):
            entry[setting.name] = str(value)
        elif name.lower() in (CHECK_MODE_VALUE.lower(), FLAGS_VALUE.lower()):
            _set_bits(entry, name, int(value), raw)
        else:
            raw[name] = value
    except (BitDecodeError, ValueError):
        raw[name] = value
    if raw:
        entry["registry"] = raw
    else:
        entry.pop("registry", None)


def _set_bits(entry: dict[str, Any], name: str, number: int, raw: dict[str, Any]) -> None:
    if not 0 <= number <= UINT32_MAX:
        raise ValueError(f"{name} {number} is not a uint32")
    is_mode = name.lower() == CHECK_MODE_VALUE.lower()
    # The bits netsh has a parameter for become settings; the others (extra_bits) stay raw below.
    known = KNOWN_CHECK_MODE_BITS if is_mode else KNOWN_FLAG_BITS
    decoded = decode_check_mode(number & known) if is_mode else decode_flags(number & known)
    for setting_name, setting_value in decoded.items():
        if setting_value == SETTINGS_BY_NAME[setting_name].default:
            entry.pop(setting_name, None)
        else:
            entry[setting_name] = setting_value
    settings = settings_of(entry)
    # Bits the settings cannot reproduce (extra bits, the derived freshness bit) stay as a raw value.
    if (encode_check_mode(settings) if is_mode else encode_flags(settings)) != number:
        raw[CHECK_MODE_VALUE if is_mode else FLAGS_VALUE] = number
