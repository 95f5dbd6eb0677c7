"""One HTTP.sys SSL binding's settings: the netsh parameters, their defaults and registry encoding.

This table is the single source of truth. The spec validator, the renderer (which writes it into the
shared PowerShell library), the offline importers and the lab's simulated HTTP.sys all read it, so a
setting is parsed, rendered, captured and compared the same way everywhere.
Facts: ../shared/reference/httpsys-sslcert.md sections 2.2 and 4.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

SettingValue = str | int
SettingKind = Literal["hash", "guid", "store", "onoff", "uint32", "ctlid"]

REGISTRY_ROOT = r"HKLM:\SYSTEM\CurrentControlSet\Services\HTTP\Parameters"

ENABLE = "enable"
DISABLE = "disable"


class KeyKind(StrEnum):
    """The four binding kinds; the value is the netsh selector."""

    IPPORT = "ipport"
    HOSTNAMEPORT = "hostnameport"
    CCS = "ccs"
    SCOPEDCCS = "scopedccs"


# Registry subkey of HTTP\Parameters holding each kind. Scoped CCS is unverified on a real host.
REGISTRY_SUBKEY: dict[KeyKind, str] = {
    KeyKind.IPPORT: "SslBindingInfo",
    KeyKind.HOSTNAMEPORT: "SslSniBindingInfo",
    KeyKind.CCS: "SslCcsBindingInfo",
    KeyKind.SCOPEDCCS: "SslScopedCcsBindingInfo",
}


@dataclass(frozen=True)
class Setting:
    """One `netsh http add sslcert` parameter."""

    name: str
    kind: SettingKind
    default: SettingValue | None  # the value HTTP.sys uses when netsh is not given the parameter
    registry_value: str | None = None  # value name under the binding's registry key
    check_mode_bit: int = 0  # bit in DefaultSslCertCheckMode
    flag_bit: int = 0  # bit in DefaultFlags
    inverted: bool = False  # bit set means the setting is "disable"
    label: str = ""  # English label in `netsh http show sslcert`


# In the order of the netsh documentation; the add command lists parameters in this order.
SETTINGS: tuple[Setting, ...] = (
    Setting("certhash", "hash", None, "SslCertHash", label="Certificate Hash"),
    Setting("appid", "guid", None, "AppId", label="Application ID"),
    Setting("certstorename", "store", "MY", "SslCertStoreName", label="Certificate Store Name"),
    Setting(
        "verifyclientcertrevocation",
        "onoff",
        ENABLE,
        check_mode_bit=0x1,
        inverted=True,
        label="Verify Client Certificate Revocation",
    ),
    Setting(
        "verifyrevocationwithcachedclientcertonly",
        "onoff",
        DISABLE,
        check_mode_bit=0x2,
        label="Verify Revocation Using Cached Client Certificate Only",
    ),
    Setting("usagecheck", "onoff", ENABLE, check_mode_bit=0x10000, inverted=True, label="Usage Check"),
    Setting(
        "revocationfreshnesstime",
        "uint32",
        0,
        "DefaultSslRevocationFreshnessTime",
        label="Revocation Freshness Time",
    ),
    Setting(
        "urlretrievaltimeout",
        "uint32",
        0,
        "DefaultSslRevocationUrlRetrievalTimeout",
        label="URL Retrieval Timeout",
    ),
    Setting("sslctlidentifier", "ctlid", None, "DefaultSslCtlIdentifier", label="Ctl Identifier"),
    Setting("sslctlstorename", "store", None, "DefaultSslCtlStoreName", label="Ctl Store Name"),
    Setting("dsmapperusage", "onoff", DISABLE, flag_bit=0x1, label="DS Mapper Usage"),
    Setting("clientcertnegotiation", "onoff", DISABLE, flag_bit=0x2, label="Negotiate Client Certificate"),
    Setting("reject", "onoff", DISABLE, flag_bit=0x8, label="Reject Connections"),
    Setting("disablehttp2", "onoff", DISABLE, flag_bit=0x10, label="Disable HTTP2"),
    Setting("disablequic", "onoff", DISABLE, flag_bit=0x20, label="Disable QUIC"),
    Setting("disabletls12", "onoff", DISABLE, flag_bit=0x1000, label="Disable TLS1.2"),
    Setting("disabletls13", "onoff", DISABLE, flag_bit=0x40, label="Disable TLS1.3"),
    Setting("disablelegacytls", "onoff", DISABLE, flag_bit=0x400, label="Disable Legacy TLS Versions"),
    Setting("disableocspstapling", "onoff", DISABLE, flag_bit=0x80, label="Disable OCSP Stapling"),
    Setting("enabletokenbinding", "onoff", DISABLE, flag_bit=0x100, label="Enable Token Binding"),
    Setting("logextendedevents", "onoff", DISABLE, flag_bit=0x200, label="Log Extended Events"),
    Setting("enablesessionticket", "onoff", DISABLE, flag_bit=0x800, label="Enable Session Ticket"),
    Setting("disablesessionid", "onoff", DISABLE, flag_bit=0x4000, label="Disable Session ID"),
)

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
# The 12 settings every build since Server 2008 prints (reference §3.2, lines 2-13).
SETTING_NAMES_CLASSIC: tuple[str, ...] = tuple(s.name for s in SETTINGS[:12])

# `netsh http show sslcert` prints the newer flags in this order (reference §3.2), not the table's.
SHOW_ORDER: tuple[str, ...] = (
    *SETTING_NAMES_CLASSIC,
    "reject",
    "disablehttp2",
    "disablequic",
    "disabletls12",
    "disabletls13",
    "disableocspstapling",
    "enabletokenbinding",
    "logextendedevents",
    "disablelegacytls",
    "enablesessionticket",
    "disablesessionid",
)
SETTING_NAMES: tuple[str, ...] = tuple(s.name for s in SETTINGS)

# Registry value names for the two bit fields.
CHECK_MODE_VALUE = "DefaultSslCertCheckMode"
FLAGS_VALUE = "DefaultFlags"

# DefaultSslCertCheckMode bit 0x4: the API documents it as its own switch ("DefaultRevocationFreshnessTime
# is in effect"); whether netsh sets it when given revocationfreshnesstime is NOT established (one
# third-party report says so). So it is neither derived nor compared: capture keeps it as a raw
# bit, verify ignores it, and a registry write carries the host's bit over unchanged.
CHECK_MODE_FRESHNESS = 0x4
# Bits sslbind understands (0x4 included, though netsh has no parameter for it); every other bit
# is "extra": captured and reported by value (and by name where a public source names it), never
# settable, so a change that would re-create such a binding through netsh add is refused.
KNOWN_CHECK_MODE_BITS = CHECK_MODE_FRESHNESS | sum(s.check_mode_bit for s in SETTINGS)
KNOWN_FLAG_BITS = sum(s.flag_bit for s in SETTINGS)
# Names from the Windows SDK (http.h / win32metadata HTTP_SERVICE_CONFIG_SSL_FLAG_*) and netsh's
# newest `show sslcert` labels; none has a netsh add parameter.
EXTRA_FLAG_NAMES: dict[int, str] = {
    0x4: "NO_RAW_FILTER",
    0x2000: "ENABLE_CLIENT_CORRELATION",
    0x8000: "ENABLE_CACHE_CLIENT_HELLO (netsh: Enable Caching Client Hello)",
}
# netsh builds from late 2025 print "Verify Revocation Using Cached URLs Only" and "Disable Authority
# Info Access"; which DefaultSslCertCheckMode bits they stand for is not public, so none is named.
# ("Use Revocation Freshness Time" is read as bit 0x4.)
EXTRA_CHECK_MODE_NAMES: dict[int, str] = {}

# Value shapes, shared with the JSON Schema and the PowerShell library's own checks.
PATTERNS: dict[SettingKind, str] = {
    "hash": r"^[0-9A-Fa-f]{40}$",
    "guid": r"^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$",
    "store": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
    "ctlid": r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$",
}
UINT32_MAX = 0xFFFFFFFF


class BitDecodeError(ValueError):
    """A captured bit field holds bits no netsh parameter can reproduce."""


def default_settings() -> dict[str, SettingValue]:
    """Every setting at the value HTTP.sys uses when netsh is not given it (None entries left out)."""
    return {s.name: s.default for s in SETTINGS if s.default is not None}


def is_onoff_enabled(value: SettingValue) -> bool:
    return value == ENABLE


def encode_check_mode(settings: Mapping[str, SettingValue]) -> int:
    """DefaultSslCertCheckMode for the given settings (missing ones at their defaults)."""
    merged = {**default_settings(), **settings}
    mode = 0
    for s in SETTINGS:
        if s.check_mode_bit and (merged[s.name] == DISABLE) == s.inverted:
            mode |= s.check_mode_bit
    if int(merged["revocationfreshnesstime"]) > 0:
        mode |= CHECK_MODE_FRESHNESS
    return mode


def extra_bits(value: int, known: int) -> int:
    """The bits of a captured bit field that no netsh parameter sets."""
    return value & ~known & UINT32_MAX


def describe_bits(value: int, names: Mapping[int, str]) -> str:
    """'0x8000 ENABLE_CACHE_CLIENT_HELLO, 0x20000 (unnamed)' for the set bits of value."""
    parts = []
    for bit in (1 << i for i in range(32)):
        if value & bit:
            parts.append(f"0x{bit:X} {names.get(bit, '(unnamed)')}")
    return ", ".join(parts)


def decode_check_mode(mode: int) -> dict[str, SettingValue]:
    """The on/off settings a DefaultSslCertCheckMode value stands for; refuses unknown bits."""
    unknown = mode & ~KNOWN_CHECK_MODE_BITS
    if mode < 0 or unknown:
        raise BitDecodeError(f"DefaultSslCertCheckMode 0x{mode:X} has unknown bits 0x{unknown:X}")
    out: dict[str, SettingValue] = {}
    for s in SETTINGS:
        if s.check_mode_bit:
            bit_set = bool(mode & s.check_mode_bit)
            out[s.name] = DISABLE if bit_set == s.inverted else ENABLE
    return out


def encode_flags(settings: Mapping[str, SettingValue]) -> int:
    """DefaultFlags for the given settings (missing ones at their defaults)."""
    merged = {**default_settings(), **settings}
    return sum(s.flag_bit for s in SETTINGS if s.flag_bit and merged[s.name] == ENABLE)


def decode_flags(flags: int) -> dict[str, SettingValue]:
    """The on/off settings a DefaultFlags value stands for; refuses unknown bits."""
    unknown = flags & ~KNOWN_FLAG_BITS
    if flags < 0 or unknown:
        raise BitDecodeError(f"DefaultFlags 0x{flags:X} has unknown bits 0x{unknown:X}")
    return {s.name: ENABLE if flags & s.flag_bit else DISABLE for s in SETTINGS if s.flag_bit}


def netsh_add_arguments(kind: KeyKind, key: str, settings: Mapping[str, SettingValue]) -> list[str]:
    """Arguments after `netsh http add sslcert` for a binding whose every setting is known.

    Settings at their HTTP.sys default are left out (explicit zero timers are rejected by some
    builds, and a flag this netsh does not know must not be passed needlessly); the store name is
    always spelled out for ipport/hostnameport (hostname bindings require it) but for ccs/scopedccs
    only when it is not the default (the certificate comes from the central store, not MY).
    """
    args = [f"{kind.value}={key}"]
    always_store = kind in (KeyKind.IPPORT, KeyKind.HOSTNAMEPORT)
    for s in SETTINGS:
        value = settings.get(s.name)
        if value is None:
            continue
        named = s.name == "certstorename" and always_store
        if not named and s.default is not None and value == s.default:
            continue
        args.append(f"{s.name}={value}")
    return args


def powershell_command_line(args: list[str]) -> str:
    """`netsh http add sslcert …` as a line a person can paste into PowerShell.

    The appid is single-quoted: bare braces would make PowerShell pass a script block.
    """
    shown = []
    for arg in args:
        name, _, value = arg.partition("=")
        if name == "appid" or not re.fullmatch(r"[A-Za-z0-9_.:\[\]=-]+", arg):
            shown.append(f"{name}='{value}'")
        else:
            shown.append(arg)
    return "netsh http add sslcert " + " ".join(shown)


def diff_settings(
    before: Mapping[str, SettingValue], after: Mapping[str, SettingValue]
) -> dict[str, tuple[SettingValue | None, SettingValue | None]]:
    """Settings whose value differs, as name -> (before, after); store names compare case-blind."""
    out: dict[str, tuple[SettingValue | None, SettingValue | None]] = {}
    for s in SETTINGS:
        old, new = before.get(s.name, s.default), after.get(s.name, s.default)
        if s.kind in ("store", "hash", "guid") and isinstance(old, str) and isinstance(new, str):
            same = old.lower() == new.lower()
        else:
            same = old == new
        if not same:
            out[s.name] = (old, new)
    return out
