"""`netsh http add|update|delete|show sslcert` over the lab state, with Windows' texts and codes.

The `bin/netsh` shim, first on the PATH of every lab pwsh, asks the lab's service (service.py),
which runs `run` here. Facts: ../shared/reference/httpsys-sslcert.md §2, §3, §5.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from generator.binding import (
    CHECK_MODE_VALUE,
    DISABLE,
    ENABLE,
    FLAGS_VALUE,
    KNOWN_CHECK_MODE_BITS,
    KNOWN_FLAG_BITS,
    PATTERNS,
    SETTING_NAMES,
    SETTINGS_BY_NAME,
    SHOW_ORDER,
    UINT32_MAX,
    KeyKind,
    SettingValue,
    decode_check_mode,
    decode_flags,
)
from generator.lab import faults
from generator.lab.simwin import registry
from generator.lab.simwin.certs import certificates_in
from generator.lab.simwin.netsh_help import (
    CLIENT_HELLO_LAYOUTS,
    DEFAULT_LAYOUT,
    SCOPEDCCS_LAYOUTS,
    help_text,
    known_tags,
    without_tags,
)
from generator.lab.state import LabStateError, State, StateFile, binding_key, same_key

OPERATIONS = ("add", "update", "delete", "show")
WIN32_MESSAGES = {
    2: "The system cannot find the file specified.",
    5: "Access is denied.",
    87: "The parameter is incorrect.",
    183: "Cannot create a file when that file already exists.",
    1312: "A specified logon session does not exist. It may already have been terminated.",
}
# netsh's words for each operation in "SSL Certificate <word> failed" / "successfully <past>".
FAILED_WORD = {"add": "add", "update": "update", "delete": "deletion", "show": "show"}
DONE_WORD = {"add": "added", "update": "updated", "delete": "deleted"}
KEY_LABELS = {
    KeyKind.IPPORT: "IP:port",
    KeyKind.HOSTNAMEPORT: "Hostname:port",
    KeyKind.CCS: "Central Certificate Store",
    KeyKind.SCOPEDCCS: "Scoped Central Certificate Store",  # no real sample known
}
# DefaultFlags bit without a netsh parameter that the newest netsh prints (binding.EXTRA_FLAG_NAMES).
CLIENT_HELLO_FLAG = 0x8000
CLIENT_HELLO_LABEL = "Enable Caching Client Hello"
# Flags newer than Server 2016 print Set / Not Set instead of Enabled / Disabled.
SET_STYLE_MIN_BIT = 0x10
ESSENTIAL = (
    "One or more essential parameters were not entered.\n"
    "Verify the required parameters, and reenter them.\n"
    "The syntax supplied for this command is not valid. Check help for the correct syntax.\n"
)


class NetshError(Exception):
    """A failure netsh reports as `SSL Certificate <op> failed, Error: <code>`."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class SyntaxFailure(Exception):
    """A command line netsh rejects before calling HTTP.sys: this text, then the usage (exit 1)."""

    def __init__(self, text: str = "") -> None:
        super().__init__(text)
        self.text = text


@dataclass
class Command:
    operation: str
    kind: KeyKind | None = None
    key: str | None = None
    settings: dict[str, SettingValue] = field(default_factory=dict)


def _valid_port(text: str) -> bool:
    return text.isdigit() and 0 < int(text) <= 65535


def _valid_key(kind: KeyKind, value: str) -> bool:
    if kind is KeyKind.CCS:
        return _valid_port(value)
    host, sep, port = value.rpartition(":")
    if not sep or not _valid_port(port) or not host:
        return False
    if kind is KeyKind.IPPORT:
        address = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return (parsed.version == 6) == host.startswith("[")
    return re.fullmatch(r"[A-Za-z0-9*_.-]+", host) is not None


def _setting_value(name: str, raw: str) -> SettingValue:
    """A value netsh's generic parser cannot read (enum, number) is a syntax error (usage); a hash,
    GUID or name its own converters refuse is "The parameter is incorrect." (87), as reported."""
    setting = SETTINGS_BY_NAME[name]
    if setting.kind == "onoff":
        if raw.lower() not in (ENABLE, DISABLE):
            raise SyntaxFailure()
        return raw.lower()
    if setting.kind == "uint32":
        if not raw.isdigit() or int(raw) > UINT32_MAX:
            raise SyntaxFailure()
        return int(raw)
    if re.fullmatch(PATTERNS[setting.kind], raw) is None:
        raise NetshError(87)
    return raw.lower() if setting.kind in ("hash", "guid") else raw


KEY_TAGS = frozenset(k.value for k in KeyKind)
# HttpUpdateServiceConfiguration, behind `update sslcert`, takes IP:port, SNI and CCS records only
# (its ConfigId list has no scoped CCS), so update does not accept the scopedccs key: the lab
# answers it like any line netsh cannot parse (usage, exit 1). What real netsh prints is unknown.
NOT_UPDATABLE_KEYS = frozenset({KeyKind.SCOPEDCCS.value})


def accepted_tags(operation: str, layout: str, missing: frozenset[str]) -> frozenset[str]:
    """Tags this build's netsh parses for the operation: its help's usage tags (keys and, for
    add/update, settings; `json=` is not emulated), plus the `missing` ones it takes and ignores."""
    if operation == "show":
        keys = known_tags(layout, "delete") & KEY_TAGS
        return keys | ({"scopedccs"} if layout in SCOPEDCCS_LAYOUTS else set())
    tags = known_tags(layout, operation) & (KEY_TAGS | set(SETTING_NAMES))
    if operation == "update":
        tags -= NOT_UPDATABLE_KEYS
    return tags | missing if operation in ("add", "update") else tags & KEY_TAGS


def parse(operation: str, args: list[str], accepted: frozenset[str] | None = None) -> Command:
    """The command line as netsh reads it; SyntaxFailure for what it prints its usage for."""
    if accepted is None:
        accepted = accepted_tags(operation, DEFAULT_LAYOUT, frozenset())
    command = Command(operation)
    seen: set[str] = set()
    for arg in args:
        tag, sep, value = arg.partition("=")
        tag = tag.strip().lower()
        if not sep or tag not in accepted or tag in seen or not value:
            raise SyntaxFailure()
        seen.add(tag)
        if tag in KEY_TAGS:
            if command.kind is not None:
                raise SyntaxFailure()
            if not _valid_key(KeyKind(tag), value):
                raise NetshError(87)
            command.kind, command.key = KeyKind(tag), value
        else:
            command.settings[tag] = _setting_value(tag, value)
    needs_key = operation != "show"
    if needs_key and command.kind is None:
        raise SyntaxFailure(ESSENTIAL)
    if operation in ("add", "update") and command.kind is not None:
        needs_hash = command.kind in (KeyKind.IPPORT, KeyKind.HOSTNAMEPORT)
        if "appid" not in command.settings or (needs_hash and "certhash" not in command.settings):
            raise SyntaxFailure(ESSENTIAL)
    return command


# The value lines under each Extended Properties block, by property id (real Server 2022 output).
EXTENDED_LABELS = {0: ("Receive Window",), 1: ("Max Settings Per Frame", "Max Settings Per Minute")}


def _find(state: State, kind: KeyKind, key: str) -> int | None:
    for index, entry in enumerate(state["bindings"]):
        entry_kind, entry_key = binding_key(entry)
        if same_key(entry_kind, entry_key, kind, key):
            return index
    return None


def _key_usable(cert: dict[str, Any]) -> bool:
    """Whether HTTP.sys (LocalSystem) can open the private key. `key_usable: false` is a key
    Windows still reports (HasPrivateKey true) that HTTP.sys cannot use: kept in a user profile,
    an ACL without SYSTEM, a non-persisted import; netsh then fails with 1312 like a missing key."""
    return bool(cert.get("has_private_key", True)) and bool(cert.get("key_usable", True))


def _check_certificate(state: State, settings: dict[str, SettingValue]) -> None:
    """HTTP.sys refuses (1312) a certificate it cannot find in the store or whose key it cannot use."""
    thumbprint = settings.get("certhash")
    if thumbprint is None:
        return
    store = str(settings.get("certstorename", "MY"))
    for cert in certificates_in(state, store):
        if str(cert["thumbprint"]).lower() == str(thumbprint).lower():
            if _key_usable(cert):
                return
            break
    raise NetshError(1312)


def _entry(command: Command) -> dict[str, Any]:
    assert command.kind is not None and command.key is not None
    return {command.kind.value: command.key, **command.settings}


def apply(state: State, command: Command) -> None:
    """Changes the state as HTTP.sys would; raises NetshError with the Win32 code otherwise."""
    assert command.kind is not None and command.key is not None
    index = _find(state, command.kind, command.key)
    if command.operation == "add":
        if index is not None:
            raise NetshError(183)
        _check_certificate(state, command.settings)
        state["bindings"].append(_entry(command))
    elif index is None:
        raise NetshError(2)
    elif command.operation == "update":
        _check_certificate(state, command.settings)
        # The API takes a whole record: full replacement (settings not given fall back to their
        # defaults, raw registry bits go), in place in the same transaction, so no reader ever
        # sees the key absent (HttpUpdateServiceConfiguration is documented as atomic).
        state["bindings"][index] = _entry(command)
    else:
        del state["bindings"][index]


def _effective_bits(entry: dict[str, Any]) -> tuple[int, int]:
    """(DefaultSslCertCheckMode, DefaultFlags) as HTTP.sys holds them: the registry override wins."""
    values = {v.name: v for v in registry.binding_values(entry)}
    out = []
    for name in (CHECK_MODE_VALUE, FLAGS_VALUE):
        value = values.get(name)
        out.append(int(value.value) if value is not None and value.kind == "dword" else 0)
    return out[0], out[1]


def _onoff(entry: dict[str, Any]) -> dict[str, SettingValue]:
    """The on/off settings netsh reads back; bits it has no label for are not shown."""
    mode, flags = _effective_bits(entry)
    return {
        **decode_check_mode(mode & KNOWN_CHECK_MODE_BITS),
        **decode_flags(flags & KNOWN_FLAG_BITS),
    }


def _display(name: str, entry: dict[str, Any], onoff: dict[str, SettingValue]) -> str:
    setting = SETTINGS_BY_NAME[name]
    # Text values HTTP.sys holds as NULL when netsh was not given them (the store too).
    value = (
        entry.get(name)
        if setting.kind in ("hash", "guid", "store", "ctlid")
        else onoff.get(name, entry.get(name, setting.default))
    )
    if value is None:
        return "(null)"
    if setting.kind != "onoff":
        return str(value)
    on = value == ENABLE
    if setting.flag_bit >= SET_STYLE_MIN_BIT:
        return "Set" if on else "Not Set"
    return "Enabled" if on else "Disabled"


def _line(label: str, value: str) -> str:
    return f"    {label:<29}: {value}" if len(label) < 29 else f"    {label} : {value}"


def _binding_lines(entry: dict[str, Any], layout: str) -> list[str]:
    kind, key = binding_key(entry)
    onoff = _onoff(entry)
    lines = [_line(KEY_LABELS[kind], key)]
    lines += [_line(SETTINGS_BY_NAME[name].label, _display(name, entry, onoff)) for name in SHOW_ORDER]
    if layout in CLIENT_HELLO_LAYOUTS:  # the newest netsh names this SDK flag, after the others
        hello = _effective_bits(entry)[1] & CLIENT_HELLO_FLAG
        lines.append(_line(CLIENT_HELLO_LABEL, "Set" if hello else "Not Set"))
    for block in entry.get("extended", []):  # HTTP/2 Extended Properties (Server 2022 and later)
        lines.append(" Extended Properties:")
        labels = EXTENDED_LABELS.get(int(block["id"]), ())
        lines.append(_line("PropertyId", str(block["id"])))
        lines += [_line(label, str(value)) for label, value in zip(labels, block["values"], strict=False)]
    return lines


def show_text(bindings: list[dict[str, Any]], layout: str = DEFAULT_LAYOUT) -> str:
    lines = ["", "SSL Certificate bindings:", "-" * 25]
    for entry in bindings:
        lines.append("")
        lines += _binding_lines(entry, layout)
    lines.append("")
    return "\n".join(lines) + "\n"


def usage_text(operation: str, missing: frozenset[str] = frozenset(), layout: str = DEFAULT_LAYOUT) -> str:
    """What `netsh http <operation> sslcert /?` prints on this (simulated) build.

    add/delete/update come from the layout's file (netsh_help/); a tag this build does not know
    (`missing`) is left out of add and update. `show` has no captured text: a constructed one.
    """
    text = help_text(layout, operation) if operation != "show" else _show_usage()
    assert text is not None, f"{layout} has no {operation} sslcert"
    return without_tags(text, missing) if operation in ("add", "update") else text


def _show_usage() -> str:
    keys = " | ".join(f"{k.value}=<{'port' if k is KeyKind.CCS else 'name:port'}>" for k in KeyKind)
    lines = ["", f"Usage: show sslcert [{keys}]", "", "Parameters:", "", "    Tag              Value"]
    lines += [f"    {k.value:<16} - binding key ({KEY_LABELS[k]})." for k in KeyKind]
    lines += ["", "Remarks: Displays SSL server certificate bindings.", ""]
    return "\n".join(lines) + "\n"


def _failure(operation: str, code: int) -> str:
    message = WIN32_MESSAGES.get(code, f"Win32 error {code}.")
    return f"SSL Certificate {FAILED_WORD[operation]} failed, Error: {code}\n{message}\n\n"


def _run_show(store: StateFile, command: Command, layout: str) -> tuple[int, str]:
    state = store.read()
    if command.kind is None or command.key is None:
        return 0, show_text(state["bindings"], layout)
    index = _find(state, command.kind, command.key)
    if index is None:
        return 1, show_text([], layout) + WIN32_MESSAGES[2] + "\n\n"
    return 0, show_text([state["bindings"][index]], layout)


def _run_change(store: StateFile, command: Command, fault: faults.Fault | None) -> tuple[int, str]:
    if fault is not None and fault.error is not None:
        return 1, _failure(command.operation, fault.error)
    try:
        with store.transaction() as state:
            apply(state, command)
    except NetshError as error:
        return 1, _failure(command.operation, error.code)
    return 0, f"\nSSL Certificate successfully {DONE_WORD[command.operation]}\n\n"


def _not_found(argv: list[str]) -> tuple[int, str]:
    return 1, f"The following command was not found: {' '.join(argv)}.\n"


def run(argv: list[str], store: StateFile, caller: faults.Caller | None = None) -> tuple[int, str]:
    """netsh's exit code and output for `argv`; `caller` is the pwsh a kill or drop fault acts on."""
    words = [a.lower() for a in argv[:3]]
    if len(words) < 3 or words[0] != "http" or words[2] != "sslcert" or words[1] not in OPERATIONS:
        return _not_found(argv)
    operation, args = words[1], argv[3:]
    behaviour = store.read()["netsh"]
    missing = frozenset(behaviour.get("missing_parameters", []))
    layout = str(behaviour.get("help_layout", DEFAULT_LAYOUT))
    if operation == "update" and (
        not behaviour.get("supports_update", True) or help_text(layout, "update") is None
    ):
        return _not_found(argv)
    if any(a.lower() in ("/?", "-?", "?", "help") for a in args):
        return 0, usage_text(operation, missing, layout)
    try:
        command = parse(operation, args, accepted_tags(operation, layout, missing))
    except NetshError as error:
        return 1, _failure(operation, error.code)
    except SyntaxFailure as failure:
        return 1, failure.text + usage_text(operation, missing, layout)
    if missing & set(command.settings):
        # An older build given a newer flag: exit code 0 and no binding (reported on Server 2019).
        return 0, "\n"
    with store.transaction() as state:
        fault = faults.take_fault(state, operation, command.kind, command.key)
    if not faults.hang(fault, caller):
        return 137, ""  # stopped during the hang: the operation never ran
    if fault is not None and (fault.kill_pwsh or fault.drop_connection) and caller is None:
        raise LabStateError(f"a {operation} fault acts on the calling pwsh, and this call has none")
    if fault is not None and fault.kill_pwsh and not fault.kill_after and caller is not None:
        faults.kill_pwsh(caller)
        return 137, ""  # killed with its caller: nothing ran
    if fault is not None and fault.usage:
        code, text = 1, usage_text(operation, missing, layout)  # as if netsh could not parse the line
    elif operation == "show":
        code, text = (
            (1, _failure(operation, fault.error))
            if fault and fault.error
            else _run_show(store, command, layout)
        )
    else:
        code, text = _run_change(store, command, fault)
    if fault is not None and fault.drop_connection and caller is not None:
        faults.drop_connection(caller)
    if fault is not None and fault.kill_pwsh and fault.kill_after and caller is not None:
        faults.kill_pwsh(caller)
    return code, text
