"""Cross-check, binding by binding, sslbind's decoding of the registry against netsh's own output.

The registry side goes through exactly the decoding `import --host` uses (reg_text.
parse_registry_values), one key at a time so one undecodable key does not hide the others; the netsh
side through the `import --from-netsh` parser. Where the two disagree, sslbind's reading of this
host cannot be trusted, and every such binding and setting is named.

Extra bits (no netsh parameter sets them): netsh showing the bit as the registry holds it is a note;
netsh not showing it at all is a note ("netsh does not show it"); netsh showing it differently is a
disagreement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from generator.binding import (
    CHECK_MODE_FRESHNESS,
    CHECK_MODE_VALUE,
    REGISTRY_SUBKEY,
    KeyKind,
    SettingValue,
    diff_settings,
)
from generator.doctor.facts import NetshRun, RegKeyFacts, RegValue
from generator.doctor.findings import Finding, Severity
from generator.importers import values
from generator.importers.extras import FRESHNESS_BIT, REFUSED_CHANGE, is_extra
from generator.importers.netsh_text import parse_netsh
from generator.importers.reg_text import HOSTNAME_PORT_VALUE, RegData, parse_registry_values
from generator.importers.result import ExtraSetting, ImportInputError, ImportResult
from generator.model import Binding

REGISTRY_PATH = r"HKLM\SYSTEM\CurrentControlSet\Services\HTTP\Parameters"
NO_BINDING = "no SSL binding found"  # parse_netsh's refusal of a text without any binding block
NO_CROSS_CHECK = "no cross-check"


@dataclass(frozen=True)
class RegistryBinding:
    """One Ssl*BindingInfo subkey as sslbind decodes it (binding None: it cannot)."""

    key: RegKeyFacts
    name: str  # "ipport=0.0.0.0:443", or the key path when it cannot be decoded
    binding: Binding | None = None
    extras: tuple[ExtraSetting, ...] = ()
    freshness: tuple[str, ...] = ()  # bit 0x4 vs revocationfreshnesstime doubts
    error: str = ""

    def raw(self, value_name: str) -> int:
        found = next((v for v in self.key.values if v.name == value_name), None)
        return found.data if found is not None and isinstance(found.data, int) else 0


@dataclass(frozen=True)
class ExtraBitReport:
    field: str
    bit: int
    name: str  # describe_bits text
    netsh: str  # the netsh line's value ("Set"), "not shown" or "no cross-check"


@dataclass
class BindingCheck:
    name: str
    registry_key: str | None = None  # e.g. "SslBindingInfo\\0.0.0.0:443"
    registry: Mapping[str, SettingValue] | None = None  # settings as sslbind decodes the registry
    netsh: Mapping[str, SettingValue] | None = None  # settings as netsh shows them
    extra_bits: list[ExtraBitReport] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    model: Binding | None = None  # the registry's binding as sslbind decodes it


@dataclass(frozen=True)
class CrossCheck:
    bindings: tuple[BindingCheck, ...]
    findings: tuple[Finding, ...]  # every binding's findings, then the netsh text's own


def _reg_data(value: RegValue) -> RegData:
    if value.type in ("REG_BINARY", "REG_DWORD", "REG_SZ") and isinstance(value.data, bytes | int | str):
        return value.data
    raise ValueError(
        f"value {value.name!r} is {value.type} (inferred from its .NET type); no binding value sslbind "
        "knows has that type"
    )


def _name_of(key: RegKeyFacts) -> str:
    """The binding an undecodable key holds, where its name or HostnamePort says; else the key path."""
    kind = next((k for k, name in REGISTRY_SUBKEY.items() if name == key.subkey), None)
    hostport = next((v.data for v in key.values if v.name == HOSTNAME_PORT_VALUE), None)
    try:
        if kind in (KeyKind.IPPORT, KeyKind.CCS):
            text = key.child.rpartition(":")[2] if kind is KeyKind.CCS else key.child
            return f"{kind.value}={values.binding_key(kind, text)}"
        if kind is not None and isinstance(hostport, str):
            return f"{kind.value}={values.binding_key(kind, hostport)}"
    except ValueError:
        pass
    return key.path


def decode_key(key: RegKeyFacts, host: str) -> RegistryBinding:
    """One registry key through import's own decoding; a refusal becomes the key's error."""
    path = f"{REGISTRY_PATH}\\{key.subkey}\\{key.child}"
    try:
        values = {v.name: _reg_data(v) for v in key.values}
        result = parse_registry_values({path: values}, host, "live registry")
    except ImportInputError as error:
        return RegistryBinding(key, error.binding or _name_of(key), error=str(error))
    except ValueError as error:
        return RegistryBinding(key, _name_of(key), error=f"{host}: {key.path}: {error}")
    (binding,) = result.bindings
    freshness = tuple(w.message for w in result.warnings if w.code == FRESHNESS_BIT)
    return RegistryBinding(key, str(binding.key), binding, result.extras, freshness)


def read_show(run: NetshRun, host: str) -> tuple[ImportResult | None, list[Finding]]:
    """netsh's `show sslcert` text through the importer; None (and why) when it cannot be read."""
    source = f"netsh http show sslcert on {host}"
    if run.exit_code is None:
        return None, [Finding("blocking", f"netsh http show sslcert could not run: {run.error}")]
    if run.exit_code != 0:
        first = next((line.strip() for line in run.text.splitlines() if line.strip()), "")
        return None, [Finding("blocking", f"netsh http show sslcert exited {run.exit_code}: {first!r}")]
    try:
        return parse_netsh(run.text.encode("utf-8"), source, "utf-8"), []
    except ImportInputError as error:
        if error.line is None and NO_BINDING in str(error):
            return ImportResult(source, "", "netsh http show sslcert", "utf-8", ()), []
        message = f"sslbind's netsh importer cannot read the show text ({error}); bindings not cross-checked"
        return None, [Finding("blocking", message)]


def _presence(check: BindingCheck, reg: RegistryBinding | None, net: Binding | None, netsh: bool) -> None:
    """A binding on one side only. Not judged when netsh's text is unreadable or the key undecodable."""
    if reg is None:
        message = "netsh shows it but no registry key decodes to it"
        check.findings.append(Finding("disagreement", message, check.name))
    elif netsh and net is None and not reg.error:
        message = "in the registry but not in netsh's output"
        check.findings.append(Finding("disagreement", message, check.name))


def _settings(check: BindingCheck) -> None:
    if check.registry is None or check.netsh is None:
        return
    for setting, (registry, netsh) in diff_settings(check.registry, check.netsh).items():
        message = f"the registry decodes to {registry!r}, netsh shows {netsh!r}"
        check.findings.append(Finding("disagreement", message, check.name, setting, registry, netsh))


def _registry_extras(check: BindingCheck, reg: RegistryBinding, lines: Sequence[ExtraSetting] | None) -> None:
    """Each extra bit the registry holds, against the netsh line for the same bit where netsh prints one."""
    for extra in reg.extras:
        line = next((e for e in lines or () if (e.field, e.bit) == (extra.field, extra.bit)), None)
        carries = f"{extra.field} carries {extra.name}"
        severity: Severity = "note"
        if lines is None:
            shown, message = NO_CROSS_CHECK, f"{carries}; {REFUSED_CHANGE}"
        elif line is None:
            shown, message = "not shown", f"{carries}; netsh does not show it; {REFUSED_CHANGE}"
        elif line.on:
            shown = _value_of(line)
            message = f"{carries} and netsh shows {line.text.strip()!r}; {REFUSED_CHANGE}"
        else:
            shown, severity = _value_of(line), "disagreement"
            message = f"{carries} but netsh shows {line.text.strip()!r}"
        check.extra_bits.append(ExtraBitReport(extra.field, extra.bit, extra.name, shown))
        check.findings.append(Finding(severity, message, check.name, extra.field))


def _value_of(line: ExtraSetting) -> str:
    return line.text.partition(":")[2].strip() or "(empty)"


def _netsh_extras(check: BindingCheck, reg: RegistryBinding, lines: Sequence[ExtraSetting]) -> None:
    """netsh lines for bits no parameter sets that the registry does not hold as netsh shows them."""
    held = {(e.field, e.bit) for e in reg.extras}
    for line in lines:
        text = line.text.strip()
        if line.bit == CHECK_MODE_FRESHNESS and line.field == CHECK_MODE_VALUE:
            bit_set = bool(reg.raw(CHECK_MODE_VALUE) & CHECK_MODE_FRESHNESS)
            if bit_set != line.on:
                state = "set" if bit_set else "clear"
                message = f"the registry's {CHECK_MODE_VALUE} bit 0x4 is {state}, netsh shows {text!r}"
                check.findings.append(Finding("disagreement", message, check.name, line.name))
        elif not line.on:
            continue
        elif line.bit == 0:
            unnamed = [e.name for e in reg.extras if e.field == line.field]
            held_bits = f"; the registry's {line.field} carries {', '.join(unnamed)}" if unnamed else ""
            message = f"netsh shows {text!r}; which {line.field} bit that is, is not public{held_bits}"
            check.findings.append(Finding("note", message, check.name, line.name))
        elif is_extra(line) and (line.field, line.bit) not in held:
            message = f"netsh shows {text!r} but the registry's {line.field} lacks bit 0x{line.bit:X}"
            check.findings.append(Finding("disagreement", message, check.name, line.name))


def _check(
    name: str, reg: RegistryBinding | None, net: Binding | None, netsh: ImportResult | None
) -> BindingCheck:
    check = BindingCheck(name)
    if reg is not None:
        check.registry_key = reg.key.path
        check.registry = dict(reg.binding.settings) if reg.binding else None
        check.model = reg.binding
        if reg.error:
            message = f"sslbind cannot decode this key ({reg.error}), so it refuses to change this binding"
            check.findings.append(Finding("blocking", message, name))
    if net is not None:
        check.netsh = dict(net.settings)
    _presence(check, reg, net, netsh is not None)
    _settings(check)
    if reg is not None and reg.binding is not None:
        lines = None if netsh is None else [e for e in netsh.extras if e.binding.lower() == name.lower()]
        _registry_extras(check, reg, lines)
        if lines is not None:
            _netsh_extras(check, reg, lines)
        check.findings += [Finding("note", m, name, "revocationfreshnesstime") for m in reg.freshness]
    return check


def _netsh_remarks(netsh: ImportResult) -> list[Finding]:
    found = [Finding("note", f"netsh {r}", r.binding) for r in netsh.not_imported]
    return found + [Finding("note", f"netsh {r}", r.binding) for r in netsh.inferred]


def cross_check(keys: Sequence[RegKeyFacts], show: NetshRun, host: str) -> CrossCheck:
    """Every binding of the registry and of netsh's output, matched by binding name, compared."""
    netsh, findings = read_show(show, host)
    registry: dict[str, RegistryBinding] = {}
    for key in keys:
        reg = decode_key(key, host)
        if reg.name.lower() in registry:
            first = registry[reg.name.lower()].key.path
            message = f"registry keys {first} and {key.path} both hold this binding"
            findings.append(Finding("blocking", message, reg.name))
            continue
        registry[reg.name.lower()] = reg
    shown = {str(b.key).lower(): b for b in netsh.bindings} if netsh else {}
    labels = {name: reg.name for name, reg in registry.items()}
    for name, binding in shown.items():
        labels.setdefault(name, str(binding.key))
    checks = [_check(label, registry.get(name), shown.get(name), netsh) for name, label in labels.items()]
    every = [f for c in checks for f in c.findings] + findings
    if netsh is not None:
        every += _netsh_remarks(netsh)
    return CrossCheck(tuple(checks), tuple(every))
