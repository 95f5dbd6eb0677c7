"""The lab's JSON state file: bindings, certificates, netsh behaviour and faults, under a file lock.

Every reader and writer (the server, each shell's netsh and registry shims) goes through
`StateFile`, so concurrent shells see one consistent HTTP.sys. The lock is a sidecar file
(`<state>.lock`) because the state itself is replaced atomically on every write.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from generator.binding import (
    CHECK_MODE_VALUE,
    FLAGS_VALUE,
    SETTING_NAMES,
    SETTINGS_BY_NAME,
    UINT32_MAX,
    KeyKind,
)
from generator.errors import MIB, UserError, read_input
from generator.lab.simwin.netsh_help import HELP_LAYOUTS

State = dict[str, Any]

KEY_NAMES: tuple[str, ...] = tuple(k.value for k in KeyKind)
# Binding entries may carry raw registry values that no netsh parameter can produce (for tests of
# the "unknown bits" refusal); see generator/lab/README.md.
EXTRA_BINDING_KEYS = ("registry", "extended")
CERT_KEYS = frozenset(
    {
        "store",
        "thumbprint",
        "subject",
        "issuer",
        "not_before",
        "not_after",
        "has_private_key",
        "server_auth",
        "eku",
        "friendly_name",
        "key_usable",
        "pem",
    }
)
# Certificate flags that must be JSON booleans: a string "false" would read as true in Python.
# `key_usable: false` is a key HTTP.sys cannot use although HasPrivateKey is true (README).
CERT_BOOL_KEYS = ("has_private_key", "server_auth", "key_usable")
# What the client's runspaces run in (SimWindows.ps1 sets it last; it checks the same names).
LANGUAGE_MODES = ("FullLanguage", "ConstrainedLanguage", "RestrictedLanguage", "NoLanguage")
TOP_KEYS = frozenset(
    {"bindings", "certificates", "netsh", "faults", "language_mode", "listeners", "tls", "lock_folder_sddl"}
)
# The TLS front's settings (generator/lab/front.py); the step names of HTTP.sys's certificate lookup.
TLS_KEYS = frozenset({"port_base", "precedence"})
TLS_STEPS = ("ip", "sni", "scoped_ccs", "ccs", "wildcard_ip")
MAX_PORT = 65535
# A lab state is a few kB; the cap keeps a wrong path (a device, a huge file) from eating memory.
STATE_MAX_BYTES = 64 * MIB
NETSH_KEYS = frozenset({"supports_update", "missing_parameters", "help_layout"})
# netsh commands that have a usage text for a `"usage": true` fault to print.
USAGE_FAULT_OPERATIONS = ("add", "update", "delete")
FAULT_KEYS = frozenset(
    {
        "on",
        "error",
        "hang",
        "drop_connection",
        "kill_pwsh",
        "target",
        "when",
        "usage",
        "stale_tls",
        "pinned",
        "certhash",
    }
)


class LabStateError(UserError):
    """The state file cannot be used; the message names the file and the entry."""


def binding_key(entry: dict[str, Any]) -> tuple[KeyKind, str]:
    """(kind, value) of a binding entry; the entry was validated to hold exactly one key."""
    for kind in KeyKind:
        if kind.value in entry:
            return kind, str(entry[kind.value])
    raise KeyError("binding has no key")


def same_key(kind_a: KeyKind, value_a: str, kind_b: KeyKind, value_b: str) -> bool:
    """HTTP.sys keys compare case-blind (host names, IPv6 hex digits)."""
    return kind_a == kind_b and value_a.lower() == value_b.lower()


def _validate_registry(raw: Any, where: str) -> None:
    """Raw values override derived ones (null removes one); the bit fields take any uint32."""
    if not isinstance(raw, dict):
        raise LabStateError(f'{where}: must be an object like {{"DefaultFlags": 32770}}')
    bit_fields = (CHECK_MODE_VALUE.lower(), FLAGS_VALUE.lower())
    for name, value in raw.items():
        uint32 = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= UINT32_MAX
        if name.lower() in bit_fields and value is not None and not uint32:
            raise LabStateError(f"{where}.{name}: must be a number from 0 to {UINT32_MAX} (or null)")


def _validate_certificate(cert: dict[str, Any], where: str) -> None:
    unknown = set(cert) - CERT_KEYS
    if unknown or "thumbprint" not in cert:
        what = f"unknown key {sorted(unknown)[0]!r}" if unknown else "missing thumbprint"
        raise LabStateError(f"{where}: {what}")
    for name in CERT_BOOL_KEYS:
        if name in cert and not isinstance(cert[name], bool):
            raise LabStateError(f"{where}.{name}: must be true or false")
    for name in sorted(CERT_KEYS - set(CERT_BOOL_KEYS) - {"eku"}):
        if name in cert and not isinstance(cert[name], str):
            raise LabStateError(f"{where}.{name}: must be a string")
    for name in ("not_before", "not_after"):
        try:
            datetime.fromisoformat(cert.get(name, "2020-01-01T00:00:00Z"))
        except ValueError:
            raise LabStateError(f'{where}.{name}: must be a time like "2027-01-01T00:00:00Z"') from None
    eku = cert.get("eku", [])
    if not isinstance(eku, list) or not all(isinstance(oid, str) for oid in eku):
        raise LabStateError(f'{where}.eku: must be a list of OIDs like ["1.3.6.1.5.5.7.3.1"]')


def _validate_listeners(listeners: Any, path: str) -> None:
    """TCP ports something listens on (what Get-NetTCPConnection -State Listen finds). Not filled
    in when absent, so a state without listeners is written back as it was read."""
    if not isinstance(listeners, list):
        raise LabStateError(f"{path}: listeners: must be a list of port numbers like [8443]")
    for i, port in enumerate(listeners):
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= MAX_PORT:
            raise LabStateError(f"{path}: listeners[{i}]: must be a port number from 1 to {MAX_PORT}")


def _validate_netsh(netsh: dict[str, Any], path: str) -> None:
    unknown = set(netsh) - NETSH_KEYS
    if unknown:
        raise LabStateError(f"{path}: netsh: unknown key {sorted(unknown)[0]!r}")
    missing = netsh.get("missing_parameters", [])
    if not isinstance(missing, list) or not set(missing) <= set(SETTING_NAMES):
        raise LabStateError(f"{path}: netsh.missing_parameters: must list netsh parameter names")
    layout = netsh.get("help_layout", HELP_LAYOUTS[0])
    if layout not in HELP_LAYOUTS:
        raise LabStateError(f"{path}: netsh.help_layout: must be one of {', '.join(HELP_LAYOUTS)}")


def _validate_tls(tls: Any, path: str) -> None:
    if not isinstance(tls, dict):
        raise LabStateError(f'{path}: tls: must be an object like {{"port_base": 20000}}')
    unknown = set(tls) - TLS_KEYS
    if unknown:
        raise LabStateError(f"{path}: tls: unknown key {sorted(unknown)[0]!r}")
    base = tls.get("port_base", 0)
    if not isinstance(base, int) or isinstance(base, bool) or not 0 <= base <= MAX_PORT:
        raise LabStateError(f"{path}: tls.port_base: must be a number from 0 to {MAX_PORT}")
    order = tls.get("precedence", list(TLS_STEPS))
    if (
        not isinstance(order, list)
        or not all(isinstance(step, str) and step in TLS_STEPS for step in order)
        or len(set(order)) != len(order)
    ):
        raise LabStateError(f"{path}: tls.precedence: must list some of {', '.join(TLS_STEPS)}, each once")


def validate(state: Any, path: str) -> State:
    """Checks the shape of a state document; returns it with missing sections filled in."""
    if not isinstance(state, dict):
        raise LabStateError(f"{path}: the state must be a JSON object")
    unknown_top = set(state) - TOP_KEYS
    if unknown_top:
        raise LabStateError(f"{path}: unknown key {sorted(unknown_top)[0]!r}")
    if state.get("language_mode", LANGUAGE_MODES[0]) not in LANGUAGE_MODES:
        raise LabStateError(f"{path}: language_mode: must be one of {', '.join(LANGUAGE_MODES)}")
    # The security descriptor (SDDL) the lab gives its host lock's folder (SimWindows.ps1
    # SslbindLabLockFolderSddl); absent: the one sslbind creates on Windows.
    if not isinstance(state.get("lock_folder_sddl", ""), str):
        raise LabStateError(f"{path}: lock_folder_sddl: must be a string (a security descriptor in SDDL)")
    for section in ("bindings", "certificates", "faults"):
        value = state.setdefault(section, [])
        if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
            raise LabStateError(f"{path}: {section}: must be a list of objects")
    netsh = state.setdefault("netsh", {"supports_update": True})
    if not isinstance(netsh, dict):
        raise LabStateError(f'{path}: netsh: must be an object like {{"supports_update": true}}')
    _validate_netsh(netsh, path)
    _validate_listeners(state.get("listeners", []), path)
    _validate_tls(state.get("tls", {}), path)
    for i, entry in enumerate(state["bindings"]):
        keys = [k for k in KEY_NAMES if k in entry]
        if len(keys) != 1:
            raise LabStateError(f"{path}: bindings[{i}]: needs exactly one of {', '.join(KEY_NAMES)}")
        unknown = set(entry) - set(KEY_NAMES) - set(SETTING_NAMES) - set(EXTRA_BINDING_KEYS)
        if unknown:
            raise LabStateError(f"{path}: bindings[{i}]: unknown key {sorted(unknown)[0]!r}")
        _validate_registry(entry.get("registry", {}), f"{path}: bindings[{i}]: registry")
        _validate_extended(entry.get("extended", []), f"{path}: bindings[{i}]: extended")
        _validate_binding_values(entry, KeyKind(keys[0]), f"{path}: bindings[{i}]")
    for i, cert in enumerate(state["certificates"]):
        _validate_certificate(cert, f"{path}: certificates[{i}]")
    for i, fault in enumerate(state["faults"]):
        _validate_fault(fault, f"{path}: faults[{i}]")
    return state


def _validate_extended(blocks: Any, where: str) -> None:
    """HTTP/2 Extended Properties as `netsh http show sslcert` lists them on Server 2022 and
    later: [{"id": 0, "values": [1048576]}, ...] (netsh add and update cannot set them)."""
    if not isinstance(blocks, list):
        raise LabStateError(f'{where}: must be a list like [{{"id": 0, "values": [1048576]}}]')
    for block in blocks:
        values = block.get("values") if isinstance(block, dict) else None
        numbers = [block.get("id") if isinstance(block, dict) else None, *(values or [])]
        if not isinstance(values, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= UINT32_MAX for n in numbers
        ):
            raise LabStateError(f"{where}: each block needs an id and values, numbers from 0 to {UINT32_MAX}")


def _validate_binding_values(entry: dict[str, Any], kind: KeyKind, where: str) -> None:
    """The key as netsh would take it and every setting of the type the shims read it as: a wrong
    type here would surface as a traceback inside a pwsh shim, far from the state file."""
    from generator.importers.values import binding_key as normalized_key

    key = entry[kind.value]
    try:
        if not isinstance(key, str):
            raise ValueError("must be a string")
        normalized_key(kind, key)
    except ValueError as error:
        raise LabStateError(f"{where}.{kind.value}: {error}") from None
    for name, value in entry.items():
        setting = SETTINGS_BY_NAME.get(name)
        if setting is None or value is None:
            continue
        if setting.kind == "uint32":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= UINT32_MAX:
                raise LabStateError(f"{where}.{name}: must be a number from 0 to {UINT32_MAX}")
        elif not isinstance(value, str):
            raise LabStateError(f"{where}.{name}: must be a string")


def _validate_fault(fault: dict[str, Any], where: str) -> None:
    from generator.lab.faults import FAULT_OPERATIONS  # faults imports this module

    unknown = set(fault) - FAULT_KEYS
    if unknown or "on" not in fault:
        what = f"unknown key {sorted(unknown)[0]!r}" if unknown else "missing 'on'"
        raise LabStateError(f"{where}: {what}")
    if not isinstance(fault["on"], str) or fault["on"].lower() not in FAULT_OPERATIONS:
        raise LabStateError(f"{where}.on: must be one of {', '.join(FAULT_OPERATIONS)}")
    if "usage" in fault and (fault["usage"] is not True or fault["on"] not in USAGE_FAULT_OPERATIONS):
        raise LabStateError(f'{where}: usage: only "usage": true, on add, update or delete')
    error = fault.get("error")
    if error is not None and (not isinstance(error, int) or isinstance(error, bool) or error < 0):
        raise LabStateError(f"{where}.error: must be a win32 error code like 5 (or null)")
    hang = fault.get("hang", 0)
    if hang is not None and (not isinstance(hang, int | float) or isinstance(hang, bool) or hang < 0):
        raise LabStateError(f"{where}.hang: must be a number of seconds")
    if "stale_tls" in fault and (fault["stale_tls"] is not True or fault["on"] != "tls"):
        raise LabStateError(f'{where}: stale_tls: only "stale_tls": true, on tls')
    pinned = fault.get("pinned", {})
    if not isinstance(pinned, dict) or not all(isinstance(v, str) for v in pinned.values()):
        raise LabStateError(f"{where}.pinned: must map binding keys to thumbprints")
    for flag in ("drop_connection", "kill_pwsh"):
        if flag in fault and not isinstance(fault[flag], bool):
            raise LabStateError(f"{where}.{flag}: must be true or false")
    if fault.get("when", "before") not in ("before", "after"):
        raise LabStateError(f'{where}.when: must be "before" or "after"')
    certhash = fault.get("certhash")
    if "certhash" in fault and (fault["on"] != "tls" or not isinstance(certhash, str) or len(certhash) != 40):
        raise LabStateError(f"{where}.certhash: only on tls, a thumbprint of 40 hex digits")
    if "target" in fault and not isinstance(fault["target"], str):
        raise LabStateError(f'{where}.target: must be a binding key like "0.0.0.0:443"')


class StateFile:
    """One state file; `read()` for a snapshot, `transaction()` to change it atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).resolve()
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        with open(self.lock_path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _load(self) -> State:
        if not self.path.exists():
            raise LabStateError(f"{self.path}: state file not found; create one with `sslbind lab init`")
        data = read_input(self.path, STATE_MAX_BYTES, "a lab state")  # not /dev/zero, not a FIFO
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            line = data[: error.start].count(b"\n") + 1
            raise LabStateError(f"{self.path}:{line}: not UTF-8 text; is this a lab state file?") from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise LabStateError(f"{self.path}:{error.lineno}: not valid JSON: {error.msg}") from None
        return validate(document, str(self.path))

    def _store(self, state: State) -> None:
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(state, out, indent=2)
                out.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self) -> State:
        with self._locked(exclusive=False):
            return self._load()

    @contextmanager
    def transaction(self) -> Iterator[State]:
        """Yields the state under an exclusive lock and writes it back if the block succeeds."""
        with self._locked(exclusive=True):
            state = self._load()
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                self._store(state)

    def create(self, state: State) -> None:
        """Writes a new state file; refuses to overwrite an existing one."""
        validate(state, str(self.path))
        if self.path.exists():
            raise LabStateError(f"{self.path}: already exists; choose another file or remove it first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(exclusive=True):
            self._store(state)
