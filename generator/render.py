r"""Render a Change into its per-host PowerShell scripts, the library module and the reviewer README.

`render_change(change)` returns the record's relative paths and bytes (the lead's record.py writes
them): `hosts/<host_dir(host)>/{prepare,delete,add,verify,rollback,apply}.ps1`, the library
`lib/SslBind/SslBind.psm1` + `SslBind.psd1` (`library_files()`: one script module per sslbind
version, the same bytes whatever the change), `README.md` and `render_extras(change)`'s
`.gitattributes` (no line-ending conversion, so hashes survive git) (`host_dir` is the host name;
an IPv6 address loses its brackets and gets '_' for ':'). A host script holds its comment help,
the typed param() whose defaults are the spec's values, and a call into the library: run from its
file it checks the SHA-256 of `..\..\lib\SslBind\SslBind.psm1` and `.psd1` against the hashes it
pins (rendered from the library bytes passed in, see `iter_rendered`), refuses a library that
differs, imports it and calls `Invoke-SslPhase`; over PSRP the client sends the library first and
passes `-LibraryPreloaded` (generator/remote/scriptio.py). Output is deterministic (no clock,
settings in netsh order, bindings and hosts in spec order); PowerShell files are ASCII with CRLF
line endings. Every value reaching a script is checked here first and written through one quoting
filter; the settings table is rendered from `generator.binding`, never retyped.

Script interface (all six scripts; the remote executor passes values as PSRP parameters, see
`script_parameters`):

- `-Binding [hashtable[]]`: one hashtable per binding, keys `Kind` (ipport|hostnameport|ccs|
  scopedccs), `Key` (netsh value), `Mode` (preserve|exact), `Method` (netsh|registry), `Swap`
  (auto|update|replace, always present; auto for registry), `Settings` (hashtable netsh parameter
  -> value, all str; only what the spec names). The two uint32 timers
  travel as decimal digit strings: pypsrp sends a Python int as <I32>, which cannot hold values
  above 2147483647; the script accepts an integer or a string of up to 10 digits <= 4294967295.
  Re-validated in the script against the rendered table and patterns.
- `-TargetHost [string]`: the spec's host name, echoed as `host` in the result.
- prepare.ps1: nothing else. add.ps1 / verify.ps1: `-Prepared [string]` (prepare.ps1's JSON,
  optional). rollback.ps1: `-Prior [string]` (mandatory; JSON of a prepare/apply/delete result or
  its `before` list). apply.ps1: `-ExpectedPrior [string]` (optional; same shapes as -Prior; a
  mismatch refuses before anything changes) and `-AcceptNoUndo` (switch; passed only when the
  operator gave `sslbind apply --accept-no-undo`: change bindings apply has proven it cannot restore).
- `-LibraryPreloaded` (switch): only the remote client passes it, with the library sent as the
  pipeline's first statement; the script then uses the loaded SslBind module instead of the file.
- Common parameters: `-WhatIf` (changes nothing) and `-Confirm:$false` (ConfirmImpact is High, so
  a host without a UI must pass it). Progress goes to the information stream.

Output: exactly one JSON string on the output stream (`ConvertTo-Json -Depth 10 -Compress`), then
a thrown error when the outcome is a failure (pipeline Failed). Fields:
`change_id, title, host, phase, tool_version, spec_sha256, outcome, whatif, before, after,
bindings, differences, actions, timings{total_ms, gaps[{binding, gap_ms}]}, notes, error` and
`library{name, version, sha256, loaded (file|preloaded)}`.
- outcome: prepare `changes_pending|unchanged|refused`; delete `deleted|unchanged|failed`;
  add `added|unchanged|failed`; verify `compliant|drift|refused`; rollback
  `rolled_back|unchanged|refused|rollback_failed|declined`; apply `applied|unchanged|rolled_back|
  rollback_failed|refused|declined`. Failures (thrown): refused, failed, drift, rolled_back
  (apply), rollback_failed. declined: the one confirmation question was answered no (nothing
  changed, not thrown); a confirmation that cannot be asked (no UI over remoting without
  `-Confirm:$false`) gives refused with the JSON still written.
- before/after: captured bindings `{kind, key, exists, settings{every setting in netsh order},
  registry{path, DefaultSslCertCheckMode, DefaultFlags}}` (settings/registry null when absent;
  an unreadable after-state is `{kind, key, error}`).
- bindings (prepare/add/apply): `{binding, kind, key, mode, method, exists, change
  (none|add|replace|set-registry), desired{...}, differences[{setting, expected, actual}],
  arguments[], command_line, registry_value, certificate{store, thumbprint, subject, not_before,
  not_after, has_private_key, server_auth, problems[]}, restart_required}`; newer scripts add
  `swap, path (none|add|update|replace|set-registry), commands[] (the netsh lines in order),
  restorable (bool, null when nothing changes), undo_problem` per binding and `update_supported`
  {kind: bool} at the top (the client reads them where present, see generator/remote/scriptio.py).
- actions: ordered `{step, binding, command, result (ok|absent|failed|whatif|present|retry),
  code, output, ms}` (retry: an add failed with the transient 87 and runs again after 1/2/4/8 s);
  steps delete, add, set-registry, verify, rollback-delete, rollback-add, rollback-set-registry,
  rollback-verify, rollback-keep-add/rollback-keep-verify (a failed re-add after rollback's delete
  puts the binding back as it was just before; outcome rollback_failed). With -WhatIf apply
  lists `delete` and `add`/`replace`/`set-registry` steps with result whatif and outcome unchanged.
- apply restores the touched bindings also when its pipeline is stopped mid-change (a `finally`
  block); no JSON reaches the client then, so re-run prepare.ps1 to see the state.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from generator import __version__
from generator.binding import (
    CHECK_MODE_VALUE,
    EXTRA_CHECK_MODE_NAMES,
    EXTRA_FLAG_NAMES,
    FLAGS_VALUE,
    KNOWN_CHECK_MODE_BITS,
    KNOWN_FLAG_BITS,
    PATTERNS,
    REGISTRY_ROOT,
    REGISTRY_SUBKEY,
    SETTINGS,
    SETTINGS_BY_NAME,
    UINT32_MAX,
    KeyKind,
    SettingValue,
    default_settings,
    netsh_add_arguments,
    powershell_command_line,
)
from generator.errors import UserError
from generator.model import Binding, Change, Target
from generator.portable import safe_file_name
from generator.pslibrary import Library
from generator.spec_fields import SWAPS, UPDATE_KINDS

PHASES = ("prepare", "delete", "add", "verify", "rollback", "apply")
# Phases that act on what the host holds (delete it, restore its captured prior): their -Binding
# default names each binding without its Settings, which they never read.
BARE_PHASES = ("delete", "rollback")

# Binding key shapes per kind; the scripts check the same patterns (rendered into the library).
_HOSTNAME_PORT = r"^[A-Za-z0-9_*][A-Za-z0-9_.*-]{0,253}:[0-9]{1,5}$"
KEY_PATTERNS: dict[KeyKind, str] = {
    KeyKind.IPPORT: (
        r"^(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}"
        r"|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5}$"
    ),
    KeyKind.HOSTNAMEPORT: _HOSTNAME_PORT,
    KeyKind.CCS: r"^[0-9]{1,5}$",
    KeyKind.SCOPEDCCS: _HOSTNAME_PORT,
}
# A DNS name, an IPv4 address or an IPv6 address (it must hold a ':'; brackets optional).
HOST_PATTERN = r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,254}|\[?[0-9A-Fa-f.]{0,40}:[0-9A-Fa-f:.]{1,44}\]?)$"
# The host's record folder (hosts/<dir>/): no path separator, no ':' (Windows), never "..".
_HOST_DIR_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$"
CHANGE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_VERSION_PATTERN = r"^[A-Za-z0-9.+_-]{1,64}$"
_SHA256_PATTERN = r"^(?:[0-9a-f]{64})?$"

# PowerShell treats these as single quotes too; inside a single-quoted string each is doubled.
_SINGLE_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
_COMMENT_UNSAFE = re.compile(r"[#<>`]")


class RenderError(UserError):
    """A value the scripts cannot carry safely; names the change field and the fix."""


def escape_single_quoted(text: str) -> str:
    """Content for a PowerShell single-quoted string: every kind of single quote doubled."""
    for quote in _SINGLE_QUOTES:
        text = text.replace(quote, quote * 2)
    return text


def _require_printable(value: str, what: str) -> None:
    if not _PRINTABLE_ASCII.fullmatch(value):
        raise RenderError(
            f"{what}: contains a control or non-ASCII character; the scripts are ASCII for "
            "Windows PowerShell 5.1 - use plain ASCII text"
        )


def ps_squote(value: object) -> str:
    """A PowerShell single-quoted literal of an already validated string; anything else raises."""
    if not isinstance(value, str):
        raise RenderError(f"value {value!r}: only text can be quoted for PowerShell")
    _require_printable(value, f"value {value[:40]!r}")
    return "'" + escape_single_quoted(value) + "'"


def ps_value(value: object) -> str:
    """A PowerShell literal for a setting value, default or name: $null, an integer or text."""
    if value is None:
        return "$null"
    if isinstance(value, bool):
        return ps_bool(value)
    if isinstance(value, int):
        return str(value)
    return ps_squote(value)


def parameter_value(name: str, value: SettingValue) -> SettingValue:
    """A setting value as passed to the scripts: uint32 timers as decimal strings (see docstring)."""
    if SETTINGS_BY_NAME[name].kind == "uint32" and isinstance(value, int):
        return str(value)
    return value


def ps_setting(value: SettingValue, name: str) -> str:
    """The param() default literal of setting `name`: the same value `script_parameters` passes."""
    return ps_value(parameter_value(name, value))


def ps_bool(value: object) -> str:
    if not isinstance(value, bool):
        raise RenderError(f"value {value!r}: expected true or false")
    return "$true" if value else "$false"


def ps_hex(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RenderError(f"value {value!r}: expected a non-negative integer")
    return f"0x{value:X}"


def ps_comment(value: object) -> str:
    """Text for the comment-based help: printable ASCII that cannot close the comment block."""
    text = str(value)
    _require_printable(text, f"help text {text[:40]!r}")
    if _COMMENT_UNSAFE.search(text):
        raise RenderError(f"help text {text[:40]!r}: must not contain #, <, > or a backtick")
    return text


def template_dir() -> Path:
    """`generator/templates` in an installed wheel, else the source checkout's `templates/`."""
    packaged = Path(__file__).resolve().parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates do not change while we run; saves a stat() per script
    )
    env.filters.update(
        ps_squote=ps_squote,
        ps_value=ps_value,
        ps_setting=ps_setting,
        ps_bool=ps_bool,
        ps_hex=ps_hex,
        ps_comment=ps_comment,
        md_text=md_text,
    )
    return env


# --- validation: the renderer trusts nothing it writes into a script ----------------------------


def _check(pattern: str, value: object, what: str, fix: str) -> None:
    if not isinstance(value, str):
        raise RenderError(f"{what}: expected text; {fix}")
    _require_printable(value, what)
    if not re.fullmatch(pattern, value):
        raise RenderError(f"{what}: {value!r} is not valid; {fix}")


def _check_setting(name: str, value: SettingValue, what: str) -> None:
    setting = SETTINGS_BY_NAME.get(name)
    if setting is None:
        raise RenderError(f"{what}: unknown setting {name!r}")
    where = f"{what}.{name}"
    if setting.kind == "onoff":
        if value not in ("enable", "disable"):
            raise RenderError(f"{where}: expected enable or disable")
    elif setting.kind == "uint32":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT32_MAX:
            raise RenderError(f"{where}: expected a whole number from 0 to {UINT32_MAX}")
    else:
        _check(PATTERNS[setting.kind], value, where, f"expected a {setting.kind} value")


def _check_binding(binding: Binding, what: str) -> None:
    kind = binding.key.kind
    if kind not in KEY_PATTERNS:
        raise RenderError(f"{what}: unknown binding kind {kind!r}")
    _check(KEY_PATTERNS[kind], binding.key.value, f"{what}.{kind.value}", "check the address and port")
    if not 1 <= binding.key.port <= 65535:
        raise RenderError(f"{what}.{kind.value}: port must be from 1 to 65535")
    if binding.mode not in ("preserve", "exact") or binding.method not in ("netsh", "registry"):
        raise RenderError(f"{what}: mode must be preserve|exact and method netsh|registry")
    if binding.swap not in SWAPS or (binding.method == "registry" and binding.swap != "auto"):
        raise RenderError(f"{what}: swap must be auto|update|replace, and auto for method registry")
    if binding.swap == "update" and kind not in UPDATE_KINDS:
        raise RenderError(f"{what}: swap update is not available for {kind.value} bindings")
    for name, value in binding.settings.items():
        _check_setting(name, value, what)
        if binding.method == "registry" and not SETTINGS_BY_NAME[name].check_mode_bit:
            raise RenderError(f"{what}.{name}: method registry sets only revocation-check settings")


def host_dir(host: str) -> str:
    """The folder of a host's scripts under hosts/: the host name, an IPv6 address without brackets
    and with '_' for ':' (Windows allows no ':' in file names; '_' is in no DNS name), then made a
    valid file name on every client platform (generator.portable: "con" -> "_con", "web01." ->
    "web01_")."""
    return safe_file_name(host.strip("[]").replace(":", "_"))


def validate_change(change: Change) -> None:
    """Raise RenderError (naming the field) for anything the scripts could not carry as data."""
    _check(CHANGE_ID_PATTERN, change.id, "change.id", "use letters, digits, '.', '_' and '-'")
    _require_printable(change.title, "change.title")
    _check(_SHA256_PATTERN, change.spec_sha256, "spec_sha256", "expected 64 lowercase hex digits")
    _check(_VERSION_PATTERN, __version__, "tool version", "reinstall sslbind")
    hosts: set[str] = set()
    for t_index, target in enumerate(change.targets):
        where = f"targets[{t_index}]"
        _check(HOST_PATTERN, target.host, f"{where}.host", "use a DNS name or an IP address")
        folder = host_dir(target.host)
        _check(_HOST_DIR_PATTERN, folder, f"{where}.host", "use a DNS name or an IP address")
        if folder.lower() in hosts:
            raise RenderError(f"{where}.host: {target.host} is listed twice")
        hosts.add(folder.lower())
        if not target.bindings:
            raise RenderError(f"{where}: a target needs at least one binding")
        keys: set[str] = set()
        for b_index, binding in enumerate(target.bindings):
            _check_binding(binding, f"{where}.bindings[{b_index}]")
            identity = str(binding.key).lower()
            if identity in keys:
                raise RenderError(f"{where}.bindings[{b_index}]: {binding.key} is listed twice")
            keys.add(identity)


# --- template context ---------------------------------------------------------------------------


def _ordered_settings(settings: Mapping[str, SettingValue]) -> list[tuple[str, SettingValue]]:
    """The spec's settings in netsh order (the table order), so output never depends on dict order."""
    return [(s.name, settings[s.name]) for s in SETTINGS if s.name in settings]


def defaults_command_line(binding: Binding) -> str | None:
    """The add command with every unnamed setting at its netsh default (what exact mode runs, and
    what preserve mode runs for a new binding), or None when the spec lacks the appid or hash."""
    if binding.method != "netsh" or "appid" not in binding.settings:
        return None
    # Central Certificate Store bindings (ccs, scopedccs) carry no certhash.
    if binding.key.kind in (KeyKind.IPPORT, KeyKind.HOSTNAMEPORT) and "certhash" not in binding.settings:
        return None
    merged = {**default_settings(), **binding.settings}
    return powershell_command_line(netsh_add_arguments(binding.key.kind, binding.key.value, merged))


@dataclass(frozen=True)
class _BindingView:
    subject: str
    kind: str
    key: str
    mode: str
    method: str
    swap: str
    can_update: bool  # netsh http update sslcert covers this kind (never scoped CCS)
    settings: list[tuple[str, SettingValue]]
    exact_line: str | None  # the literal command of an exact binding
    new_line: str | None  # a preserve binding's command if it does not exist yet
    how: str  # how the README says it is changed


DEFAULT_HOW = (
    "changed by one atomic `netsh http update sslcert` where the host's netsh has it, else by delete+add."
)


def _how(binding: Binding) -> str:
    """One sentence: how an existing binding is changed (the README says it once per host when
    every binding shares it)."""
    if binding.method == "registry":
        return (
            "changed by writing `DefaultSslCertCheckMode` under its registry key (`prepare.ps1` prints "
            "the value); HTTP.sys reads it only after the HTTP service or the server restarts."
        )
    if binding.swap == "update":
        return (
            "changed only by one atomic `netsh http update sslcert`; a host whose netsh lacks it is refused."
        )
    if binding.swap == "replace":
        return "changed by delete+add (`swap: replace`), absent between the two."
    if binding.key.kind not in UPDATE_KINDS:
        return (
            f"changed by delete+add (update does not cover {binding.key.kind.value} bindings), "
            "absent between the two."
        )
    return DEFAULT_HOW


def _binding_view(binding: Binding, commands: bool = True) -> _BindingView:
    """A binding for the templates; `commands=False` skips the command lines (only the README
    shows them; the host scripts carry values, not commands)."""
    line = defaults_command_line(binding) if commands else None
    return _BindingView(
        subject=str(binding.key),
        kind=binding.key.kind.value,
        key=binding.key.value,
        mode=binding.mode,
        method=binding.method,
        swap=binding.swap,
        can_update=binding.key.kind in UPDATE_KINDS,
        settings=_ordered_settings(binding.settings),
        exact_line=line if binding.mode == "exact" else None,
        new_line=line if binding.mode == "preserve" else None,
        how=_how(binding),
    )


def _table_context() -> dict[str, Any]:
    return {
        "registry_root": REGISTRY_ROOT,
        "registry_subkeys": [(kind.value, REGISTRY_SUBKEY[kind]) for kind in KeyKind],
        "key_patterns": [(kind.value, KEY_PATTERNS[kind]) for kind in KeyKind],
        "value_patterns": sorted(PATTERNS.items()),
        "check_mode_value": CHECK_MODE_VALUE,
        "flags_value": FLAGS_VALUE,
        "extra_check_mode_names": [
            (f"0x{bit:X}", name) for bit, name in sorted(EXTRA_CHECK_MODE_NAMES.items())
        ],
        "extra_flag_names": [(f"0x{bit:X}", name) for bit, name in sorted(EXTRA_FLAG_NAMES.items())],
        "known_check_mode_bits": KNOWN_CHECK_MODE_BITS,
        "known_flag_bits": KNOWN_FLAG_BITS,
        "uint32_max": UINT32_MAX,
        "settings": SETTINGS,
    }


# The library module in the record; host scripts load it by this path relative to their folder.
LIBRARY_DIR = "lib/SslBind"
LIBRARY_MODULE = f"{LIBRARY_DIR}/SslBind.psm1"
LIBRARY_MANIFEST = f"{LIBRARY_DIR}/SslBind.psd1"
LIBRARY_EXPORTS = ("Invoke-SslPhase",)
# The module's identity across releases (a PowerShell module keeps one GUID for life).
LIBRARY_GUID = "5d1f6c2e-8b47-4f0a-9c3d-73736c62696e"
_LIBRARY_SOURCES = ("lib/windows.ps1", "lib/core.ps1", "lib/phases.ps1")
_BLANK_RUNS = re.compile(r"\n{3,}")


@cache
def library() -> Library:
    """The library's code as plain script: the settings table, the touchpoints, the logic."""
    table = environment().get_template("lib/table.ps1.j2").render(_table_context())
    parts = [("lib/table.ps1.j2", table)]
    parts += [(name, (template_dir() / name).read_text(encoding="ascii")) for name in _LIBRARY_SOURCES]
    return Library((name, _BLANK_RUNS.sub("\n\n", text.strip("\n") + "\n\n")) for name, text in parts)


def render_library() -> str:
    """The library's code as one dot-sourceable script (tests load it for the wrapper names and the
    table; the record holds it as the SslBind module, `library_files`)."""
    return library().text.rstrip("\n") + "\n"


def module_version(version: str = __version__) -> str:
    """A ModuleVersion PowerShell accepts (2 to 4 numbers) from the sslbind version: '0.1.0' stays,
    '1.2.0rc1' and '0.0.0+source' keep their leading numbers; the full version is in the module."""
    match = re.match(r"\d+(?:\.\d+){0,3}", version)
    numbers = match.group(0) if match else "0.0"
    return numbers if "." in numbers else numbers + ".0"


def library_files() -> dict[str, bytes]:
    """The canonical, unsigned library of this sslbind version: record path -> bytes.

    `lib/SslBind/SslBind.psm1` (the code, ending in the `Invoke-SslPhase` entry point) and
    `lib/SslBind/SslBind.psd1` (its manifest: ModuleVersion, fixed GUID, explicit exports). ASCII
    with CRLF line endings. The bytes depend only on the sslbind version and the templates, never on
    a change, so an organisation reviews them once per release.
    """
    return dict(_library_files(__version__))


@cache
def _library_files(version: str) -> dict[str, bytes]:
    env = environment()
    common = {"version": version, "exports": LIBRARY_EXPORTS, "host_pattern": HOST_PATTERN}
    psm1 = env.get_template("module/SslBind.psm1.j2").render(
        common, library=library().text.rstrip("\n") + "\n"
    )
    psd1 = env.get_template("module/SslBind.psd1.j2").render(
        common,
        module_version=module_version(version),
        guid=LIBRARY_GUID,
        description=f"sslbind {version} library: HTTP.sys SSL binding changes for sslbind change records",
    )
    return {
        LIBRARY_MODULE: _encode(_BLANK_RUNS.sub("\n\n", psm1), LIBRARY_MODULE),
        LIBRARY_MANIFEST: _encode(psd1, LIBRARY_MANIFEST),
    }


@dataclass(frozen=True)
class LibraryPin:
    """What a host script pins: the library version and the SHA-256 of its two files."""

    version: str
    psm1_sha256: str
    psd1_sha256: str


def library_pin(library: Mapping[str, bytes] | None = None) -> LibraryPin:
    """The pin of `library` (default: `library_files()`); both files must be present."""
    files = library_files() if library is None else library
    missing = [name for name in (LIBRARY_MODULE, LIBRARY_MANIFEST) if name not in files]
    if missing:
        raise ValueError(f"library bytes lack {', '.join(missing)}")
    return LibraryPin(
        __version__,
        hashlib.sha256(files[LIBRARY_MODULE]).hexdigest(),
        hashlib.sha256(files[LIBRARY_MANIFEST]).hexdigest(),
    )


def _change_context(change: Change) -> dict[str, Any]:
    return {
        "change_id": change.id,
        "title": change.title,
        "spec_sha256": change.spec_sha256,
        "tool_version": __version__,
        "registry_root": REGISTRY_ROOT,
        "host_pattern": HOST_PATTERN,
    }


def _binding_default(view: _BindingView) -> tuple[str, str]:
    """One binding of a script's -Binding default, as two pieces of a PowerShell hashtable: its
    identity (Method and Swap only where not netsh and auto) and its Settings' entries."""
    head = f"Kind = {ps_squote(view.kind)}; Key = {ps_squote(view.key)}; Mode = {ps_squote(view.mode)}"
    if view.method != "netsh":
        head += f"; Method = {ps_squote(view.method)}"
    if view.swap != "auto":
        head += f"; Swap = {ps_squote(view.swap)}"
    settings = "; ".join(f"{name} = {ps_setting(value, name)}" for name, value in view.settings)
    return head, settings


def _target_context(
    change: Change, target: Target, views: Sequence[_BindingView] | None = None
) -> dict[str, Any]:
    views = views or [_binding_view(b, commands=False) for b in target.bindings]
    # Made once per host, not once per script: it is the largest per-host part.
    lines = [_binding_default(view) for view in views]
    return {
        **_change_context(change),
        "host": target.host,
        "bindings": views,
        "binding_defaults": "".join(
            f"        @{{ {head}; Settings = @{{ {settings} }} }}\n" for head, settings in lines
        ),
        "bare_binding_defaults": "".join(f"        @{{ {head} }}\n" for head, _ in lines),
        "bare_phases": BARE_PHASES,
        "has_registry": any(v.method == "registry" for v in views),
    }


def _encode(text: str, name: str) -> bytes:
    """ASCII with CRLF line endings: what PowerShell on Windows reads natively (and signs)."""
    text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    try:
        return text.encode("ascii")
    except UnicodeEncodeError as error:  # a template bug: values are checked before rendering
        raise RenderError(f"{name}: rendered text is not ASCII ({error.reason})") from error


def library_manifest(library: Mapping[str, bytes] | None = None) -> dict[str, object]:
    """The manifest's `library` section: name, version and per file the SHA-256 (of `library`, by
    default the canonical bytes; a signed record passes its signed bytes)."""
    pin = library_pin(library)
    return {
        "name": "SslBind",
        "version": pin.version,
        "files": {LIBRARY_MODULE: pin.psm1_sha256, LIBRARY_MANIFEST: pin.psd1_sha256},
    }


# How a host script pins its library (script.ps1.j2): the psm1's SHA-256 right after the version.
_PIN = re.compile(
    r"^\$sslLibrary = \[ordered\]@\{\r?\n    Version = '[^'\r\n]*'\r?\n    Sha256 = '([0-9a-f]{64})'\r?$",
    re.MULTILINE,
)


def pinned_library(script_text: str) -> str | None:
    """The SslBind.psm1 SHA-256 a host script pins, or None (a script from before the library)."""
    match = _PIN.search(script_text)
    return match.group(1) if match else None


def render_target(
    change: Change,
    target: Target,
    pin: LibraryPin | None = None,
    views: Sequence[_BindingView] | None = None,
) -> dict[str, bytes]:
    """The six scripts of one host, keyed by record path, pinned to `pin` (default: the canonical
    library's)."""
    env = environment()
    pin = pin or library_pin()
    context = {
        **_target_context(change, target, views),
        "library_version": pin.version,
        "library_psm1": pin.psm1_sha256,
        "library_psd1": pin.psd1_sha256,
    }
    out: dict[str, bytes] = {}
    for phase in PHASES:
        path = f"hosts/{host_dir(target.host)}/{phase}.ps1"
        text = env.get_template(f"{phase}.ps1.j2").render(context, phase=phase)
        out[path] = _encode(text, path)
    return out


def render_readme(
    change: Change,
    pin: LibraryPin | None = None,
    signature: Mapping[str, object] | None = None,
    views: Sequence[Sequence[_BindingView]] | None = None,
) -> bytes:
    """The reviewer README; `signature` (a signed record's manifest section) adds its Signatures part."""
    env = environment()
    pin = pin or library_pin()
    views = views or [[_binding_view(b) for b in t.bindings] for t in change.targets]
    hosts = [(t.host, host_dir(t.host), v) for t, v in zip(change.targets, views, strict=True)]
    text = env.get_template("record-README.md.j2").render(
        _change_context(change),
        library_version=pin.version,
        library_psm1=pin.psm1_sha256,
        library_psd1=pin.psd1_sha256,
        description=_readme_text(change.description),
        hosts=hosts,
        default_how=DEFAULT_HOW,
        phases=PHASES,
        signature=signature,
    )
    return text.replace("\r\n", "\n").encode("utf-8")


def _readme_text(text: str) -> str:
    """Free text for the README: no control characters but newline and tab."""
    return "".join(ch for ch in text.replace("\r\n", "\n") if ch in "\n\t" or ord(ch) >= 0x20)


# The spec's title and description are shown in the README as the words typed, never as markup: a
# `<!--` would hide the rest of the file (what changes, how to roll back) from the reviewer, and
# headings, links, tables or code would restyle it. HTML characters become entities (the same in
# every Markdown renderer); other markup characters get CommonMark's backslash escape, which works
# on any ASCII punctuation; '.', ',', ':', '-', '(' inside a line stay as they are (markup only
# at a line's start or after an escaped ']'), so ordinary text reads the same in the raw file.
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MD_ESCAPED = frozenset("\\`*_[]#|!~")
# What only means something at the start of a line: a list item, a setext underline, an ordered item.
_MD_LINE_START = re.compile(r"^(?:([-=+])|(\d{1,9})([.)]))")


def md_text(text: str) -> str:
    """`text` as literal Markdown (one paragraph per blank-line-separated block, as written)."""
    return "\n".join(_md_line(line) for line in text.split("\n"))


def _md_line(line: str) -> str:
    line = line.strip(" \t")  # leading indentation makes a code block, trailing spaces a line break
    escaped = "".join(_MD_ENTITIES.get(ch) or ("\\" + ch if ch in _MD_ESCAPED else ch) for ch in line)
    return _MD_LINE_START.sub(lambda m: "\\" + m[1] if m[1] else f"{m[2]}\\{m[3]}", escaped, count=1)


# git must not rewrite line endings, or a record checked in on Windows loses its SHA-256s (and its
# signatures): the PowerShell files are CRLF and stay byte for byte as rendered.
GITATTRIBUTES = (
    b"# sslbind: files are stored byte for byte (their SHA-256s are in manifest.json)\n"
    b"* -text\n*.ps1 -text\n*.psm1 -text\n*.psd1 -text\n"
)


def render_extras(change: Change) -> dict[str, bytes]:
    """The record's files besides README.md, the library and the host scripts (`.gitattributes`)."""
    del change  # the same for every change; the parameter keeps the record writer's call uniform
    return {".gitattributes": GITATTRIBUTES}


def iter_rendered(
    change: Change,
    library: Mapping[str, bytes] | None = None,
    signature: Mapping[str, object] | None = None,
) -> Iterator[tuple[str, bytes]]:
    """Every rendered file, one host at a time, so a writer can stream them (memory stays flat).

    `library` is the record's library, path -> bytes (`lib/SslBind/SslBind.psm1` and `.psd1`); by
    default `library_files()`, the canonical unsigned bytes. The library is yielded exactly as given
    and every host script pins the SHA-256 of those bytes, so a signer signs the library first, then
    renders against the signed bytes and passes the `lib/` files through unchanged:

        signed = {path: sign(data) for path, data in library_files().items()}
        for path, data in iter_rendered(change, library=signed): ...  # sign hosts/*.ps1 only

    Call `validate_change` first: values are checked for the whole change before anything renders.
    """
    files = library_files() if library is None else dict(library)
    pin = library_pin(files)
    views = [[_binding_view(b) for b in t.bindings] for t in change.targets]  # made once for both
    yield "README.md", render_readme(change, pin, signature, views)
    yield from render_extras(change).items()
    yield from sorted(files.items())
    for index, target in enumerate(change.targets):
        yield from render_target(change, target, pin, views[index]).items()


def render_change(change: Change, library: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """Every rendered file of the record: relative path -> bytes. Raises RenderError on bad values.
    `library`: as for `iter_rendered`."""
    validate_change(change)
    return dict(sorted(iter_rendered(change, library)))


def _parameter_binding(binding: Binding) -> dict[str, object]:
    return {
        "Kind": binding.key.kind.value,
        "Key": binding.key.value,
        "Mode": binding.mode,
        "Method": binding.method,
        "Swap": binding.swap,
        "Settings": {
            name: parameter_value(name, value) for name, value in _ordered_settings(binding.settings)
        },
    }


def script_parameters(target: Target) -> dict[str, object]:
    """The values the scripts' param() defaults hold, to pass as PSRP parameters (add_parameter).

    The same for all six scripts (delete.ps1 and rollback.ps1 show no Settings in their defaults
    and ignore those sent, so records of every version get the same parameters); add the phase's
    own (Prepared, Prior, ExpectedPrior) and `Confirm=False` as needed.
    """
    return {
        "Binding": [_parameter_binding(b) for b in target.bindings],
        "TargetHost": target.host,
    }
