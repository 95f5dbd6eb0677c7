"""One value normalized the way generator.model.Binding holds it, or ValueError saying what is wrong.

Shared by both importers so a netsh line and the registry value it stands for end up identical.
"""

from __future__ import annotations

import ipaddress
import re

from generator.binding import PATTERNS, SETTINGS_BY_NAME, UINT32_MAX, KeyKind, SettingValue

_HASH = re.compile(PATTERNS["hash"])
_GUID = re.compile(PATTERNS["guid"])
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*$")
_IPV4_PORT = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$")
_IPV6_PORT = re.compile(r"^\[([0-9A-Fa-f:.%a-zA-Z]+)\]:(\d{1,5})$")


def looks_like_hash(text: str) -> bool:
    return bool(_HASH.fullmatch(text.strip()))


def looks_like_guid(text: str) -> bool:
    return bool(_GUID.fullmatch(text.strip()))


def looks_like_ipport(text: str) -> bool:
    text = text.strip()
    return bool(_IPV4_PORT.fullmatch(text) or _IPV6_PORT.fullmatch(text))


def looks_like_hostport(text: str) -> bool:
    name, sep, port = text.strip().rpartition(":")
    return bool(sep) and port.isdigit() and bool(_HOSTNAME.fullmatch(name)) and not looks_like_ipport(text)


def port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"port {text!r} is not a number from 1 to 65535")
    return int(text)


def binding_key(kind: KeyKind, text: str) -> str:
    """The normalized netsh value of a binding key: `1.2.3.4:443`, `[::1]:443`, `host:443`, `443`."""
    text = text.strip()
    if kind is KeyKind.IPPORT:
        return _ipport(text)
    if kind is KeyKind.CCS:
        return str(port(text))
    name, sep, port_text = text.rpartition(":")
    if not sep or not _HOSTNAME.fullmatch(name):
        raise ValueError(f"{text!r} is not hostname:port")
    return f"{name}:{port(port_text)}"


def _ipport(text: str) -> str:
    v4, v6 = _IPV4_PORT.fullmatch(text), _IPV6_PORT.fullmatch(text)
    if v6 and "%" in v6.group(1):  # a spec cannot carry it: the written spec would not render
        zone = v6.group(1).partition("%")[2]
        raise ValueError(f"{text!r}: an IPv6 zone index (%{zone}) cannot be written in a spec")
    try:
        if v4:
            return f"{ipaddress.IPv4Address(v4.group(1))}:{port(v4.group(2))}"
        if v6:
            return f"[{ipaddress.IPv6Address(v6.group(1)).compressed}]:{port(v6.group(2))}"
    except ipaddress.AddressValueError as error:
        raise ValueError(f"{text!r}: {error}") from error
    raise ValueError(f"{text!r} is not ip:port (IPv6 in brackets)")


def setting_value(name: str, text: str) -> SettingValue:
    """A textual value of setting `name` normalized (hash/appid lowercase, timers int, store as given)."""
    setting = SETTINGS_BY_NAME[name]
    text = text.strip()
    if setting.kind == "uint32":
        if not text.isdigit() or int(text) > UINT32_MAX:
            raise ValueError(f"{text!r} is not an unsigned 32-bit number")
        return int(text)
    if setting.kind == "guid" and re.fullmatch(r"[0-9A-Fa-f-]{36}", text):
        text = "{" + text + "}"
    if setting.kind in PATTERNS and not re.fullmatch(PATTERNS[setting.kind], text):
        raise ValueError(f"{text!r} does not match {PATTERNS[setting.kind]}")
    if setting.kind in ("hash", "guid"):
        return text.lower()
    return text
