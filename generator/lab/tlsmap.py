"""Where the lab's TLS front serves a binding's address:port: the port and address maps.

Standard library only: the SimWindows shims import it under `python -S` (no site-packages).
Binding port P is served at loopback port base + P (kept in 1024..65535); a wildcard or loopback
address at the host's own loopback, any other address at a 127.x.y.z alias (README "TLS").
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from pathlib import Path

from generator.lab.state import LabStateError, State, StateFile

SIDECAR_SUFFIX = ".tls-front.json"
LOW_PORT, PORT_SPAN = 1024, 65536 - 1024  # mapped ports stay in 1024..65535, never root-only
WILDCARD_TEXTS = ("", "*", "+")
V4_LOOPBACK, V6_LOOPBACK = "127.0.0.1", "::1"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> Address:
    """A binding's or a client's address; `*`, `+` and "" are the IPv4 wildcard."""
    text = text.strip()
    if text in WILDCARD_TEXTS:
        return ipaddress.IPv4Address("0.0.0.0")
    return ipaddress.ip_address(text.strip("[]"))


def mapped_port(base: int, port: int) -> int:
    """The loopback port where binding port `port` is served: base + port, kept in 1024..65535."""
    return LOW_PORT + (base + port - LOW_PORT) % PORT_SPAN


def loopback_alias(address: Address) -> str:
    """The loopback address standing for `address`: the host's own loopback for wildcards and
    loopback addresses, else 127.x.y.z from SHA-256 of the address (all of 127/8 is local)."""
    if address.is_unspecified:
        return V4_LOOPBACK if address.version == 4 else V6_LOOPBACK
    if address.is_loopback:
        return str(address)
    digest = hashlib.sha256(str(address).encode("ascii")).digest()
    alias = f"127.{digest[0]}.{digest[1]}.{digest[2] % 253 + 1}"
    return "127.0.0.2" if alias == V4_LOOPBACK else alias


def sidecar_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + SIDECAR_SUFFIX)


def _state_file(state: StateFile | str | os.PathLike[str]) -> StateFile:
    return state if isinstance(state, StateFile) else StateFile(state)


def port_base(store: StateFile, state: State | None = None) -> int:
    """`tls.port_base` of the state, else the base the running front published."""
    state = state if state is not None else store.read()
    configured = int(state.get("tls", {}).get("port_base", 0))
    if configured:
        return configured
    try:
        published = json.loads(sidecar_path(store.path).read_text(encoding="utf-8"))
        return int(published["port_base"])
    except (OSError, ValueError, KeyError, TypeError):
        raise LabStateError(
            f"{store.path}: no TLS front runs for this state; start `sslbind lab serve` or set tls.port_base"
        ) from None


def lab_tls_endpoint(state: StateFile | str | os.PathLike[str], address: str, port: int) -> tuple[str, int]:
    """Where a client connects to reach the lab's binding `address:port` (host, port)."""
    store = _state_file(state)
    return loopback_alias(parse_address(address)), mapped_port(port_base(store), port)
