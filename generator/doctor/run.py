"""Run the doctor: one read-only pipeline per host (collect.ps1), then decode and cross-check locally;
then, for the bindings decoded, a second read-only pipeline in the same session: which certificate a
TLS handshake from the host receives per binding (generator/importers/served.py).

`diagnose` is the whole analysis on a recorded collector document (and recorded handshakes), so it
is tested without a host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from generator.doctor.checks import binding_parameter_findings, host_findings, netsh_abilities
from generator.doctor.crosscheck import cross_check
from generator.doctor.facts import host_facts
from generator.doctor.report import DoctorReport, build_report, with_served
from generator.importers.live import LiveHost
from generator.importers.served import Served
from generator.model import Binding
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


def diagnose(
    document: Mapping[str, Any], host: str, endpoint: Mapping[str, Any], served: Sequence[Served] = ()
) -> DoctorReport:
    """The report for one collector document: host checks, then the registry/netsh cross-check,
    then what the handshakes from the host received (`served`)."""
    facts = host_facts(document, host)
    abilities = netsh_abilities(facts)
    check = cross_check(facts.registry_keys, facts.netsh["show"], host)
    findings = [*host_findings(facts, abilities), *binding_parameter_findings(check.bindings, abilities)]
    return with_served(build_report(host, endpoint, facts, abilities, check, findings), served)


def decoded_bindings(report: DoctorReport) -> list[Binding]:
    """The bindings sslbind decoded from the registry: the ones a handshake is made for."""
    return [check.model for check in report.crosscheck.bindings if check.model is not None]


def doctor(endpoint: Endpoint, credentials: Credentials, timeout: float) -> DoctorReport:
    """Collect (one pipeline), diagnose, then the handshakes from the host (a second one)."""
    host, summary = endpoint.host, endpoint_summary(endpoint)
    with LiveHost(endpoint, credentials, timeout) as live:
        report = diagnose(live.run_json(COLLECTOR_SCRIPT, {}, "doctor collection"), host, summary)
        return with_served(report, live.served(decoded_bindings(report)))
