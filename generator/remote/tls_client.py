"""`verify --tls` and `apply --tls`: the client's handshake beside the host's, and what it means.

The host's own result (apply.ps1/verify.ps1) already carries its on-host handshake per binding
(`tls`); this adds `client_tls`, the same question asked from the machine running sslbind, and
turns a mismatch seen from here into a verdict: verify reports drift (exit 3); apply reports the
host as not verified by its clients, status `manual`, exit 4: the change is in place on the host
(it verified there) and was not undone, so a person must look at what clients reach (a load
balancer, DNS, a proxy) or roll it back with `sslbind rollback`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from generator.binding import KeyKind
from generator.errors import EXIT_MANUAL, EXIT_PENDING
from generator.model import Target
from generator.remote import tls_check
from generator.remote.fleet import HostOutcome

FAILING = frozenset({tls_check.MISMATCH, tls_check.FAILED})


def expected_hashes(target: Target, host_result: Mapping[str, Any] | None) -> dict[str, str | None]:
    """Per binding the certhash clients should get: the spec's, else the one the host now holds
    (preserve mode), None for central-store kinds (their certificate comes from the store)."""
    held: dict[str, str] = {}
    for binding in (host_result or {}).get("after") or []:
        if isinstance(binding, dict) and isinstance(binding.get("settings"), dict):
            certhash = binding["settings"].get("certhash")
            if isinstance(certhash, str):
                held[f"{binding.get('kind')}={binding.get('key')}"] = certhash.lower()
    out: dict[str, str | None] = {}
    for binding in target.bindings:
        subject = f"{binding.key.kind.value}={binding.key.value}"
        if binding.key.kind in (KeyKind.CCS, KeyKind.SCOPEDCCS):
            out[subject] = None
            continue
        given = binding.settings.get("certhash")
        out[subject] = str(given).lower() if isinstance(given, str) else held.get(subject)
    return out


def _host_result(outcome: HostOutcome) -> Mapping[str, Any] | None:
    result = outcome.details.get("result")
    return result if isinstance(result, dict) else None


def client_entries(target: Target, outcome: HostOutcome, timeout: float) -> list[dict[str, Any]]:
    expected = expected_hashes(target, _host_result(outcome))
    return tls_check.check_target(target, expected, tls_address=target.tls_address, timeout=timeout)


def after_verify(
    target: Target, outcome: HostOutcome, timeout: float = tls_check.DEFAULT_TIMEOUT
) -> HostOutcome:
    """verify --tls: a compliant host whose clients get another certificate is drift (exit 3)."""
    if outcome.status not in ("compliant", "drift"):
        return outcome
    entries = client_entries(target, outcome, timeout)
    details = {**outcome.details, "client_tls": entries}
    problems = tls_check.failures(entries)
    if not problems:
        return replace(outcome, details=details)
    summary = "; ".join(problems)
    if outcome.status == "drift":
        summary = f"{outcome.summary}; {summary}"
    return HostOutcome(outcome.host, "drift", EXIT_PENDING, summary, details)


def after_apply(
    target: Target, outcome: HostOutcome, timeout: float = tls_check.DEFAULT_TIMEOUT
) -> HostOutcome:
    """apply --tls: an applied host whose clients get another certificate is not verified (exit 4)."""
    if outcome.status != "applied":
        return outcome
    entries = client_entries(target, outcome, timeout)
    details = {**outcome.details, "client_tls": entries}
    problems = tls_check.failures(entries)
    if not problems:
        return replace(outcome, details=details)
    summary = (
        f"not verified by its clients: changed and verified on the host, but {'; '.join(problems)}; "
        "nothing was undone: check what clients reach (load balancer, DNS, tls_address) or run "
        "`sslbind rollback`"
    )
    return HostOutcome(outcome.host, "manual", EXIT_MANUAL, summary, {**details, "not_verified": True})


def lines(outcome: HostOutcome, everything: bool = True) -> list[str]:
    """For people: per binding what the host's handshake and the client's saw (`everything`
    False: only the handshakes that failed or saw another certificate)."""
    out = []
    result = _host_result(outcome) or {}
    for origin, entries in (("on-host", result.get("tls")), ("client", outcome.details.get("client_tls"))):
        for entry in entries or []:
            if isinstance(entry, dict) and (everything or entry.get("result") in FAILING):
                out.append(f"{outcome.host}: {origin} TLS {_describe(entry)}")
    return out


def _describe(entry: Mapping[str, Any]) -> str:
    where = f"{entry.get('address')}:{entry.get('port')}"
    if entry.get("server_name"):
        where += f" (SNI {entry['server_name']})"
    text = f"{entry.get('binding')} at {where}: {entry.get('result')}"
    if entry.get("thumbprint"):
        text += f" {entry['thumbprint']}"
    if entry.get("protocol"):
        text += f" {entry['protocol']}"
    if entry.get("detail") and entry.get("result") != "match":
        text += f" ({entry['detail']})"
    return text
