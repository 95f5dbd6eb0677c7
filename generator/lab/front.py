"""The lab's TLS front: HTTP.sys's certificate selection on loopback, read from the live state.

For each binding port the front listens on loopback at a mapped port; every handshake re-reads the
state, selects a binding from (local address, port, SNI) in the state's precedence order, serves
its certificate (or fails the handshake, as HTTP.sys does when it has no usable certificate) and
closes. It never reads application data. The port and address maps, the default order and its
sources are in generator/lab/README.md ("TLS").
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import random
import selectors
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from generator.binding import KeyKind
from generator.importers.values import binding_key as normalized_key
from generator.lab import faults
from generator.lab.labcerts import key_dir_for, key_path, lab_ca_path
from generator.lab.state import TLS_STEPS, LabStateError, State, StateFile, binding_key
from generator.lab.tlsmap import (  # lab_tls_endpoint: re-exported, the README's API
    PORT_SPAN,
    V4_LOOPBACK,
    V6_LOOPBACK,
    Address,
    lab_tls_endpoint,
    loopback_alias,
    mapped_port,
    parse_address,
    sidecar_path,
)

__all__ = ["Selection", "TlsFront", "lab_tls_endpoint", "select_certificate"]

log = logging.getLogger("sslbind.lab.tls")

CENTRAL_STORE = "CentralCertStore"  # where the lab keeps the central certificate store (CCS)
HANDSHAKE_TIMEOUT = 5.0
POLL = 0.2  # how often the front re-reads the state for new ports and stale_tls faults


# --- selection


@dataclass(frozen=True)
class Selection:
    """The binding HTTP.sys would use, and the certificate it would serve (None: none usable)."""

    step: str
    kind: KeyKind
    key: str
    thumbprint: str | None
    certificate: dict[str, Any] | None
    problem: str | None = None

    @property
    def name(self) -> str:
        return f"{self.kind.value}={self.key}"


def _precedence(state: State) -> list[str]:
    order = state.get("tls", {}).get("precedence")
    return list(order) if isinstance(order, list) else list(TLS_STEPS)


def _host_port(value: str) -> tuple[str, int]:
    host, _, port_text = value.rpartition(":")
    return host.strip("[]").lower().rstrip("."), int(port_text)


def _key_of(entry: dict[str, Any]) -> tuple[KeyKind, str]:
    kind, value = binding_key(entry)
    return kind, normalized_key(kind, value)


def _step_matches(step: str, kind: KeyKind, value: str, local: Address, port: int, sni: str | None) -> bool:
    if kind is KeyKind.CCS:
        return step == "ccs" and sni is not None and int(value) == port
    host, bound_port = _host_port(value)
    if bound_port != port:
        return False
    if kind is KeyKind.IPPORT:
        bound = ipaddress.ip_address(host)
        if step == "ip":
            return not bound.is_unspecified and bound == local
        return step == "wildcard_ip" and bound.is_unspecified and bound.version == local.version
    wanted = {KeyKind.HOSTNAMEPORT: "sni", KeyKind.SCOPEDCCS: "scoped_ccs"}[kind]
    return step == wanted and sni is not None and host == sni


def _store_certificate(state: State, entry: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    thumbprint = str(entry.get("certhash") or "").upper() or None
    store = str(entry.get("certstorename") or "My").lower()
    for record in state["certificates"]:
        if (
            str(record["thumbprint"]).upper() == thumbprint
            and str(record.get("store", "My")).lower() == store
        ):
            return thumbprint, record
    return thumbprint, None


def _names(record: dict[str, Any]) -> set[str]:
    """The DNS names a central-store certificate answers for: its CN and, with a PEM, its SANs."""
    names = {
        part.partition("=")[2].strip().lower()
        for part in str(record.get("subject", "")).split(",")
        if part.strip().upper().startswith("CN=")
    }
    if "pem" in record:
        with contextlib.suppress(ValueError, x509.ExtensionNotFound):
            cert = x509.load_pem_x509_certificate(str(record["pem"]).encode("ascii"))
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names.update(name.lower() for name in san.get_values_for_type(x509.DNSName))
    return names


def _central_certificate(state: State, sni: str) -> dict[str, Any] | None:
    records: list[dict[str, Any]] = state["certificates"]
    central = (r for r in records if str(r.get("store", "")).lower() == CENTRAL_STORE.lower())
    return next((r for r in central if sni in _names(r)), None)


def select_certificate(
    state: State, local_address: str, port: int, server_name: str | None
) -> Selection | None:
    """HTTP.sys's choice for a connection to `local_address:port` with this SNI (None: no binding)."""
    local = parse_address(local_address)
    if isinstance(local, ipaddress.IPv6Address) and local.ipv4_mapped is not None:
        local = local.ipv4_mapped
    sni = server_name.lower().rstrip(".") if server_name else None
    keys = [(entry, *_key_of(entry)) for entry in state["bindings"]]
    for step in _precedence(state):
        for entry, kind, key in keys:
            if not _step_matches(step, kind, key, local, port, sni):
                continue
            if kind in (KeyKind.CCS, KeyKind.SCOPEDCCS):
                record = _central_certificate(state, sni or "")
                if record is None:
                    missing = f"no certificate for {sni} in the central store"
                    return Selection(step, kind, key, None, None, missing)
                return Selection(step, kind, key, str(record["thumbprint"]).upper(), record)
            hashed, stored = _store_certificate(state, entry)
            problem = None if stored is not None else f"certificate {hashed} is not in the store"
            return Selection(step, kind, key, hashed, stored, problem)
    return None


def _pinned(state: State, selection: Selection) -> str | None:
    """The thumbprint a stale_tls fault keeps serving for this binding, if any."""
    for entry in state["faults"]:
        if entry.get("stale_tls") and faults.matches(entry, "tls", selection.kind, selection.key):
            pinned = entry.get("pinned", {})
            if selection.name in pinned:
                return str(pinned[selection.name]).upper()
    return None


def apply_stale(state: State, selection: Selection) -> Selection:
    thumbprint = _pinned(state, selection)
    if thumbprint is None or thumbprint == selection.thumbprint:
        return selection
    record = next((c for c in state["certificates"] if str(c["thumbprint"]).upper() == thumbprint), None)
    problem = None if record is not None else f"pinned certificate {thumbprint} is gone"
    return Selection(selection.step, selection.kind, selection.key, thumbprint, record, problem)


def pin_stale_faults(state: State) -> bool:
    """Records, in each stale_tls fault not yet pinned, every matching binding's certificate now."""
    changed = False
    for entry in state["faults"]:
        if not entry.get("stale_tls") or "pinned" in entry:
            continue
        pinned: dict[str, str] = {}
        for binding in state["bindings"]:
            kind, value = binding_key(binding)
            key = normalized_key(kind, value)
            if binding.get("certhash") and faults.matches(entry, "tls", kind, key):
                pinned[f"{kind.value}={key}"] = str(binding["certhash"]).upper()
        entry["pinned"] = pinned
        changed = True
    return changed


def take_tls_hang(state: State, selection: Selection) -> float:
    """Removes the first `{"on": "tls", "hang": S}` fault matching this binding (optional `target`;
    optional `certhash`: only while the binding selected holds that certificate) and returns S: the
    front's next handshake for it waits that long first (a slow first handshake after a change:
    credential acquisition, an HSM or TPM key, a revocation fetch). Fires once, like the netsh
    faults; `stale_tls` faults are not taken (call inside a state transaction)."""
    entries: list[dict[str, Any]] = state["faults"]
    for index, entry in enumerate(entries):
        if entry.get("stale_tls") or not entry.get("hang"):
            continue
        wanted = entry.get("certhash")
        if wanted is not None and str(wanted).upper() != str(selection.thumbprint).upper():
            continue  # only once the binding holds that certificate (the first handshake after a change)
        if faults.matches(entry, "tls", selection.kind, selection.key):
            del entries[index]
            return float(entry["hang"])
    return 0.0


def unservable(selection: Selection, key_dir: Path) -> str | None:
    """Why HTTP.sys could not serve the selected certificate (None: it can)."""
    record = selection.certificate
    if selection.problem or record is None:
        return selection.problem or "no certificate"
    if not record.get("has_private_key", True) or not record.get("key_usable", True):
        return f"certificate {selection.thumbprint}: private key not usable"
    if "pem" not in record or not key_path(key_dir, str(selection.thumbprint)).exists():
        return f"certificate {selection.thumbprint}: no key material in the lab (see lab README)"
    return None


# --- reading ahead


def client_hello_sni(data: bytes) -> str | None:
    """The server_name of the TLS ClientHello that `data` starts with (None: none, or unreadable)."""
    try:
        if data[0] != 0x16:  # a handshake record
            return None
        body = data[5 : 5 + int.from_bytes(data[3:5], "big")]
        if len(body) < int.from_bytes(data[3:5], "big") or body[0] != 1:  # whole, and a ClientHello
            return None
        pos = 4 + 2 + 32  # handshake header, client_version, random
        pos += 1 + body[pos]  # session_id
        pos += 2 + int.from_bytes(body[pos : pos + 2], "big")  # cipher_suites
        pos += 1 + body[pos]  # compression_methods
        end = pos + 2 + int.from_bytes(body[pos : pos + 2], "big")
        pos += 2
        while pos + 4 <= end:
            kind, size = (
                int.from_bytes(body[pos : pos + 2], "big"),
                int.from_bytes(body[pos + 2 : pos + 4], "big"),
            )
            pos += 4
            if kind == 0:  # server_name: list length, name_type (0 = host_name), length, name
                length = int.from_bytes(body[pos + 3 : pos + 5], "big")
                return body[pos + 5 : pos + 5 + length].decode("ascii") or None
            pos += size
    except (IndexError, UnicodeDecodeError):
        return None
    return None


def peek_client_hello(conn: socket.socket) -> bytes:
    """The first TLS record on `conn`, left unread for the handshake (what has arrived by the timeout)."""
    deadline = time.monotonic() + HANDSHAKE_TIMEOUT
    data = b""
    while time.monotonic() < deadline:
        data = conn.recv(16 * 1024 + 5, socket.MSG_PEEK)
        if not data or (len(data) >= 5 and len(data) >= 5 + int.from_bytes(data[3:5], "big")):
            break
        time.sleep(0.01)  # part of the record is here: MSG_PEEK would return it again at once
    return data


# --- the server


@dataclass(frozen=True)
class _Listener:
    simulated: str  # the local address the selection sees
    port: int  # the binding port


class TlsFront:
    """Listens for every binding port of the state; `start()`, `stop()`, `endpoint()`, `sync()`."""

    def __init__(self, state: StateFile, port_base: int | None = None) -> None:
        self.state = state
        self.key_dir = key_dir_for(state.path)
        self.port_base = port_base or 0
        self._sockets: dict[tuple[str, int], socket.socket] = {}
        self._listeners: dict[int, _Listener] = {}  # fileno -> what it stands for
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # stop() writes here so the accept loop wakes at once rather than at its next poll.
        self._wake, self._waker = socket.socketpair()
        self._wake.setblocking(False)
        self._selector.register(self._wake, selectors.EVENT_READ)
        self._thread: threading.Thread | None = None
        self._contexts: dict[tuple[str, bool], ssl.SSLContext] = {}
        self._published = False
        self.handshakes = 0

    # -- listeners

    @staticmethod
    def _wanted(state: State) -> set[tuple[str, int, str]]:
        """(loopback host, binding port, simulated local address) for every endpoint of the state."""
        wanted: set[tuple[str, int, str]] = set()
        for entry in state["bindings"]:
            kind, value = binding_key(entry)
            key = normalized_key(kind, value)
            port = int(key) if kind is KeyKind.CCS else _host_port(key)[1]
            wanted.add((V4_LOOPBACK, port, V4_LOOPBACK))
            wanted.add((V6_LOOPBACK, port, V6_LOOPBACK))
            if kind is KeyKind.IPPORT:
                address = ipaddress.ip_address(_host_port(key)[0])
                if not address.is_unspecified:
                    wanted.add((loopback_alias(address), port, str(address)))
        return wanted

    def _listen(self, host: str, port: int, simulated: str, base: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, mapped_port(base, port)))
            sock.listen(64)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def _open(self, wanted: set[tuple[str, int, str]], base: int) -> list[str]:
        """Opens the missing listeners; returns what could not be opened."""
        failed = []
        for host, port, simulated in sorted(wanted):
            if (host, port) in self._sockets:
                continue
            try:
                sock = self._listen(host, port, simulated, base)
            except OSError as error:
                if host == V6_LOOPBACK and error.errno in (97, 99):  # no IPv6 on this machine
                    continue
                failed.append(f"{host}:{mapped_port(base, port)} for port {port}: {error.strerror}")
                continue
            self._sockets[(host, port)] = sock
            self._listeners[sock.fileno()] = _Listener(simulated, port)
            self._selector.register(sock, selectors.EVENT_READ)
        return failed

    def _close_all(self) -> None:
        for sock in self._sockets.values():
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            sock.close()
        self._sockets.clear()
        self._listeners.clear()

    def _choose_base(self, wanted: set[tuple[str, int, str]]) -> int:
        rng = random.SystemRandom()
        for _ in range(64):
            base = rng.randrange(PORT_SPAN)
            if not self._open(wanted, base):
                return base
            self._close_all()
        raise LabStateError(f"{self.state.path}: no free loopback ports for the TLS front; set tls.port_base")

    # -- life cycle

    def start(self) -> TlsFront:
        state = self.state.read()
        wanted = self._wanted(state)
        configured = int(state.get("tls", {}).get("port_base", 0))
        if self.port_base or configured:
            self.port_base = self.port_base or configured
            failed = self._open(wanted, self.port_base)
            if failed:
                self._close_all()
                raise LabStateError(f"{self.state.path}: TLS front cannot listen on {failed[0]}")
        else:
            self.port_base = self._choose_base(wanted)
        self._publish()
        self.sync(state)
        self._thread = threading.Thread(target=self._run, name="sslbind-lab-tls", daemon=True)
        self._thread.start()
        return self

    def _publish(self) -> None:
        target = sidecar_path(self.state.path)
        fd, tmp = tempfile.mkstemp(prefix=target.name + ".", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"port_base": self.port_base, "pid": os.getpid()}, out)
        os.replace(tmp, target)
        self._published = True

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._waker.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            self._close_all()
        self._selector.close()
        self._wake.close()
        self._waker.close()
        if self._published:
            with contextlib.suppress(OSError, ValueError):
                target = sidecar_path(self.state.path)
                if json.loads(target.read_text(encoding="utf-8")).get("pid") == os.getpid():
                    target.unlink()

    def __enter__(self) -> TlsFront:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def endpoint(self, address: str, port: int) -> tuple[str, int]:
        return loopback_alias(parse_address(address)), mapped_port(self.port_base, port)

    def sync(self, state: State | None = None) -> None:
        """Opens listeners for new binding ports and pins new stale_tls faults, now."""
        if state is None or any(f.get("stale_tls") and "pinned" not in f for f in state["faults"]):
            with self.state.transaction() as current:
                pin_stale_faults(current)
                state = current
        with self._lock:
            for failure in self._open(self._wanted(state), self.port_base):
                log.warning("TLS front: cannot listen on %s", failure)

    def _run(self) -> None:
        next_sync = time.monotonic() + POLL
        while not self._stop.is_set():
            with self._lock:
                events = self._selector.select(timeout=POLL)
                ready = [(key.fileobj, self._listeners.get(key.fd)) for key, _ in events]
            for sock, listener in ready:
                if sock is self._wake:
                    break
                assert isinstance(sock, socket.socket)
                with contextlib.suppress(BlockingIOError, InterruptedError, OSError):
                    conn, _ = sock.accept()
                    if listener is not None:
                        threading.Thread(
                            target=self._handshake,
                            args=(conn, listener),
                            name="sslbind-lab-tls-conn",
                            daemon=True,
                        ).start()
            if time.monotonic() >= next_sync:
                next_sync = time.monotonic() + POLL
                try:
                    self.sync(self.state.read())
                except (OSError, LabStateError) as error:  # a state being rewritten by hand
                    log.debug("TLS front: state not readable: %s", error)

    # -- one connection

    def _context(self, selection: Selection, client_cert: bool) -> ssl.SSLContext:
        thumbprint = str(selection.thumbprint)
        cache_key = (thumbprint, client_cert)
        context = self._contexts.get(cache_key)
        if context is None:
            assert selection.certificate is not None
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            with tempfile.NamedTemporaryFile("w", suffix=".pem") as chain:
                chain.write(str(selection.certificate["pem"]))
                chain.flush()
                context.load_cert_chain(chain.name, key_path(self.key_dir, thumbprint))
            if client_cert:  # clientcertnegotiation=enable: ask for a client certificate, optional
                context.verify_mode = ssl.CERT_OPTIONAL
                ca = lab_ca_path(self.state.path)
                if ca.exists():
                    context.load_verify_locations(ca)
            self._contexts[cache_key] = context
        return context

    def _on_sni(self, sslobj: Any, server_name: str | None, listener: _Listener) -> int | None:
        try:
            state = self.state.read()
            selection = select_certificate(state, listener.simulated, listener.port, server_name)
            if selection is None:
                log.info(
                    "TLS front: no binding for %s:%s (SNI %s)", listener.simulated, listener.port, server_name
                )
                return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
            selection = apply_stale(state, selection)
            problem = unservable(selection, self.key_dir)
            if problem is not None:
                log.info("TLS front: %s selected, not served: %s", selection.name, problem)
                return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
            bindings: list[dict[str, Any]] = state["bindings"]
            entry = next((b for b in bindings if _key_of(b) == (selection.kind, selection.key)), {})
            client_cert = str(entry.get("clientcertnegotiation", "")).lower() == "enable"
            sslobj.context = self._context(selection, client_cert)
        except Exception:  # a callback must not raise: the handshake just fails
            log.warning("TLS front: selection failed", exc_info=True)
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        return None

    def _asks_client_certificate(self, listener: _Listener, server_name: str | None) -> bool:
        """Does the binding this ClientHello will select negotiate a client certificate?"""
        state = self.state.read()
        selection = select_certificate(state, listener.simulated, listener.port, server_name)
        if selection is None:
            return False
        bindings: list[dict[str, Any]] = state["bindings"]
        entry = next((b for b in bindings if _key_of(b) == (selection.kind, selection.key)), {})
        return str(entry.get("clientcertnegotiation", "")).lower() == "enable"

    def _hang(self, listener: _Listener, server_name: str | None) -> None:
        """Waits out a `{"on": "tls", "hang": S}` fault for the binding this ClientHello selects."""
        with self.state.transaction() as state:
            selection = select_certificate(state, listener.simulated, listener.port, server_name)
            seconds = 0.0 if selection is None else take_tls_hang(state, selection)
        if seconds > 0:
            log.info(
                "TLS front: %s:%s waits %s s before its handshake", listener.simulated, listener.port, seconds
            )
            time.sleep(seconds)

    def _handshake(self, conn: socket.socket, listener: _Listener) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.sni_callback = lambda obj, name, _ctx: self._on_sni(obj, name, listener)
        conn.setblocking(True)
        conn.settimeout(HANDSHAKE_TIMEOUT)
        try:
            # OpenSSL keeps the verify mode of the context a connection starts with (switching the
            # context in the SNI callback changes the certificate only), so whether to ask for a
            # client certificate is decided from the ClientHello, read ahead without consuming it.
            server_name = client_hello_sni(peek_client_hello(conn))
            self._hang(listener, server_name)
            if self._asks_client_certificate(listener, server_name):
                context.verify_mode = ssl.CERT_OPTIONAL
            with context.wrap_socket(conn, server_side=True) as tls:
                self.handshakes += 1
                tls.settimeout(0.5)  # send close_notify, wait briefly for the client's
                with contextlib.suppress(OSError, ssl.SSLError):
                    tls.unwrap()  # no application data is read or written
        except (OSError, ssl.SSLError) as error:
            log.debug("TLS front: handshake on %s:%s failed: %s", listener.simulated, listener.port, error)
        finally:
            conn.close()
