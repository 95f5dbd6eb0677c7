"""Findings about the host itself: what stops sslbind's scripts there, and what an engineer should know.

The rules mirror the scripts' own pre-flight (templates/lib/phases.ps1 Test-SslPreflight): PowerShell
5.1 or later, Full or Constrained Language, elevation for prepare and apply; and the netsh parameter
check (every tag an add command names must be in `netsh http add sslcert /?`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from generator.binding import SETTING_NAMES, KeyKind, netsh_add_arguments
from generator.doctor.crosscheck import BindingCheck
from generator.doctor.facts import UNKNOWN, HostFacts
from generator.doctor.findings import Finding
from generator.doctor.netsh_help import help_tags, supports_update

LANGUAGE_MODES = ("FullLanguage", "ConstrainedLanguage")
MIN_POWERSHELL = (5, 1)
LAB = "not applicable (lab)"
# Get-ExecutionPolicy -List order; the first one that is not Undefined is in effect.
POLICY_SCOPES = ("MachinePolicy", "UserPolicy", "Process", "CurrentUser", "LocalMachine")
BLOCKING_POLICIES = ("AllSigned", "Restricted")


@dataclass(frozen=True)
class NetshAbilities:
    update_sslcert: bool | None  # None: its help text says neither
    add_tags: frozenset[str]  # every tag `add sslcert /?` lists (empty: no list sslbind can read)
    missing: tuple[str, ...]  # binding keys and settings sslbind knows that this netsh does not list


def netsh_abilities(facts: HostFacts) -> NetshAbilities:
    tags = help_tags(facts.netsh["add_help"].text)
    known = [k.value for k in KeyKind] + list(SETTING_NAMES)
    missing = tuple(name for name in known if name not in tags) if tags else ()
    return NetshAbilities(supports_update(facts.netsh["update_help"].text), tags, missing)


def _version(text: str) -> tuple[int, ...] | None:
    found = re.match(r"^(\d+)\.(\d+)", text)
    return (int(found.group(1)), int(found.group(2))) if found else None


def powershell_findings(facts: HostFacts) -> list[Finding]:
    out = []
    version = _version(facts.powershell_version)
    if version is None:
        out.append(Finding("note", f"PowerShell version {facts.powershell_version!r} could not be read"))
    elif version < MIN_POWERSHELL:
        message = f"sslbind's scripts need PowerShell 5.1 or later; this host runs {facts.powershell_version}"
        out.append(Finding("blocking", message))
    mode = facts.language_mode
    if mode not in LANGUAGE_MODES:
        message = f"the session runs in {mode}; sslbind's scripts need FullLanguage or ConstrainedLanguage"
        out.append(Finding("blocking", message))
    elif mode == "ConstrainedLanguage":
        message = "the session runs in ConstrainedLanguage (WDAC/AppLocker); this collector ran in it"
        out.append(Finding("note", message))
    return out


def elevation_findings(facts: HostFacts) -> list[Finding]:
    if facts.elevated is False:
        message = f"the session is not elevated ({facts.elevation_detail}); prepare and apply refuse to run"
        return [Finding("blocking", message)]
    if facts.elevated is None and facts.elevation_detail != LAB:
        return [Finding("note", f"could not tell whether the session is elevated: {facts.elevation_detail}")]
    return []


def effective_policy(facts: HostFacts) -> str:
    by_scope = dict(facts.execution_policy)
    for scope in POLICY_SCOPES:
        policy = by_scope.get(scope, "Undefined")
        if policy not in ("Undefined", UNKNOWN):
            return policy
    return "Undefined" if by_scope else UNKNOWN


def policy_findings(facts: HostFacts) -> list[Finding]:
    if facts.execution_policy_error:
        return [Finding("note", f"Get-ExecutionPolicy -List failed: {facts.execution_policy_error}")]
    policy = effective_policy(facts)
    if policy in BLOCKING_POLICIES:
        message = (
            f"execution policy {policy} is in effect: running the record's unsigned .ps1 files by hand on "
            "this host is blocked (sslbind over remoting sends script text and is not affected)"
        )
        return [Finding("note", message)]
    return []


def netsh_findings(facts: HostFacts, abilities: NetshAbilities) -> list[Finding]:
    out = []
    add = facts.netsh["add_help"]
    if add.exit_code is None:
        out.append(Finding("blocking", f"netsh could not run: {add.error}"))
    elif not abilities.add_tags:
        message = (
            "'netsh http add sslcert /?' printed no parameter list sslbind can read; its scripts refuse "
            "every add"
        )
        out.append(Finding("blocking", message))
    elif abilities.missing:
        message = f"'netsh http add sslcert /?' does not list {', '.join(abilities.missing)}"
        out.append(Finding("note", message))
    if abilities.update_sslcert is False:
        message = "netsh has no 'http update sslcert' (Server 2012 R2 and older): changes delete and re-add"
        out.append(Finding("note", message))
    elif abilities.update_sslcert is None and add.exit_code is not None:
        out.append(Finding("note", "whether netsh has 'http update sslcert' could not be told from its help"))
    return out


def binding_parameter_findings(checks: Sequence[BindingCheck], abilities: NetshAbilities) -> list[Finding]:
    """Bindings whose re-add would need a parameter this netsh does not list (the scripts refuse them)."""
    out = []
    missing = set(abilities.missing)
    for check in checks:
        if check.model is None or not missing:
            continue
        args = netsh_add_arguments(check.model.key.kind, check.model.key.value, check.model.settings)
        needed = [arg.partition("=")[0] for arg in args if arg.partition("=")[0] in missing]
        if needed:
            message = (
                f"re-adding it needs {', '.join(needed)}, which this netsh does not list; sslbind refuses "
                "a change that deletes and re-adds it"
            )
            out.append(Finding("blocking", message, check.name, needed[0]))
    return out


def registry_findings(facts: HostFacts) -> list[Finding]:
    if facts.registry_error:
        message = (
            f"the HTTP.sys registry keys could not be read ({facts.registry_error}); sslbind reads "
            "bindings there"
        )
        return [Finding("blocking", message)]
    return []


def host_findings(facts: HostFacts, abilities: NetshAbilities) -> list[Finding]:
    """Every host-level finding, blocking ones included."""
    return [
        *powershell_findings(facts),
        *elevation_findings(facts),
        *policy_findings(facts),
        *netsh_findings(facts, abilities),
        *registry_findings(facts),
    ]
