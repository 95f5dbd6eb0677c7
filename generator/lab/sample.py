"""The sample state `sslbind lab init` writes: the motivating story, ready for a certificate rotation.

IIS serves api.contoso.com on 0.0.0.0:443 with client-certificate revocation checking turned off
by hand; the certificate is about to expire and 40db5bb1… is its renewal. Rendering the contract's
example spec against this state rotates both bindings and must keep the revocation setting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from generator.lab.state import State

IIS_APPID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
OLD_CERT = "8f2c0a4e6b1d3f5a7c9e0b2d4f6a8c1e3b5d7f90"
NEW_CERT = "40db5bb1bf5659a155258d1d007c530fcb8996c2"
NO_KEY_CERT = "c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6"
EXPIRED_CERT = "0badc0de0badc0de0badc0de0badc0de0badc0de"
CLIENT_AUTH_CERT = "5e1ec7ed5e1ec7ed5e1ec7ed5e1ec7ed5e1ec7ed"
OTHER_APPID = "{b6a3e7b8-2c9d-4f0e-8a1b-3c5d7e9f1a2b}"


def _cert(
    store: str, thumbprint: str, subject: str, start: datetime, end: datetime, **extra: Any
) -> dict[str, Any]:
    return {
        "store": store,
        "thumbprint": thumbprint,
        "subject": subject,
        "issuer": "CN=Contoso Issuing CA 01, DC=contoso, DC=local",
        "not_before": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "has_private_key": extra.get("has_private_key", True),
        "server_auth": extra.get("server_auth", True),
    }


def sample_state(now: datetime | None = None) -> State:
    """A state whose certificate dates are relative to `now`, so the story stays true over time."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    day = timedelta(days=1)
    old = (now - 335 * day, now + 30 * day)
    new = (now - 1 * day, now + 365 * day)
    return {
        "bindings": [
            {
                "ipport": "0.0.0.0:443",
                "certhash": OLD_CERT,
                "appid": IIS_APPID,
                "certstorename": "My",
                "verifyclientcertrevocation": "disable",
            },
            {
                "hostnameport": "api.contoso.com:443",
                "certhash": OLD_CERT,
                "appid": IIS_APPID,
                "certstorename": "WebHosting",
            },
            {
                "ipport": "0.0.0.0:8443",
                "certhash": EXPIRED_CERT,
                "appid": OTHER_APPID,
                "certstorename": "My",
                "clientcertnegotiation": "enable",
                "sslctlstorename": "ClientAuthIssuer",
                "revocationfreshnesstime": 3600,
            },
        ],
        "certificates": [
            _cert("My", OLD_CERT, "CN=api.contoso.com", *old),
            _cert("WebHosting", OLD_CERT, "CN=api.contoso.com", *old),
            _cert("My", NEW_CERT, "CN=api.contoso.com", *new),
            _cert("WebHosting", NEW_CERT, "CN=api.contoso.com", *new),
            _cert("My", NO_KEY_CERT, "CN=nokey.contoso.com", *new, has_private_key=False),
            _cert("My", EXPIRED_CERT, "CN=legacy.contoso.com", now - 400 * day, now - 35 * day),
            _cert("My", CLIENT_AUTH_CERT, "CN=client.contoso.com", *new, server_auth=False),
        ],
        "netsh": {"supports_update": True},
        "faults": [],
    }
