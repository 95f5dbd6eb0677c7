"""What clients see: a TLS handshake from the machine running sslbind to each binding of a target.

`sslbind verify --tls` and `apply --tls` use this beside the on-host handshake of the scripts
(Invoke-SslTlsHandshake): per binding, connect where a client would (the binding's own address
for an IP-specific binding, else the target's address, or the target's `tls_address`), send the
binding's host name as SNI where the kind has one, read the leaf certificate and compare its
SHA-1 thumbprint with the certhash the binding should serve. Read-only: no HTTP request is sent
and the connection is closed right after the handshake; every wait is bounded by a short timeout.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from generator import spec_values as sv
from generator.binding import KeyKind
from generator.model import Binding, Target

DEFAULT_TIMEOUT = 3.0
# Results a client-side check can have; only match, seen and not checked are success.
MATCH, MISMATCH, FAILED, SEEN, NOT_CHECKED = "match", "mismatch", "failed", "seen", "not checked"
PASSING = frozenset({MATCH, SEEN, NOT_CHECKED})
# The name asked for under a wildcard SNI binding, as the on-host check does (phases.ps1).
WILDCARD_LABEL = "sslbind-tls-check"


@dataclass(frozen=True)
class Probe:
    """Where and how to handshake for one binding."""

    binding: str  # kind=key, as the scripts name it
    address: str
    port: int
    server_name: str | None  # SNI; None sends none (an IP-specific or wildcard binding)


@dataclass(frozen=True)
class Seen:
    """What one handshake saw."""

    ok: bool
    thumbprint: str | None = None
    protocol: str | None = None
    error: str | None = None


def thumbprint(der: bytes) -> str:
    """The certificate's SHA-1 thumbprint as netsh and the registry hold it: 40 hex digits, lower case."""
    return hashlib.sha1(der, usedforsecurity=False).hexdigest()


def parse_tls_address(text: str) -> tuple[str, int | None]:
    """`name`, `name:port`, `a.b.c.d[:port]`, `[v6]` or `[v6]:port` -> (host, port or None)."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise sv.Invalid(f"{sv.shown(text)}: an IPv6 address needs its closing ]")
        host, rest = text[: close + 1], text[close + 1 :]
        if rest and not rest.startswith(":"):
            raise sv.Invalid(f"{sv.shown(text)}: expected [IPv6]:port")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, None
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise sv.Invalid(f"{sv.shown(text)}: the port must be a number from 1 to 65535")
        port = int(port_text)
    return sv.host(host), port


def _connect_host(address: str) -> str:
    """A wildcard address is no place to connect to; clients reach it through the host's name."""
    return address.strip("[]")


def probe_for(target: Target, binding: Binding, tls_address: str | None = None) -> Probe | None:
    """The handshake a client of this binding makes, or None for a ccs binding (no host name to ask).

    ipport: its own address (a wildcard one through the target's address), no SNI. hostnameport and
    scopedccs: the target's address with the binding's host name as SNI. `tls_address` (the spec's
    per-target override, `host[:port]`) replaces the address, and with a port the port too.
    """
    kind, key = binding.key.kind, binding.key.value
    subject = f"{kind.value}={key}"
    if kind is KeyKind.CCS:
        return None
    port = int(key.rsplit(":", 1)[1])
    address = target.host
    server_name: str | None = None
    if kind is KeyKind.IPPORT:
        literal = key.rsplit(":", 1)[0].strip("[]")
        if not ipaddress.ip_address(literal).is_unspecified:
            address = literal
    else:
        server_name = key.rsplit(":", 1)[0]
        if server_name.startswith("*."):
            # A wildcard SNI binding answers any name under it; SNI cannot carry the '*' itself.
            server_name = WILDCARD_LABEL + server_name[1:]
    if tls_address:
        host, override = parse_tls_address(tls_address)
        address, port = host, override or port
    return Probe(subject, _connect_host(address), port, server_name)


def handshake(probe: Probe, timeout: float = DEFAULT_TIMEOUT) -> Seen:
    """One TLS handshake; the leaf certificate's thumbprint, the TLS version, or why it failed."""
    # Certificate verification is off on purpose: this reads which certificate HTTP.sys selected
    # and compares its thumbprint with the binding's certhash, which is a stronger check than a
    # chain to some trusted CA (a lab CA, an internal CA, a name mismatch must not hide the answer).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    where = f"{probe.address}:{probe.port}"
    try:
        with (
            socket.create_connection((probe.address, probe.port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=probe.server_name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
            if not der:
                return Seen(False, error=f"TLS handshake with {where}: the server presented no certificate")
            return Seen(True, thumbprint(der), tls.version())
    except (OSError, ssl.SSLError, ValueError) as error:
        return Seen(False, error=f"TLS handshake with {where} failed: {error}")


Connect = Callable[[Probe], Probe | None]


def check_target(
    target: Target,
    expected: Mapping[str, str | None],
    *,
    tls_address: str | None = None,
    route: Connect | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[dict[str, Any]]:
    """One entry per binding of the target: where it connected, what it saw, and the verdict.

    `expected` maps each binding (kind=key) to the certhash it should serve (None: unknown, as for
    central-store kinds; the thumbprint is reported as seen). `route` may send a probe elsewhere
    (the lab maps binding ports to loopback ports), or return None when nothing serves it there.
    """
    entries = []
    for binding in target.bindings:
        subject = f"{binding.key.kind.value}={binding.key.value}"
        probe = probe_for(target, binding, tls_address)
        if probe is not None and route is not None:
            probe = route(probe)
        entries.append(_entry(subject, probe, expected.get(subject), timeout))
    return entries


def _entry(subject: str, probe: Probe | None, want: str | None, timeout: float) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "binding": subject,
        "address": None if probe is None else probe.address,
        "port": None if probe is None else probe.port,
        "server_name": None if probe is None else probe.server_name,
        "expected": want,
        "thumbprint": None,
        "protocol": None,
        "result": NOT_CHECKED,
        "detail": None,
    }
    if probe is None:
        entry["detail"] = "not checked: no client handshake for this binding (a ccs binding names no host)"
        return entry
    seen = handshake(probe, timeout)
    entry.update(thumbprint=seen.thumbprint, protocol=seen.protocol, detail=seen.error)
    if not seen.ok:
        entry["result"] = FAILED
    elif want is None:
        entry["result"] = SEEN
    elif seen.thumbprint != want.lower():
        entry["result"] = MISMATCH
        entry["detail"] = f"got {seen.thumbprint}, not {want.lower()}"
    else:
        entry["result"] = MATCH
    return entry


def failures(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per entry a client would not be happy with."""
    return [
        f"{e['binding']}: client handshake to {e['address']}:{e['port']}: {e['result']}"
        + (f" ({e['detail']})" if e.get("detail") else "")
        for e in entries
        if e.get("result") not in PASSING
    ]
