"""Load a spec file into the normalized `Change`, or stop at the first problem with one `SpecError`.

Reading (YAML with lines) lives in `spec_yaml`, single values in `spec_values`, the key lists in
`spec_fields`; this module walks the document in a fixed order, merges `connection` and `defaults`,
and checks what involves several keys. `normalized_yaml` writes a Change back as the record's
change.yaml, which loads to an equal Change.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NoReturn, TypeVar, cast

from generator import spec_fields as f
from generator import spec_values as sv
from generator.binding import SETTING_NAMES, SETTINGS, SETTINGS_BY_NAME, KeyKind, Setting, SettingValue
from generator.errors import SPEC_MAX_BYTES, InputFileError, SpecError, read_input
from generator.model import Binding, BindingKey, Change, Connection, Method, Mode, Swap, Target
from generator.remote.checks import same_host_pairs
from generator.remote.tls_check import parse_tls_address
from generator.spec_yaml import Map, Node, OneLine, Scalar, Seq, decode, dump, parse

BINDING_KEYS: tuple[str, ...] = f.SELECTOR_NAMES + tuple(f.OPTIONS) + SETTING_NAMES
DEFAULTS_KEYS: tuple[str, ...] = tuple(f.OPTIONS) + SETTING_NAMES
# A CCS binding's certificate comes from the Central Certificate Store: no hash, no local store.
_CCS_NOT_DEFAULTED = ("certhash", "certstorename")
_KNOWN_KEYS = frozenset([*f.TOP, *f.CHANGE, *f.CONNECTION, *f.TARGET, *BINDING_KEYS])
T = TypeVar("T")
R = TypeVar("R")
_SECRET_FIX = (
    "a secret never goes in a spec (it would be copied into the change record); remove it and set "
    "SSLBIND_PASSWORD in the environment or answer the password prompt"
)


@dataclass(frozen=True)
class _Given:
    """One validated value and where the spec wrote it."""

    value: Any
    line: int
    key: str


@dataclass(frozen=True)
class _Ctx:
    path: str

    def fail(self, line: int | None, key: str, problem: str) -> NoReturn:
        raise SpecError(self.path, line, key, problem)


def load_spec(path: Path) -> Change:
    """Read, validate and normalize the spec at `path`; raises `SpecError` on the first problem."""
    try:
        data = read_input(path, SPEC_MAX_BYTES, "a spec")
    except InputFileError as error:  # in the spec's own message shape: file, key, problem
        raise SpecError(str(path), None, "file", error.problem) from None
    return parse_spec(data, str(path))


def parse_spec(data: bytes, path: str) -> Change:
    """`load_spec` on bytes already read; `path` is only used in messages and `Change.spec_path`."""
    ctx = _Ctx(path)
    root = parse(decode(data, path), path)
    if root is None:
        ctx.fail(None, "file", "is empty; start from examples/renew-api.yaml")
    if not isinstance(root, Map):
        ctx.fail(
            root.line, "top level", f"must be a mapping with version, change and targets, got {_what(root)}"
        )
    _refuse_secrets(root, "", ctx)
    top = _mapping(root, "", f.TOP, f.REQUIRED_TOP, ctx)
    _version(top.entries["version"], ctx)
    change_id, title, description = _change(top.entries["change"], ctx)
    connection = _connection_given(top.entries.get("connection"), "connection", ctx)
    defaults = _defaults(top.entries.get("defaults"), ctx)
    targets = _targets(top.entries["targets"], connection, defaults, ctx)
    return Change(
        id=change_id,
        title=title,
        targets=targets,
        description=description,
        spec_sha256=hashlib.sha256(data).hexdigest(),
        spec_path=path,
    )


# --- structure -------------------------------------------------------------------------------


def _join(prefix: str, name: str) -> str:
    name = name if len(name) <= sv.MAX_SHOWN else name[: sv.MAX_SHOWN] + "..."
    return f"{prefix}.{name}" if prefix else name


def _what(node: Node) -> str:
    """How YAML read a value, with the usual cause when it is not what a person meant."""
    if isinstance(node, Map):
        keys = list(node.entries)
        if node.flow and len(keys) == 1 and _is_null(node.entries[keys[0]]):
            return f'a mapping (YAML reads {{...}} as one); quote the value: "{{{keys[0]}}}"'
        return "a mapping"
    if isinstance(node, Seq):
        return "a list (YAML reads [...] as one); quote the value" if node.flow else "a list"
    if node.tag == "null":
        return "nothing"
    if node.tag == "bool":
        return f"{node.text} (YAML reads it as true/false)"
    return sv.shown(node.text) if node.tag == "str" else node.text[:40]


def _mapping(
    node: Node | None, key: str, allowed: Collection[str], required: Iterable[str], ctx: _Ctx
) -> Map:
    where = key or "top level"
    if node is None or (isinstance(node, Scalar) and node.tag == "null"):
        ctx.fail(node.line if node else None, where, "is empty; fill it in")
    if not isinstance(node, Map):
        ctx.fail(node.line, where, f"must be a mapping of keys, got {_what(node)}")
    for name, line in node.key_lines.items():
        if name not in allowed:
            ctx.fail(line, _join(key, name), _unknown(name, allowed))
    for name in required:
        if name not in node.entries:
            ctx.fail(node.line, _join(key, name), "is required; add it")
    return node


def _unknown(name: str, allowed: Collection[str]) -> str:
    if not name.isprintable() or not name.isascii():
        return f"unknown key {name!r}: it has an invisible or non-ASCII character; retype it"
    close = difflib.get_close_matches(name.lower(), list(allowed), n=1, cutoff=0.75)
    if close:
        return f"unknown key; did you mean {close[0]}?"
    if len(allowed) <= 14:
        return "unknown key; allowed here: " + ", ".join(allowed)
    return "unknown key; `sslbind schema` lists the allowed keys"


def _refuse_secrets(node: Node, key: str, ctx: _Ctx) -> None:
    """A password-like key anywhere in the document is refused before anything else is looked at."""
    if isinstance(node, Seq):
        for index, item in enumerate(node.items):
            _refuse_secrets(item, f"{key}[{index}]", ctx)
    elif isinstance(node, Map):
        for name, child in node.entries.items():
            lowered = name.lower()
            if name not in _KNOWN_KEYS and any(word in lowered for word in f.SECRET_WORDS):
                ctx.fail(node.key_lines[name], _join(key, name), _SECRET_FIX)
            _refuse_secrets(child, _join(key, name), ctx)


# --- scalars ---------------------------------------------------------------------------------


def _present(node: Node, key: str, ctx: _Ctx) -> None:
    if _is_null(node):
        ctx.fail(node.line, key, "has no value; give one or remove the key")


def _text(node: Node, key: str, ctx: _Ctx) -> str:
    """A string field takes any scalar's text as written, but not true/false or nothing."""
    _present(node, key, ctx)
    if isinstance(node, Scalar) and node.tag not in ("null", "bool"):
        return node.text
    if isinstance(node, Scalar) and node.tag == "bool":
        ctx.fail(node.line, key, f'YAML reads {node.text} as true/false; quote it: "{node.text}"')
    ctx.fail(node.line, key, f"must be text, got {_what(node)}")


def _int(node: Node, key: str, ctx: _Ctx) -> int:
    _present(node, key, ctx)
    if isinstance(node, Scalar):
        number = node.as_int()
        if number is not None:
            return number
        digits = node.text.lstrip("+-")
        if node.tag in ("int", "str") and digits.isascii() and digits.isdigit():
            if not node.plain:
                ctx.fail(
                    node.line, key, f"must be a number, not text; remove the quotes around {node.text[:20]}"
                )
            if len(digits.lstrip("0")) > 20:
                ctx.fail(node.line, key, f"{node.text[:20]}... is far too large")
            ctx.fail(node.line, key, f"write {node.text} without leading zeros (YAML may read it as octal)")
        if node.tag == "int":
            ctx.fail(node.line, key, f"write {node.text[:20]} as a plain decimal number")
    ctx.fail(node.line, key, f"must be a whole number, got {_what(node)}")


def _onoff(node: Node, key: str, ctx: _Ctx) -> str:
    _present(node, key, ctx)
    if isinstance(node, Scalar):
        flag = node.as_bool()
        value: str | bool = flag if flag is not None else node.text
        if node.tag in ("str", "bool"):
            return _checked(sv.onoff, value, node, key, ctx)
    ctx.fail(node.line, key, f"must be enable or disable (or true/false), got {_what(node)}")


def _checked(parser: Callable[[T], R], value: T, node: Node, key: str, ctx: _Ctx) -> R:
    try:
        return parser(value)
    except sv.Invalid as error:
        ctx.fail(node.line, key, str(error))


def _choice(node: Node, key: str, choices: Collection[str], ctx: _Ctx) -> str:
    if isinstance(node, Scalar) and node.tag == "bool":  # quoting it would not make it a choice
        ctx.fail(node.line, key, f"must be one of {', '.join(choices)}, got {_what(node)}")
    text = _text(node, key, ctx)
    if text not in choices:
        ctx.fail(node.line, key, f"must be one of {', '.join(choices)}, got {sv.shown(text)}")
    return text


def _is_null(node: Node) -> bool:
    return isinstance(node, Scalar) and node.tag == "null"


# --- version and change ----------------------------------------------------------------------


def _version(node: Node, ctx: _Ctx) -> None:
    if not (isinstance(node, Scalar) and node.as_int() == 1):
        ctx.fail(node.line, "version", f"must be 1 (the only spec format so far), got {_what(node)}")


def _change(node: Node, ctx: _Ctx) -> tuple[str, str, str]:
    change = _mapping(node, "change", f.CHANGE, ("id", "title"), ctx)
    entries = change.entries
    change_id = _checked(
        sv.change_id, _text(entries["id"], "change.id", ctx), entries["id"], "change.id", ctx
    )
    title = _checked(
        sv.title, _text(entries["title"], "change.title", ctx), entries["title"], "change.title", ctx
    )
    described = entries.get("description")
    description = ""
    if described is not None and not _is_null(described):
        text = _text(described, "change.description", ctx)
        description = _checked(sv.description, text, described, "change.description", ctx)
    return change_id, title, description


# --- connection ------------------------------------------------------------------------------


def _connection_value(name: str, node: Node, key: str, ctx: _Ctx) -> object:
    choices = f.connection_choices()
    if name in choices:
        return _choice(node, key, choices[name], ctx)
    if name == "port":
        return _checked(sv.port, _int(node, key, ctx), node, key, ctx)
    if name.endswith("_timeout"):
        return _checked(sv.timeout, _int(node, key, ctx), node, key, ctx)
    text = _text(node, key, ctx)
    if name == "path":
        return _checked(sv.url_path, text, node, key, ctx)
    what = "a user name" if name == "username" else "a file path"
    return _checked(lambda t: sv.one_line(t, what), text, node, key, ctx)


def _connection_given(node: Node | None, key: str, ctx: _Ctx) -> dict[str, _Given]:
    """The connection keys a section sets; null means "the default" (so a target can unset a key)."""
    if node is None or _is_null(node):
        return {}
    section = _mapping(node, key, f.CONNECTION, (), ctx)
    given: dict[str, _Given] = {}
    for name, value in section.entries.items():
        child = _join(key, name)
        parsed = None if _is_null(value) else _connection_value(name, value, child, ctx)
        given[name] = _Given(parsed, section.key_lines[name], child)
    return given


def _connection(given: Mapping[str, _Given], host: str, ctx: _Ctx) -> Connection:
    values = {name: item.value for name, item in given.items() if item.value is not None}
    given = {name: item for name, item in given.items() if item.value is not None}
    values.setdefault("port", f.CONNECTION_PORT_DEFAULT[values.get("protocol", "https")])
    connection = Connection(**values)
    _check_connection(connection, given, host, ctx)
    return connection


def _check_connection(c: Connection, given: Mapping[str, _Given], host: str, ctx: _Ctx) -> None:
    def fail(name: str, problem: str) -> NoReturn:
        item = given.get(name) or given.get("auth") or next(iter(given.values()), None)
        where = f" (host {host})"
        ctx.fail(item.line if item else None, item.key if item else "connection", problem + where)

    pem = [name for name in ("certificate_pem", "certificate_key_pem") if getattr(c, name)]
    if c.auth == "certificate":
        if c.protocol != "https":
            fail("protocol", "auth: certificate works only over https; set protocol: https")
        if len(pem) < 2:
            fail("auth", "certificate needs certificate_pem and certificate_key_pem (file paths)")
    elif pem:
        fail(pem[0], "is used only with auth: certificate; remove it or set auth: certificate")
    if c.auth in ("basic", "certificate") and c.message_encryption == "always":
        fail(
            "message_encryption",
            f"{c.auth} cannot encrypt WinRM messages; use auto (https protects them)",
        )
    if c.auth == "basic" and c.protocol == "http" and c.message_encryption != "never":
        fail("auth", "basic over http would send the password in clear; use protocol: https")
    if c.auth in ("basic", "ntlm", "credssp") and not c.username:
        fail("auth", f"{c.auth} needs a username; add connection.username")
    if c.read_timeout <= c.operation_timeout:
        fail(
            "read_timeout",
            f"read_timeout ({c.read_timeout}) must exceed operation_timeout ({c.operation_timeout}), "
            "the time the server has to answer; raise read_timeout",
        )
    if c.ca_cert and (c.cert_validation == "ignore" or c.protocol == "http"):
        fail("ca_cert", "is used only with protocol: https and cert_validation: validate; remove it")


# --- defaults and bindings -------------------------------------------------------------------


def _setting(setting: Setting, node: Node, key: str, ctx: _Ctx) -> SettingValue:
    if setting.kind == "onoff":
        return _onoff(node, key, ctx)
    if setting.kind == "uint32":
        return _checked(sv.uint32, _int(node, key, ctx), node, key, ctx)
    parser = {"hash": sv.certhash, "guid": sv.appid, "store": sv.store, "ctlid": sv.ctlid}[setting.kind]
    return _checked(parser, _text(node, key, ctx), node, key, ctx)


def _settings_given(section: Map, key: str, ctx: _Ctx) -> dict[str, _Given]:
    """Settings, mode, method and swap a binding or `defaults` sets, in the order of the settings table."""
    given: dict[str, _Given] = {}
    for name in DEFAULTS_KEYS:
        node = section.entries.get(name)
        if node is None:
            continue
        child = _join(key, name)
        if name == "mode":
            value: object = _choice(node, child, f.MODES, ctx)
        elif name == "method":
            value = _choice(node, child, f.METHODS, ctx)
        elif name == "swap":
            value = _choice(node, child, f.SWAPS, ctx)
        else:
            value = _setting(SETTINGS_BY_NAME[name], node, child, ctx)
        given[name] = _Given(value, section.key_lines[name], child)
    return given


def _defaults(node: Node | None, ctx: _Ctx) -> dict[str, _Given]:
    if node is None or _is_null(node):
        return {}
    if isinstance(node, Map):
        for name in f.SELECTOR_NAMES:
            if name in node.entries:
                ctx.fail(
                    node.key_lines[name],
                    f"defaults.{name}",
                    "a binding key cannot be a default; put it in each binding",
                )
    return _settings_given(_mapping(node, "defaults", DEFAULTS_KEYS, (), ctx), "defaults", ctx)


def _binding_key(kind: KeyKind, node: Node, key: str, ctx: _Ctx) -> BindingKey:
    if kind is KeyKind.CCS:
        if isinstance(node, Scalar) and node.tag == "str" and ":" in node.text:
            ctx.fail(node.line, key, f"ccs takes the port alone, e.g. ccs: 443, got {sv.shown(node.text)}")
        return BindingKey(kind, str(_checked(sv.port, _int(node, key, ctx), node, key, ctx)))
    parser = sv.ipport if kind is KeyKind.IPPORT else sv.name_port
    return BindingKey(kind, _checked(parser, _text(node, key, ctx), node, key, ctx))


def _binding(node: Node, key: str, defaults: Mapping[str, _Given], ctx: _Ctx) -> Binding:
    section = _mapping(node, key, BINDING_KEYS, (), ctx)
    selectors = [name for name in section.entries if name in f.SELECTOR_NAMES]
    if not selectors:
        ctx.fail(section.line, key, "names no binding; add one of " + ", ".join(f.SELECTOR_NAMES))
    if len(selectors) > 1:
        first, second = selectors[0], selectors[1]
        ctx.fail(
            section.key_lines[second],
            _join(key, second),
            f"a binding has exactly one key, this one also has {first} (line {section.key_lines[first]}); "
            "split it into two bindings",
        )
    kind = KeyKind(selectors[0])
    binding_key = _binding_key(kind, section.entries[kind.value], _join(key, kind.value), ctx)
    own = _settings_given(section, key, ctx)
    options = {**defaults, **own}
    mode = cast(Mode, options["mode"].value if "mode" in options else "preserve")
    method = cast(Method, options["method"].value if "method" in options else "netsh")
    settings = {**_applicable(defaults, kind, method), **own}
    settings = {name: settings[name] for name in SETTING_NAMES if name in settings}
    _check_binding(kind, mode, method, settings, options, section, key, ctx)
    return Binding(
        key=binding_key,
        settings={name: item.value for name, item in settings.items()},
        mode=mode,
        method=method,
        swap=_swap(kind, method, own.get("swap"), defaults.get("swap"), section, key, ctx),
        line=section.line,
    )


def _swap(
    kind: KeyKind,
    method: str,
    own: _Given | None,
    default: _Given | None,
    section: Map,
    key: str,
    ctx: _Ctx,
) -> Swap:
    """How an existing binding is changed. A registry write never deletes, adds or updates a binding:
    its own update/replace is refused, a default one does not apply (like a default certhash)."""
    if method == "registry":
        if own is not None and own.value != "auto":
            ctx.fail(
                own.line,
                own.key,
                f"swap: {own.value} has no meaning for method: registry (it writes a registry value, "
                "netsh never runs); remove swap or use method: netsh for this binding",
            )
        return "auto"
    given = own or default
    if given is None:
        return "auto"
    if given.value == "update" and kind not in f.UPDATE_KINDS:
        problem = (
            f"swap: update is not available for {kind.value} bindings (netsh http update sslcert does "
            "not cover them)"
        )
        if own is None:
            ctx.fail(
                section.line,
                key,
                f"{problem}; the update comes from defaults (line {given.line}): set swap: auto or "
                "replace on this binding",
            )
        ctx.fail(given.line, given.key, f"{problem}; use swap: auto or replace (delete+add)")
    return cast(Swap, given.value)


def _applicable(defaults: Mapping[str, _Given], kind: KeyKind, method: str) -> dict[str, _Given]:
    """The default settings this binding can take (see `spec_fields.TOP["defaults"]`)."""
    names = [name for name in defaults if name in SETTINGS_BY_NAME]
    if kind in (KeyKind.CCS, KeyKind.SCOPEDCCS):
        names = [name for name in names if name not in _CCS_NOT_DEFAULTED]
    if method == "registry":
        names = [name for name in names if name in f.REGISTRY_SETTINGS]
    return {name: defaults[name] for name in names}


def _check_binding(
    kind: KeyKind,
    mode: str,
    method: str,
    settings: Mapping[str, _Given],
    options: Mapping[str, _Given],
    section: Map,
    key: str,
    ctx: _Ctx,
) -> None:
    if kind in (KeyKind.CCS, KeyKind.SCOPEDCCS) and "certhash" in settings:
        item = settings["certhash"]
        ctx.fail(
            item.line,
            item.key,
            f"{kind.value} bindings have no certhash (the certificate comes from "
            "the Central Certificate Store); remove it",
        )
    if method == "registry":
        _check_registry(kind, settings, options, section, key, ctx)
        return
    if mode == "exact":
        needed = ["certhash", "appid"] if kind in (KeyKind.IPPORT, KeyKind.HOSTNAMEPORT) else ["appid"]
        for name in needed:
            if name not in settings:
                ctx.fail(
                    section.line,
                    key,
                    f"mode: exact rebuilds the binding from the spec alone and needs "
                    f"{name}; add it, or use mode: preserve to keep the current one",
                )
    if (
        kind is KeyKind.HOSTNAMEPORT
        and "certstorename" not in settings
        and (mode == "exact" or "certhash" in settings)
    ):
        ctx.fail(
            section.line,
            key,
            "hostnameport bindings need certstorename (netsh requires it); add "
            "certstorename: My (or WebHosting), here or under defaults",
        )
    if not settings:
        ctx.fail(
            section.line, key, "names no setting to change; add one (e.g. certhash), or remove the binding"
        )


def _check_registry(
    kind: KeyKind,
    settings: Mapping[str, _Given],
    options: Mapping[str, _Given],
    section: Map,
    key: str,
    ctx: _Ctx,
) -> None:
    allowed = ", ".join(f.REGISTRY_SETTINGS)
    method = options["method"]
    if kind not in f.REGISTRY_KINDS:
        ctx.fail(
            method.line,
            method.key,
            f"method: registry is not available for {kind.value} bindings "
            "(their registry key is not verified); use method: netsh",
        )
    for name, item in settings.items():
        if name not in f.REGISTRY_SETTINGS:
            ctx.fail(
                item.line,
                item.key,
                f"method: registry changes only {allowed}; remove {name} or use "
                "method: netsh for this binding",
            )
    if not settings:
        ctx.fail(section.line, key, f"method: registry needs at least one of {allowed}")


# --- targets ---------------------------------------------------------------------------------


def _targets(
    node: Node, connection: Mapping[str, _Given], defaults: Mapping[str, _Given], ctx: _Ctx
) -> tuple[Target, ...]:
    if not isinstance(node, Seq) or not node.items:
        got = "an empty list" if isinstance(node, Seq) else _what(node)
        ctx.fail(node.line, "targets", f"must be a list of hosts with their bindings, got {got}")
    seen: dict[str, tuple[str, int]] = {}
    targets: list[Target] = []
    for index, item in enumerate(node.items):
        target = _target(item, f"targets[{index}]", connection, defaults, ctx)
        host_line = cast(Map, item).key_lines["host"]
        if target.host in seen:
            first, line = seen[target.host]
            ctx.fail(
                host_line,
                f"targets[{index}].host",
                f"{target.host} is already {first} (line {line}); put all its bindings under one target",
            )
        seen[target.host] = (f"targets[{len(targets)}]", host_line)
        targets.append(target)
    _refuse_aliased_hosts(seen, ctx)
    return tuple(targets)


def _refuse_aliased_hosts(seen: Mapping[str, tuple[str, int]], ctx: _Ctx) -> None:
    """Two names for one machine (web01 and web01.contoso.local) would make one run race itself;
    refused offline, by name only (the client also compares addresses before it connects)."""
    pairs = same_host_pairs(seen, resolve=False)
    if pairs:
        first, second, why = pairs[0]
        key, line = seen[second]
        ctx.fail(
            line,
            f"{key}.host",
            f"{second} and {first} (line {seen[first][1]}) are the same host ({why}); name each host once",
        )


def _target(
    node: Node, key: str, connection: Mapping[str, _Given], defaults: Mapping[str, _Given], ctx: _Ctx
) -> Target:
    section = _mapping(node, key, f.TARGET, f.REQUIRED_TARGET, ctx)
    host_node = section.entries["host"]
    host = _checked(sv.host, _text(host_node, f"{key}.host", ctx), host_node, f"{key}.host", ctx)
    own = _connection_given(section.entries.get("connection"), f"{key}.connection", ctx)
    merged = _connection({**connection, **own}, host, ctx)
    bindings = section.entries["bindings"]
    if not isinstance(bindings, Seq) or not bindings.items:
        got = "an empty list" if isinstance(bindings, Seq) else _what(bindings)
        ctx.fail(bindings.line, f"{key}.bindings", f"must be a list of bindings, got {got}")
    tls_address = None
    if "tls_address" in section.entries:
        node = section.entries["tls_address"]
        text = _text(node, f"{key}.tls_address", ctx)
        _checked(parse_tls_address, text, node, f"{key}.tls_address", ctx)
        tls_address = text
    return Target(
        host=host,
        connection=merged,
        bindings=_bindings(bindings, key, defaults, ctx),
        tls_address=tls_address,
    )


def _bindings(node: Seq, key: str, defaults: Mapping[str, _Given], ctx: _Ctx) -> tuple[Binding, ...]:
    seen: dict[BindingKey, tuple[str, int]] = {}
    out: list[Binding] = []
    for index, item in enumerate(node.items):
        where = f"{key}.bindings[{index}]"
        binding = _binding(item, where, defaults, ctx)
        if binding.key in seen:
            first, line = seen[binding.key]
            ctx.fail(
                binding.line,
                where,
                f"{binding.key} is already {first} (line {line}); a host has one "
                "binding per key, merge the two",
            )
        seen[binding.key] = (where, binding.line or 0)
        out.append(binding)
    return tuple(out)


# --- normalized YAML -------------------------------------------------------------------------


def _binding_document(binding: Binding) -> OneLine:
    key: SettingValue = binding.key.port if binding.key.kind is KeyKind.CCS else binding.key.value
    document = OneLine(
        {
            binding.key.kind.value: key,
            "mode": binding.mode,
            "method": binding.method,
            "swap": binding.swap,
        }
    )
    for setting in SETTINGS:
        if setting.name in binding.settings:
            document[setting.name] = binding.settings[setting.name]
    return document


def _connection_document(connection: Connection) -> dict[str, object]:
    values = {field.name: getattr(connection, field.name) for field in fields(connection)}
    return {name: value for name, value in values.items() if value is not None}


def normalized_yaml(change: Change) -> str:
    """The change as a spec with every value spelled out: defaults merged, fixed key order, no secrets."""
    meta: dict[str, object] = {"id": change.id, "title": change.title}
    if change.description:
        meta["description"] = change.description
    document = {
        "version": 1,
        "change": meta,
        "targets": [
            {
                "host": target.host,
                "connection": _connection_document(target.connection),
                "bindings": [_binding_document(binding) for binding in target.bindings],
                **({"tls_address": target.tls_address} if target.tls_address else {}),
            }
            for target in change.targets
        ],
    }
    header = (
        "# Normalized by sslbind: defaults merged, every binding spelled out.\n"
        f"# Source spec sha256: {change.spec_sha256 or 'unknown'}\n"
    )
    return header + dump(document)
