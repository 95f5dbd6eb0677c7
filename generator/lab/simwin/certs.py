"""The LocalMachine certificate stores (`Cert:\\LocalMachine\\<store>`) over the state's certificates."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from generator.lab.state import State

SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
EKU_NAMES = {SERVER_AUTH: "Server Authentication", CLIENT_AUTH: "Client Authentication"}
PROVIDER = "Microsoft.PowerShell.Security\\Certificate::"
LOCATIONS = ("CurrentUser", "LocalMachine")
# Stores every Windows Server has, whether or not the state lists a certificate in them.
STANDARD_STORES = (
    "AuthRoot",
    "CA",
    "ClientAuthIssuer",
    "Disallowed",
    "My",
    "Remote Desktop",
    "Root",
    "TrustedDevices",
    "TrustedPeople",
    "TrustedPublisher",
    "Trust",
    "WebHosting",
)
_PREFIX = re.compile(r"^(?:(?:Microsoft\.PowerShell\.Security\\)?Certificate::|Cert:)", re.IGNORECASE)


def is_cert_path(path: str) -> bool:
    return _PREFIX.match(path.strip()) is not None


def _parts(path: str) -> list[str]:
    rest = _PREFIX.sub("", path.strip(), count=1)
    return [p for p in rest.replace("/", "\\").split("\\") if p]


def _store_names(state: State, location: str) -> list[str]:
    names = {s.lower(): s for s in STANDARD_STORES}
    if location == "LocalMachine":
        for cert in state["certificates"]:
            store = str(cert.get("store", "My"))
            names.setdefault(store.lower(), store)
    return sorted(names.values(), key=str.lower)


def epoch(text: Any) -> int:
    """Seconds since 1970 for an ISO 8601 time (UTC when no zone is given); PowerShell makes it local."""
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def cert_json(cert: dict[str, Any], location: str, store: str) -> dict[str, Any]:
    thumbprint = str(cert["thumbprint"]).upper()
    if "eku" in cert:
        oids = [str(o) for o in cert["eku"]]
    else:
        oids = [SERVER_AUTH] if cert.get("server_auth", True) else [CLIENT_AUTH]
    subject = str(cert.get("subject", f"CN={thumbprint[:8]}"))
    return {
        "type": "cert",
        "child": thumbprint,
        "pspath": f"{PROVIDER}{location}\\{store}\\{thumbprint}",
        "parent_pspath": f"{PROVIDER}{location}\\{store}",
        "thumbprint": thumbprint,
        "subject": subject,
        "issuer": str(cert.get("issuer", subject)),
        "friendly_name": str(cert.get("friendly_name", "")),
        "has_private_key": bool(cert.get("has_private_key", True)),
        "not_before": epoch(cert.get("not_before", "2020-01-01T00:00:00Z")),
        "not_after": epoch(cert.get("not_after", "2099-01-01T00:00:00Z")),
        "eku": [{"oid": oid, "name": EKU_NAMES.get(oid, "")} for oid in oids],
    }


def _container(name: str, pspath: str) -> dict[str, Any]:
    return {"type": "container", "child": name, "name": name, "pspath": PROVIDER + pspath}


def certificates_in(state: State, store: str) -> list[dict[str, Any]]:
    return [c for c in state["certificates"] if str(c.get("store", "My")).lower() == store.lower()]


def lookup(state: State, path: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(the item at a `Cert:` path or None, its children)."""
    parts = _parts(path)
    if not parts:
        return _container("\\", ""), [_container(loc, loc) for loc in LOCATIONS]
    location = next((loc for loc in LOCATIONS if loc.lower() == parts[0].lower()), None)
    if location is None:
        return None, []
    stores = _store_names(state, location)
    if len(parts) == 1:
        return _container(location, location), [_container(s, f"{location}\\{s}") for s in stores]
    store = next((s for s in stores if s.lower() == parts[1].lower()), None)
    if store is None or len(parts) > 3:
        return None, []
    certs = certificates_in(state, store) if location == "LocalMachine" else []
    items = [cert_json(c, location, store) for c in certs]
    if len(parts) == 2:
        return _container(store, f"{location}\\{store}"), items
    match = next((i for i in items if i["thumbprint"] == parts[2].upper()), None)
    return match, []
