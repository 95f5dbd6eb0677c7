"""Which certificate a TLS handshake from the host receives, per binding: `doctor` and `import --host`.

The host answers the HTTP.sys precedence question itself: for every binding it found, one
read-only pipeline (served.ps1) makes the handshakes apply, verify and rollback make after a
change, with the same library code (Invoke-SslTlsSeen and what it calls, sent first as an
in-memory module cut verbatim from the SslBind library): a wildcard address is the host's loopback,
an SNI binding is asked for its host name (on loopback and on each address with an IP-specific
binding on its port), a ccs binding names no host and is not checked, a central-store binding has
no certhash to compare (what it got is reported). A certificate that is another binding's is
named with that binding and why it answered (Find-SslTlsShadow). ConstrainedLanguage allows no
sockets: "not checked: ConstrainedLanguage", never a failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from generator.model import Binding, Connection, Target

SCRIPT = Path(__file__).with_name("served.ps1").read_text(encoding="ascii")
ENTRY = "Invoke-SslTlsSeen"  # the library function served.ps1 calls
MATCH, MISMATCH, FAILED, SEEN, NOT_CHECKED = "match", "mismatch", "failed", "seen", "not checked"
DIFFERS = frozenset({MISMATCH, FAILED})  # worth a warning: clients do not get the bound certificate


@dataclass(frozen=True)
class Served:
    """One handshake from the host (or one binding not checked), as Test-SslTlsBinding reports it."""

    binding: str  # kind=key
    result: str  # match | mismatch | failed | seen | not checked
    address: str | None = None
    port: int | None = None
    server_name: str | None = None
    expected: str | None = None  # the binding's certhash (None: central-store kind)
    thumbprint: str | None = None
    protocol: str | None = None
    client_cert_requested: bool | None = None
    detail: str | None = None
    shadowed_by: str | None = None  # the binding that answered instead, where one is named

    @property
    def where(self) -> str:
        if self.address is None:
            return ""
        host = f"[{self.address}]" if ":" in self.address else self.address
        sni = f" (SNI {self.server_name})" if self.server_name else ""
        return f"{host}:{self.port}{sni}"

    @property
    def outcome(self) -> str:
        """What the handshake got, in words, without where."""
        got = f"served {self.thumbprint}" + (f" ({self.protocol})" if self.protocol else "")
        if self.client_cert_requested:  # client-certificate negotiation is on for this endpoint
            got += ", asking for a client certificate"
        if self.result == MATCH:
            return f"{got}, the binding's own certificate"
        if self.result == MISMATCH:
            return f"{got}, not its certhash {self.expected}: {self.detail}"
        if self.result == SEEN:
            return f"{got}; a central-store binding has no certhash to compare"
        if self.result == FAILED:
            return f"handshake failed: {self.detail}"
        detail = self.detail or NOT_CHECKED
        return detail if detail.startswith(NOT_CHECKED) else f"{NOT_CHECKED}: {detail}"

    def __str__(self) -> str:
        where = f" to {self.where}" if self.where else ""
        return f"TLS from the host{where}: {self.outcome}"

    def to_json(self) -> dict[str, Any]:
        return {
            "binding": self.binding,
            "address": self.address,
            "port": self.port,
            "server_name": self.server_name,
            "expected": self.expected,
            "thumbprint": self.thumbprint,
            "protocol": self.protocol,
            "client_cert_requested": self.client_cert_requested,
            "result": self.result,
            "detail": self.detail,
            "shadowed_by": self.shadowed_by,
        }


@cache
def pipeline() -> tuple[str, str]:
    """The pipeline's two statements: the library functions as an in-memory module, then served.ps1."""
    from generator.remote.scriptio import library_statement
    from generator.render import library

    return library_statement(library().excerpt([ENTRY])), SCRIPT


def request(bindings: Sequence[Binding]) -> list[dict[str, Any]]:
    """served.ps1's -Bindings: each binding with the certhash it should serve (tls_client's rule)."""
    from generator.remote.tls_client import expected_hashes

    expected = expected_hashes(Target("host", Connection(), tuple(bindings)), None)
    out = []
    for binding in bindings:
        subject = str(binding.key)
        out.append(
            {
                "kind": binding.key.kind.value,
                "key": binding.key.value,
                "subject": subject,
                "port": binding.key.port,
                "certhash": expected.get(subject),
            }
        )
    return out


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def decode(document: Mapping[str, Any]) -> tuple[Served, ...]:
    """served.ps1's JSON object -> one Served per entry (fields it lacks stay None)."""
    entries = document.get("tls") or []
    if document.get("collector") != "sslbind-served" or not isinstance(entries, list):
        raise ValueError("the answer is not served.ps1's JSON object")
    out = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        port, requested = entry.get("port"), entry.get("client_cert_requested")
        out.append(
            Served(
                binding=str(entry.get("binding")),
                result=str(entry.get("result") or NOT_CHECKED),
                address=_text(entry.get("address")),
                port=port if isinstance(port, int) and not isinstance(port, bool) else None,
                server_name=_text(entry.get("server_name")) or None,
                expected=_text(entry.get("expected")),
                thumbprint=_text(entry.get("thumbprint")),
                protocol=_text(entry.get("protocol")),
                client_cert_requested=requested if isinstance(requested, bool) else None,
                detail=_text(entry.get("detail")),
                shadowed_by=_text(entry.get("shadowed_by")),
            )
        )
    return tuple(out)


def unchecked(bindings: Sequence[Binding], reason: str) -> tuple[Served, ...]:
    """Every binding 'not checked' for one reason (the handshake pipeline itself could not run)."""
    return tuple(Served(str(b.key), NOT_CHECKED, detail=f"{NOT_CHECKED}: {reason}") for b in bindings)


def by_binding(served: Sequence[Served]) -> dict[str, list[Served]]:
    """The entries per binding (lower-case kind=key), in the order the host reported them."""
    out: dict[str, list[Served]] = {}
    for entry in served:
        out.setdefault(entry.binding.lower(), []).append(entry)
    return out
