"""collect.ps1's one JSON object -> typed host facts. Missing or odd fields degrade to "unknown".

The collector runs on hosts sslbind knows nothing about yet, so a field it could not fill is
reported as unknown rather than failing the whole doctor; only a document that is not the
collector's at all is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from generator.errors import EXIT_FAILED, UserError

UNKNOWN = "unknown"
OS_FIELDS = ("product_name", "current_build", "ubr", "display_version")
NETSH_RUNS = ("add_help", "update_help", "delete_help", "show")
# Registry types as the collector infers them from each value's .NET type (GetValueKind is a method
# call Constrained Language forbids): byte[], int, long, string, string[].
REG_TYPES = ("REG_BINARY", "REG_DWORD", "REG_QWORD", "REG_SZ", "REG_MULTI_SZ")

RegValueData = bytes | int | str | tuple[str, ...]


class CollectorError(UserError):
    """The host answered, but not with the collector's JSON object."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class NetshRun:
    arguments: str  # e.g. "http add sslcert /?"
    exit_code: int | None  # None: netsh could not be started
    text: str  # stdout and stderr, lines joined with \n, verbatim
    error: str = ""


@dataclass(frozen=True)
class RegValue:
    name: str
    type: str  # one of REG_TYPES, or "other"; inferred from the .NET type
    data: RegValueData


@dataclass(frozen=True)
class RegKeyFacts:
    subkey: str  # SslBindingInfo, SslSniBindingInfo, SslCcsBindingInfo or SslScopedCcsBindingInfo
    child: str
    values: tuple[RegValue, ...]

    @property
    def path(self) -> str:
        return f"{self.subkey}\\{self.child}"


@dataclass(frozen=True)
class HostFacts:
    collected_at: str
    computer_name: str
    os: Mapping[str, str]  # OS_FIELDS -> text, UNKNOWN where unreadable
    os_error: str
    powershell_version: str
    powershell_edition: str
    language_mode: str
    elevated: bool | None  # None: not applicable (lab) or could not tell
    elevation_detail: str
    execution_policy: tuple[tuple[str, str], ...]  # (scope, policy)
    execution_policy_error: str
    netsh: Mapping[str, NetshRun]  # NETSH_RUNS -> run
    registry_containers: Mapping[str, bool]  # Ssl*BindingInfo -> exists
    registry_keys: tuple[RegKeyFacts, ...]
    registry_error: str


def _text(document: Mapping[str, Any], key: str, default: str = UNKNOWN) -> str:
    value = document.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    return str(value)


def _section(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key)
    return value if isinstance(value, Mapping) else {}


def _netsh_run(document: Mapping[str, Any]) -> NetshRun:
    code = document.get("exit_code")
    return NetshRun(
        arguments=_text(document, "arguments", ""),
        exit_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        text=str(document.get("text") or ""),
        error=_text(document, "error", ""),
    )


def _value_data(kind: str, data: Any) -> RegValueData | None:
    """The typed data, or None when it does not have the shape its type promises."""
    if kind == "REG_BINARY" and isinstance(data, list):
        if all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in data):
            return bytes(data)
        return None
    if kind in ("REG_DWORD", "REG_QWORD") and isinstance(data, int) and not isinstance(data, bool):
        # Get-ItemProperty gives Int32/Int64: large values come back negative.
        return data & (0xFFFFFFFF if kind == "REG_DWORD" else 0xFFFFFFFFFFFFFFFF)
    if kind == "REG_MULTI_SZ" and isinstance(data, list):
        return tuple(str(item) for item in data)
    if kind in ("REG_SZ", "other") and isinstance(data, str):
        return data
    return None


def _reg_value(document: Mapping[str, Any], where: str) -> RegValue:
    name, kind = str(document.get("name", "")), str(document.get("type", ""))
    data = _value_data(kind, document.get("data"))
    if data is None:
        raise CollectorError(f"{where}: value {name!r}: type {kind!r} with data the collector never writes")
    return RegValue(name, kind, data)


def _reg_key(document: Mapping[str, Any], host: str) -> RegKeyFacts:
    subkey, child = str(document.get("subkey", "")), str(document.get("child", ""))
    where = f"host {host}: registry key {subkey}\\{child}"
    values = document.get("values") or []
    if not isinstance(values, list):
        raise CollectorError(f"{where}: values is not a list")
    return RegKeyFacts(subkey, child, tuple(_reg_value(v, where) for v in values if isinstance(v, Mapping)))


def _policies(entries: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(entries, list):
        return ()
    return tuple((_text(e, "scope"), _text(e, "policy")) for e in entries if isinstance(e, Mapping))


def _elevated(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def host_facts(document: Mapping[str, Any], host: str) -> HostFacts:
    """The typed facts of one collector document; refuses one that is not the collector's."""
    if document.get("collector") != "sslbind-doctor":
        raise CollectorError(f"host {host}: the answer is not the doctor collector's JSON object")
    os_section, ps = _section(document, "os"), _section(document, "powershell")
    elevation, policy = _section(document, "elevation"), _section(document, "execution_policy")
    netsh, registry = _section(document, "netsh"), _section(document, "registry")
    containers = _section(registry, "containers")
    keys = registry.get("keys") or []
    return HostFacts(
        collected_at=_text(document, "collected_at"),
        computer_name=_text(document, "computer_name"),
        os={name: _text(os_section, name) for name in OS_FIELDS},
        os_error=_text(os_section, "error", ""),
        powershell_version=_text(ps, "version"),
        powershell_edition=_text(ps, "edition"),
        language_mode=_text(ps, "language_mode"),
        elevated=_elevated(elevation.get("elevated")),
        elevation_detail=_text(elevation, "detail"),
        execution_policy=_policies(policy.get("scopes")),
        execution_policy_error=_text(policy, "error", ""),
        netsh={name: _netsh_run(_section(netsh, name)) for name in NETSH_RUNS},
        registry_containers={str(k): bool(v) for k, v in containers.items()},
        registry_keys=tuple(_reg_key(k, host) for k in keys if isinstance(k, Mapping))
        if isinstance(keys, list)
        else (),
        registry_error=_text(registry, "error", ""),
    )
