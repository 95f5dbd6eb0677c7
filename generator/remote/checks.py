"""Checks on a change's inputs before any host is touched: one host named twice, a malformed plan.

Two targets that are the same machine make one run race itself (each pipeline checks the prior
and then changes it, so both pass the check); a plan whose fields have the wrong types must be
refused as a bad record (exit 1), never crash the client into "a person must act" (exit 4).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from generator.errors import EXIT_FAILED, EXIT_USAGE, UserError
from generator.model import Change

RESOLVE_SECONDS = 5.0  # at most this long for every name together; unresolved names are skipped


def _addresses(host: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError):
        return set()


def _resolved(hosts: Sequence[str]) -> dict[str, set[str]]:
    """Each host's addresses (an IP literal is its own); names not resolved in time get none."""
    found: dict[str, set[str]] = {}
    names = []
    for host in hosts:
        try:
            found[host] = {str(ipaddress.ip_address(host.strip("[]")))}
        except ValueError:
            names.append(host)
    if names:
        pool = ThreadPoolExecutor(max_workers=min(16, len(names)))
        futures = {pool.submit(_addresses, n): n for n in names}
        done, _ = wait(futures, timeout=RESOLVE_SECONDS)
        pool.shutdown(wait=False, cancel_futures=True)
        found.update({futures[f]: f.result() for f in done})
    return found


def _keys(host: str, addresses: set[str]) -> tuple[set[str], set[str]]:
    """(keys this host is known by, keys that would be another spelling of it).

    Case-blind without a trailing dot; a short name (web01) and an FQDN whose first label it is
    (web01.contoso.local) are one machine; so are two names resolving to one address.
    """
    name = host.lower().rstrip(".").strip("[]")
    known = {f"name {name}"} | {f"address {a}" for a in addresses}
    clashes = set(known)
    try:
        ipaddress.ip_address(name)
    except ValueError:
        if "." in name:
            known.add(f"fqdn of {name.split('.')[0]}")
            clashes.add(f"short {name.split('.')[0]}")
        else:
            known.add(f"short {name}")
            clashes.add(f"fqdn of {name}")
    return known, clashes


def same_host_pairs(hosts: Iterable[str], resolve: bool = True) -> list[tuple[str, str, str]]:
    """(first, second, why) for targets that name the same machine; names only (no DNS, for
    offline validation) unless `resolve`."""
    hosts = list(hosts)
    seen: dict[str, str] = {}
    pairs: list[tuple[str, str, str]] = []
    resolved = _resolved(hosts) if resolve else {}
    for host in hosts:
        known, clashes = _keys(host, resolved.get(host, set()))
        clash = next((k for k in sorted(clashes) if k in seen and seen[k] != host), None)
        if clash is not None:
            why = {"name": "the same name", "address": "both resolve to"}.get(clash.split()[0], "short name")
            why = f"{why} {clash.split()[-1]}" if not clash.startswith("name") else why
            pairs.append((seen[clash], host, why))
        for key in known:
            seen.setdefault(key, host)
    return pairs


def refuse_same_host(change: Change) -> None:
    """Exit 2 before anything runs when two targets are one machine, naming both."""
    pairs = same_host_pairs(t.host for t in change.targets)
    if pairs:
        first, second, why = pairs[0]
        raise UserError(
            f"change {change.id}: targets {first} and {second} are the same host ({why}); one run would "
            "change its bindings twice at once: name each host once",
            EXIT_USAGE,
        )


# --- the plan -----------------------------------------------------------------------------------


def _is_capture(value: Any) -> bool:
    before = value.get("before") if isinstance(value, dict) else None
    return isinstance(before, list) and bool(before) and all(isinstance(b, dict) for b in before)


def plan_entry_problem(entry: Any) -> str | None:
    """What is wrong with one host entry of a stored plan, or None."""
    if not isinstance(entry, dict) or not isinstance(entry.get("host"), str):
        return "a host entry is not an object with a host name"
    status = entry.get("status")
    if not isinstance(status, str):
        return f"host {entry['host']}: status is not a string"
    if status != "pending":
        return None
    if not _is_capture(entry.get("capture")):
        return f"host {entry['host']}: capture has no captured bindings"
    scripts = entry.get("scripts")
    if not isinstance(scripts, dict) or not all(isinstance(v, str) for v in scripts.values()):
        return f"host {entry['host']}: scripts is not a table of sha256 strings"
    return None


def planned_hosts(path: Path, document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The plan's host entries by host, refused (exit 1) when any entry is malformed."""
    hosts = document.get("hosts")
    if not isinstance(hosts, list):
        raise UserError(f"{path}: not an sslbind plan (no hosts list); run plan again", EXIT_FAILED)
    for entry in hosts:
        problem = plan_entry_problem(entry)
        if problem is not None:
            raise UserError(f"{path}: malformed plan: {problem}; run plan again", EXIT_FAILED)
    return {str(h["host"]): h for h in hosts}
