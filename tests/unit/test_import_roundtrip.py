"""Property: any binding, written out as netsh text and as reg query output, imports back to itself.

The netsh side is rendered with the English labels of generator.binding.SETTINGS, the registry side
with generator.binding's own encoders, so this pins the two importers to the shared table.
"""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from generator.binding import (
    CHECK_MODE_VALUE,
    DISABLE,
    ENABLE,
    FLAGS_VALUE,
    REGISTRY_SUBKEY,
    SETTINGS,
    KeyKind,
    SettingValue,
    encode_check_mode,
    encode_flags,
)
from generator.importers.netsh_text import parse_netsh
from generator.importers.reg_text import parse_reg

ROOT = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\HTTP\Parameters"
KEY_LABEL = {
    KeyKind.IPPORT: "IP:port",
    KeyKind.HOSTNAMEPORT: "Hostname:port",
    KeyKind.CCS: "Central Certificate Store",
    KeyKind.SCOPEDCCS: "Scoped Central Certificate Store",
}
NEWER_FLAGS = {s.name for s in SETTINGS if s.flag_bit > 0x8}  # printed as Set / Not Set

names = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9]{0,6}){1,2}", fullmatch=True)
ports = st.integers(1, 65535)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
stores = st.sampled_from(["My", "MY", "WebHosting", "Root", "CA", "adfstrusteddevices"])
ctl = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True))


@st.composite
def bindings(draw: st.DrawFn) -> tuple[KeyKind, str, dict[str, SettingValue]]:
    kind = draw(st.sampled_from(list(KeyKind)))
    port = draw(ports)
    key = {
        KeyKind.IPPORT: f"{draw(ipv4)}:{port}",
        KeyKind.CCS: str(port),
    }.get(kind) or f"{draw(names)}:{port}"
    values: dict[str, SettingValue] = {}
    for s in SETTINGS:
        if s.kind == "onoff":
            values[s.name] = draw(st.sampled_from([ENABLE, DISABLE]))
        elif s.kind == "uint32":
            values[s.name] = draw(st.integers(0, 0xFFFFFFFF))
    values["appid"] = "{" + str(draw(st.uuids())) + "}"
    values["certstorename"] = draw(stores)
    if kind in (KeyKind.IPPORT, KeyKind.HOSTNAMEPORT):
        values["certhash"] = draw(st.binary(min_size=20, max_size=20)).hex()
    for name in ("sslctlidentifier", "sslctlstorename"):
        text = draw(ctl)
        if text is not None:
            values[name] = text
    return kind, key, {s.name: values[s.name] for s in SETTINGS if s.name in values}


def netsh_text(items: list[tuple[KeyKind, str, dict[str, SettingValue]]]) -> str:
    lines = ["", "SSL Certificate bindings:", "-" * 25, ""]
    for kind, key, values in items:
        lines.append(f"    {KEY_LABEL[kind]:<28} : {key}")
        for s in SETTINGS:
            value = values.get(s.name)
            if s.kind == "onoff":
                newer = s.name in NEWER_FLAGS
                shown = (
                    ("Set" if newer else "Enabled")
                    if value == ENABLE
                    else ("Not Set" if newer else "Disabled")
                )
            else:
                shown = "(null)" if value is None else str(value)
            lines.append(f"    {s.label:<28} : {shown}")
        lines.append("")
    return "\r\n".join(lines)


def reg_query_text(items: list[tuple[KeyKind, str, dict[str, SettingValue]]]) -> str:
    lines = [""]
    for index, (kind, key, values) in enumerate(items):
        child = {KeyKind.IPPORT: key, KeyKind.CCS: f"0.0.0.0:{key}"}.get(kind, f"{{{index:08x}-0000}}")
        lines.append(f"{ROOT}\\{REGISTRY_SUBKEY[kind]}\\{child}")
        if kind in (KeyKind.HOSTNAMEPORT, KeyKind.SCOPEDCCS):
            lines.append(f"    HostnamePort    REG_SZ    {key}")
        if "certhash" in values:
            lines.append(f"    SslCertHash    REG_BINARY    {str(values['certhash']).upper()}")
        appid = uuid.UUID(str(values["appid"]).strip("{}")).bytes_le.hex().upper()
        lines.append(f"    AppId    REG_BINARY    {appid}")
        for s in SETTINGS:
            if s.registry_value and s.kind in ("store", "ctlid") and s.name in values:
                lines.append(f"    {s.registry_value}    REG_SZ    {values[s.name]}")
            if s.registry_value and s.kind == "uint32" and values[s.name]:
                lines.append(f"    {s.registry_value}    REG_DWORD    0x{int(values[s.name]):x}")
        lines.append(f"    {CHECK_MODE_VALUE}    REG_DWORD    0x{encode_check_mode(values):x}")
        lines.append(f"    {FLAGS_VALUE}    REG_DWORD    0x{encode_flags(values):x}")
        lines.append("")
    return "\r\n".join(lines)


def unique(
    items: list[tuple[KeyKind, str, dict[str, SettingValue]]],
) -> list[tuple[KeyKind, str, dict[str, SettingValue]]]:
    seen: dict[tuple[KeyKind, str], tuple[KeyKind, str, dict[str, SettingValue]]] = {}
    for item in items:
        seen.setdefault((item[0], item[1]), item)
    return list(seen.values())


@settings(max_examples=150, deadline=None)
@given(st.lists(bindings(), min_size=1, max_size=5).map(unique))
def test_netsh_and_registry_import_back_to_the_same_bindings(
    items: list[tuple[KeyKind, str, dict[str, SettingValue]]],
) -> None:
    expected = [(f"{kind.value}={key}", values) for kind, key, values in items]
    from_netsh = parse_netsh(netsh_text(items).encode("utf-8"), "n.txt")
    from_reg = parse_reg(reg_query_text(items).encode("utf-16"), "r.txt")
    assert [(str(b.key), dict(b.settings)) for b in from_netsh.bindings] == expected
    assert [(str(b.key), dict(b.settings)) for b in from_reg.bindings] == expected
