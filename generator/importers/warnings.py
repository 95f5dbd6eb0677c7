"""Warnings a careful administrator wants about a host's bindings. Pure functions over the model.

None of these stop an import or a rotation; they are printed and written into the spec's header.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from generator.binding import KeyKind
from generator.importers.certfacts import CertFacts
from generator.model import Binding

# The AppId IIS Manager gives every binding it creates (reference section 1).
IIS_APPID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
USUAL_STORES = ("my", "webhosting")
EXPIRY_WARNING_DAYS = 30
SHADOWED_NAMED = 10  # hostname/CCS bindings named in one shadowing warning; the rest are counted


@dataclass(frozen=True, order=True)
class BindingWarning:
    binding: str  # e.g. "ipport=0.0.0.0:443"
    code: str  # shadows-sni | expires | unusual-store | iis-appid-missing
    message: str

    def __str__(self) -> str:
        return f"{self.binding}: {self.message}"


def shadowing(bindings: Sequence[Binding]) -> list[BindingWarning]:
    """IP:port bindings that answer before the SNI/CCS bindings of their port are looked up.

    HTTP.sys tries the IP:port entry first, then CCS; so an IP:port binding on a port wins over every
    hostname and CCS binding on it (reference section 1; win-acme #94, #1686). Each message names at
    most SHADOWED_NAMED of them, so many IP and many SNI bindings on one port stay linear.
    """
    by_port: dict[int, list[str]] = {}  # grouped once: a host may have many thousand bindings
    for binding in bindings:
        if binding.key.kind is not KeyKind.IPPORT:
            by_port.setdefault(binding.key.port, []).append(str(binding.key))
    hidden_text = {port: _names(sorted(names)) for port, names in by_port.items()}  # once per port
    out = []
    for ip in (b for b in bindings if b.key.kind is KeyKind.IPPORT):
        hidden = hidden_text.get(ip.key.port)
        if hidden:
            message = (
                f"HTTP.sys looks up IP:port bindings first, so this one may answer TLS handshakes on "
                f"port {ip.key.port} meant for {hidden}"
            )
            out.append(BindingWarning(str(ip.key), "shadows-sni", message))
    return out


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:SHADOWED_NAMED])
    more = len(names) - SHADOWED_NAMED
    return f"{shown} and {more} more" if more > 0 else shown


def expiry(
    bindings: Sequence[Binding],
    certs: Mapping[str, CertFacts],
    now: datetime,
    days: int = EXPIRY_WARNING_DAYS,
) -> list[BindingWarning]:
    """Bound certificates that expire within `days` (or have expired); `certs` is keyed by thumbprint."""
    out = []
    for binding in bindings:
        cert = certs.get(str(binding.settings.get("certhash", "")).lower())
        if cert is None:
            continue
        left = (cert.not_after - now).total_seconds() / 86400
        if left < 0:
            message = f"certificate {cert.thumbprint} ({cert.subject}) expired on {cert.not_after:%Y-%m-%d}"
        elif left < days:
            message = (
                f"certificate {cert.thumbprint} ({cert.subject}) expires on {cert.not_after:%Y-%m-%d}, "
                f"in {int(left)} day(s)"
            )
        else:
            continue
        out.append(BindingWarning(str(binding.key), "expires", message))
    return out


def unusual_store(bindings: Sequence[Binding]) -> list[BindingWarning]:
    """Certificates bound from a store other than My or WebHosting (a typo, or a CA store)."""
    out = []
    for binding in bindings:
        store = binding.settings.get("certstorename")
        if isinstance(store, str) and store.lower() not in USUAL_STORES and "certhash" in binding.settings:
            message = f"certificate store {store!r} is neither My nor WebHosting; check it is intended"
            out.append(BindingWarning(str(binding.key), "unusual-store", message))
    return out


def iis_appid_missing(bindings: Sequence[Binding]) -> list[BindingWarning]:
    """Bindings on a port IIS uses whose appid is not IIS's (IIS Manager may rewrite or lose them)."""
    iis_ports = {b.key.port for b in bindings if str(b.settings.get("appid", "")).lower() == IIS_APPID}
    out = []
    for binding in bindings:
        appid = binding.settings.get("appid")
        if binding.key.port in iis_ports and isinstance(appid, str) and appid.lower() != IIS_APPID:
            message = (
                f"other bindings on port {binding.key.port} belong to IIS (appid {IIS_APPID}) but this "
                f"one has appid {appid}; IIS Manager does not manage it"
            )
            out.append(BindingWarning(str(binding.key), "iis-appid-missing", message))
    return out


def binding_warnings(
    bindings: Sequence[Binding],
    certs: Mapping[str, CertFacts] | None = None,
    now: datetime | None = None,
    expiry_days: int = EXPIRY_WARNING_DAYS,
) -> list[BindingWarning]:
    """Every warning for one host's bindings, sorted; expiry only when certificate facts are given."""
    found = shadowing(bindings) + unusual_store(bindings) + iis_appid_missing(bindings)
    if certs is not None and now is not None:
        found += expiry(bindings, certs, now, expiry_days)
    return sorted(found)
