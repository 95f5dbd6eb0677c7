"""One host's doctor report: the JSON document (--json) and the Markdown a Windows engineer reads.

Both hold the same facts: the host, netsh's abilities and texts verbatim, every registry value with
its inferred type, the per-binding cross-check, and every finding. No secret is in either (the
password never reaches this module; certificate thumbprints are not secrets).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from generator import __version__
from generator.binding import SETTINGS
from generator.doctor.checks import NetshAbilities, effective_policy
from generator.doctor.crosscheck import BindingCheck, CrossCheck, ExtraBitReport
from generator.doctor.facts import NETSH_RUNS, HostFacts, NetshRun, RegKeyFacts, RegValue
from generator.doctor.findings import SEVERITIES, Finding, failing, ordered
from generator.importers.served import DIFFERS, Served, by_binding
from generator.safetext import md_cell, md_text, shown_block

TYPES_NOTE = (
    "registry types are inferred from each value's .NET type (byte[] REG_BINARY, int REG_DWORD, long "
    "REG_QWORD, string REG_SZ, string[] REG_MULTI_SZ; REG_EXPAND_SZ reads as REG_SZ): "
    "RegistryKey.GetValueKind is a method call Constrained Language forbids"
)
HELP_TITLES = {
    "add_help": "netsh http add sslcert /?",
    "update_help": "netsh http update sslcert /?",
    "delete_help": "netsh http delete sslcert /?",
    "show": "netsh http show sslcert",
}
TLS_SETTING = "tls"  # the `setting` of a finding about what a handshake from the host received


@dataclass(frozen=True)
class DoctorReport:
    host: str
    endpoint: Mapping[str, Any]  # url, auth, username, configuration_name: never a password
    facts: HostFacts
    abilities: NetshAbilities
    crosscheck: CrossCheck
    findings: tuple[Finding, ...]  # host-level, then per binding, in report order
    served: tuple[Served, ...] = ()  # per binding, what a TLS handshake from the host received

    @property
    def exit_code(self) -> int:
        return 1 if failing(self.findings) else 0

    @property
    def outcome(self) -> str:
        severities = {f.severity for f in self.findings}
        if "disagreement" in severities:
            return "inconsistent"
        return "blocked" if "blocking" in severities else "consistent"

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}


def build_report(
    host: str,
    endpoint: Mapping[str, Any],
    facts: HostFacts,
    abilities: NetshAbilities,
    crosscheck: CrossCheck,
    host_findings: Sequence[Finding],
) -> DoctorReport:
    findings = ordered([*host_findings, *crosscheck.findings])
    return DoctorReport(host, dict(endpoint), facts, abilities, crosscheck, tuple(findings))


def with_served(report: DoctorReport, served: Sequence[Served]) -> DoctorReport:
    """The report with the handshakes from the host: each one that did not receive the binding's own
    certificate (another binding's, none) is a note naming what it got; never a failing finding."""
    kept = [f for f in report.findings if f.setting != TLS_SETTING]
    found = [Finding("note", str(s), s.binding, TLS_SETTING) for s in served if s.result in DIFFERS]
    return replace(report, served=tuple(served), findings=tuple(ordered([*kept, *found])))


# --- JSON ----------------------------------------------------------------------------------------


def _value_json(value: RegValue) -> Any:
    if isinstance(value.data, bytes):
        return value.data.hex().upper()
    if isinstance(value.data, tuple):
        return list(value.data)
    return value.data


def _key_json(key: RegKeyFacts, binding: str | None) -> dict[str, Any]:
    values = [{"name": v.name, "type": v.type, "data": _value_json(v)} for v in key.values]
    return {"key": key.path, "binding": binding, "values": values}


def _netsh_json(run: NetshRun) -> dict[str, Any]:
    document: dict[str, Any] = {"command": f"netsh {run.arguments}", "exit_code": run.exit_code}
    document["text"] = run.text
    if run.error:
        document["error"] = run.error
    return document


def _extra_json(extra: ExtraBitReport) -> dict[str, str]:
    return {"field": extra.field, "bit": f"0x{extra.bit:X}", "name": extra.name, "netsh": extra.netsh}


def _binding_json(check: BindingCheck, served: Sequence[Served]) -> dict[str, Any]:
    return {
        "binding": check.name,
        "registry_key": check.registry_key,
        "in_registry": check.registry_key is not None,
        "in_netsh": check.netsh is not None,
        "consistent": not failing(check.findings),
        "registry": dict(check.registry) if check.registry is not None else None,
        "netsh": dict(check.netsh) if check.netsh is not None else None,
        "extra_bits": [
            {"field": e.field, "bit": f"0x{e.bit:X}", "name": e.name, "netsh": e.netsh}
            for e in check.extra_bits
        ],
        "findings": [f.to_json() for f in check.findings],
        "tls": [s.to_json() for s in served],
    }


def to_json(report: DoctorReport) -> dict[str, Any]:
    facts = report.facts
    bindings_by_key = {c.registry_key: c.name for c in report.crosscheck.bindings if c.registry_key}
    served = by_binding(report.served)
    return {
        "tool": {"name": "sslbind doctor", "version": __version__},
        "host": report.host,
        "endpoint": dict(report.endpoint),
        "outcome": report.outcome,
        "exit_code": report.exit_code,
        "counts": {**report.counts(), "bindings": len(report.crosscheck.bindings)},
        "collected_at": facts.collected_at,
        "system": {
            "computer_name": facts.computer_name,
            "os": dict(facts.os),
            "os_error": facts.os_error or None,
        },
        "powershell": {
            "version": facts.powershell_version,
            "edition": facts.powershell_edition,
            "language_mode": facts.language_mode,
        },
        "elevation": {"elevated": facts.elevated, "detail": facts.elevation_detail},
        "execution_policy": {
            "effective": effective_policy(facts),
            "scopes": [{"scope": s, "policy": p} for s, p in facts.execution_policy],
            "error": facts.execution_policy_error or None,
        },
        "netsh": {
            "update_sslcert": report.abilities.update_sslcert,
            "add_parameters": sorted(report.abilities.add_tags),
            "missing_parameters": list(report.abilities.missing),
            "runs": {name: _netsh_json(facts.netsh[name]) for name in NETSH_RUNS},
        },
        "registry": {
            "types": TYPES_NOTE,
            "containers": dict(facts.registry_containers),
            "error": facts.registry_error or None,
            "keys": [_key_json(k, bindings_by_key.get(k.path)) for k in facts.registry_keys],
        },
        "bindings": [_binding_json(c, served.get(c.name.lower(), [])) for c in report.crosscheck.bindings],
        "tls": [s.to_json() for s in report.served],
        "findings": [f.to_json() for f in report.findings],
    }


def unread_json(host: str, endpoint: Mapping[str, Any], error: str) -> dict[str, Any]:
    """The --json document when the host could not be read at all (exit 1)."""
    return {
        "tool": {"name": "sslbind doctor", "version": __version__},
        "host": host,
        "endpoint": dict(endpoint),
        "outcome": "unreachable",
        "exit_code": 1,
        "error": error,
    }


# --- Markdown ------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    return md_cell(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _fenced(text: str) -> list[str]:
    """`text` verbatim in a code block whose fence no run of backticks inside it can close."""
    text = shown_block(text)  # the host's own text: no control character reaches the reader raw
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", text, fence]


def _yes_no(value: bool | None, unknown: str = "unknown") -> str:
    return unknown if value is None else ("yes" if value else "no")


def _summary(report: DoctorReport) -> list[str]:
    counts = report.counts()
    endpoint = report.endpoint
    user = f", user {endpoint['username']}" if endpoint.get("username") else ""
    return [
        f"# sslbind doctor: {report.host}",
        "",
        f"**{report.outcome}** (exit {report.exit_code}): {len(report.crosscheck.bindings)} binding(s), "
        f"{counts['disagreement']} disagreement(s), {counts['blocking']} blocking, {counts['note']} note(s).",
        "",
        f"Collected {report.facts.collected_at} by sslbind {__version__} over {endpoint.get('url')} "
        f"(auth {endpoint.get('auth')}{user}). Read-only: nothing on the host was changed.",
    ]


def _findings_section(report: DoctorReport) -> list[str]:
    lines = ["", "## Findings", ""]
    if not report.findings:
        return [*lines, "None: sslbind's reading of the registry agrees with netsh on every binding."]
    rows = [(f.severity, f.binding or "-", f.setting or "-", f.message) for f in report.findings]
    return lines + _table(("severity", "binding", "setting", "finding"), rows)


def _host_section(report: DoctorReport) -> list[str]:
    facts = report.facts
    os = facts.os
    build = f"{os['current_build']}.{os['ubr']}" if os["ubr"] != "unknown" else os["current_build"]
    policies = ", ".join(f"{s} {p}" for s, p in facts.execution_policy) or facts.execution_policy_error
    elevated = facts.elevation_detail if facts.elevated is None else _yes_no(facts.elevated)
    detail = f" ({facts.elevation_detail})" if facts.elevated is not None else ""
    rows = [
        ("OS", f"{os['product_name']}, build {build}, version {os['display_version']}"),
        ("computer name", facts.computer_name),
        ("PowerShell", f"{facts.powershell_version} ({facts.powershell_edition})"),
        ("language mode", facts.language_mode),
        ("elevated", elevated + detail),
        ("execution policy", f"{effective_policy(facts)} in effect; {policies}"),
    ]
    if facts.os_error:
        rows.append(("OS facts unreadable", facts.os_error))
    return ["", "## Host", "", *_table(("fact", "value"), rows)]


def _netsh_section(report: DoctorReport) -> list[str]:
    abilities = report.abilities
    listed = "none (no parameter list sslbind can read)" if not abilities.add_tags else ""
    rows = [
        ("has `http update sslcert`", _yes_no(abilities.update_sslcert)),
        ("`add sslcert` parameters sslbind knows but this netsh does not list",
         ", ".join(abilities.missing) or listed or "none"),
    ]  # fmt: skip
    return ["", "## netsh", "", *_table(("ability", "value"), rows)]


def _tls_section(report: DoctorReport) -> list[str]:
    lines = ["", "## TLS: which certificate a handshake from the host receives", ""]
    if not report.served:
        return [*lines, "No binding sslbind could decode, so no handshake."]
    lines += [
        "Per binding, from the host itself (read-only, 3 s timeout, no HTTP request): a wildcard address "
        "is the host's loopback, an SNI binding is asked for its host name (also on each address with an "
        "IP-specific binding on its port). Where the certificate is another binding's, that binding is "
        "named: HTTP.sys let it answer first.",
        "",
    ]
    rows = [
        (s.binding, s.where or "-", s.result, s.thumbprint or "-", s.protocol or "-", s.outcome)
        for s in report.served
    ]
    return lines + _table(("binding", "endpoint", "result", "served", "TLS", "what it means"), rows)


def _binding_section(check: BindingCheck) -> list[str]:
    state = "consistent" if not failing(check.findings) else "NOT consistent"
    lines = ["", f"### {md_text(check.name)}: {state}", ""]
    key = md_text(check.registry_key)
    lines.append(f"Registry key: `{key}`" if check.registry_key else "Registry key: none")
    if check.registry is not None or check.netsh is not None:
        registry, netsh = check.registry or {}, check.netsh or {}
        rows = []
        for setting in SETTINGS:
            left, right = registry.get(setting.name), netsh.get(setting.name)
            differs = any(f.setting == setting.name and f.severity == "disagreement" for f in check.findings)
            rows.append((setting.name, left, right, "**differs**" if differs else ""))
        lines += ["", *_table(("setting", "registry (sslbind)", "netsh", ""), rows)]
    if check.extra_bits:
        extras = [(e.field, e.name, e.netsh) for e in check.extra_bits]
        lines += ["", "Bits no netsh parameter sets:", "", *_table(("value", "bit", "netsh shows"), extras)]
    return lines


def _registry_section(report: DoctorReport) -> list[str]:
    facts = report.facts
    lines = [
        "",
        "## Registry: HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters",
        "",
        f"Note: {TYPES_NOTE}.",
    ]
    present = [name for name, exists in facts.registry_containers.items() if exists]
    lines += ["", f"Ssl*BindingInfo keys present: {', '.join(present) or 'none'}."]
    if facts.registry_error:
        lines += ["", f"Could not be read: {md_text(facts.registry_error)}"]
    for key in facts.registry_keys:
        rows = [(v.name, f"{v.type} (inferred)", _value_text(v)) for v in key.values]
        lines += ["", f"### {md_text(key.path)}", "", *_table(("value", "type", "data"), rows)]
    return lines


def _value_text(value: RegValue) -> str:
    if isinstance(value.data, bytes):
        return value.data.hex().upper() or "(empty)"
    if isinstance(value.data, tuple):
        return "; ".join(value.data)
    if isinstance(value.data, int):
        return f"0x{value.data:X} ({value.data})"
    return value.data


def _texts_section(report: DoctorReport) -> list[str]:
    lines = ["", "## netsh output, verbatim"]
    for name in NETSH_RUNS:
        run = report.facts.netsh[name]
        code = "could not run" if run.exit_code is None else f"exit code {run.exit_code}"
        lines += ["", f"### {HELP_TITLES[name]} ({code})", "", *_fenced(run.text or run.error)]
    return lines


def to_markdown(report: DoctorReport) -> str:
    lines = [*_summary(report), *_findings_section(report), *_host_section(report), *_netsh_section(report)]
    lines += ["", "## Bindings: sslbind's registry decoding against netsh's output"]
    if not report.crosscheck.bindings:
        lines += ["", "No binding in the registry or in netsh's output."]
    for check in report.crosscheck.bindings:
        lines += _binding_section(check)
    lines += [*_tls_section(report), *_registry_section(report), *_texts_section(report)]
    # Every host string above went through md_cell/md_text/shown_block; this pass keeps it so for
    # any line added later (it changes nothing that is already escaped).
    return shown_block("\n".join(lines), cap=None) + "\n"
