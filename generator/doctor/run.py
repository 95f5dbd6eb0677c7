"""Run the doctor: one read-only pipeline per host (collect.ps1), then decode and cross-check locally.

`diagnose` is the whole analysis on a recorded collector document, so it is tested without a host.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from generator.doctor.checks import binding_parameter_findings, host_findings, netsh_abilities
from generator.doctor.crosscheck import cross_check
from generator.doctor.facts import host_facts
from generator.doctor.report import DoctorReport, build_report
from generator.importers.live import LiveHost
from generator.remote.connection import Credentials, Endpoint

COLLECTOR_SCRIPT = Path(__file__).with_name("collect.ps1").read_text(encoding="ascii")


def endpoint_summary(endpoint: Endpoint) -> dict[str, Any]:
    """How the host was reached, for the report; the password is not part of an Endpoint."""
    connection = endpoint.connection
    return {
        "url": endpoint.url,
        "auth": connection.auth,
        "username": connection.username,
        "configuration_name": endpoint.extras.configuration_name,
    }


def diagnose(document: Mapping[str, Any], host: str, endpoint: Mapping[str, Any]) -> DoctorReport:
    """The report for one collector document: host checks, then the registry/netsh cross-check."""
    facts = host_facts(document, host)
    abilities = netsh_abilities(facts)
    check = cross_check(facts.registry_keys, facts.netsh["show"], host)
    findings = [*host_findings(facts, abilities), *binding_parameter_findings(check.bindings, abilities)]
    return build_report(host, endpoint, facts, abilities, check, findings)


def collect(endpoint: Endpoint, credentials: Credentials, timeout: float) -> dict[str, Any]:
    """The collector's JSON object from the host (one session, one pipeline); CaptureError (exit 1)."""
    with LiveHost(endpoint, credentials, timeout) as live:
        return live.run_json(COLLECTOR_SCRIPT, {}, "doctor collection")


def doctor(endpoint: Endpoint, credentials: Credentials, timeout: float) -> DoctorReport:
    return diagnose(collect(endpoint, credentials, timeout), endpoint.host, endpoint_summary(endpoint))
