"""The lab's TLS front: HTTP.sys's certificate selection (a table of cases), real certificates,
real handshakes with Python ssl and SNI against a running front, key_usable, the stale_tls fault,
the port and address maps."""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from generator.lab.front import (
    TlsFront,
    apply_stale,
    client_hello_sni,
    pin_stale_faults,
    select_certificate,
    unservable,
)
from generator.lab.labcerts import issue_certificates, key_dir_for, key_path, lab_ca_path
from generator.lab.sample import sample_state
from generator.lab.state import LabStateError, StateFile, validate
from generator.lab.tlsmap import lab_tls_endpoint, loopback_alias, mapped_port, parse_address, sidecar_path

# --- selection, a table of cases

IP4, IP6, SNI, CCS, SCOPED, W4, W6 = "A" * 40, "B" * 40, "C" * 40, "D" * 40, "E" * 40, "F" * 40, "0" * 40


def _cert(thumbprint: str, subject: str, store: str = "My") -> dict[str, Any]:
    return {"store": store, "thumbprint": thumbprint, "subject": f"CN={subject}"}


def table_state(precedence: list[str] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "bindings": [
            {"ipport": "0.0.0.0:443", "certhash": W4.lower()},
            {"ipport": "10.0.0.5:443", "certhash": IP4},
            {"hostnameport": "api.contoso.com:443", "certhash": SNI, "certstorename": "WebHosting"},
            {"ccs": "443", "appid": "{4dc3e181-e14b-4a21-b022-59fc669b0914}"},
            {"scopedccs": "scoped.contoso.com:443", "appid": "{4dc3e181-e14b-4a21-b022-59fc669b0914}"},
            {"ipport": "[::]:443", "certhash": W6},
            {"ipport": "[2001:db8::5]:443", "certhash": IP6},
        ],
        "certificates": [
            _cert(W4, "www.contoso.com"),
            _cert(IP4, "ip.contoso.com"),
            _cert(SNI, "api.contoso.com", "WebHosting"),
            _cert(CCS, "shop.contoso.com", "CentralCertStore"),
            _cert(SCOPED, "scoped.contoso.com", "CentralCertStore"),
            _cert(W6, "v6.contoso.com"),
            _cert(IP6, "ip6.contoso.com"),
        ],
    }
    if precedence is not None:
        state["tls"] = {"precedence": precedence}
    return validate(state, "table")


DEFAULT = None
JEXUS = ["sni", "ip", "wildcard_ip"]  # "SNI mappings first, then IP"
TOKENTIMER = ["ip", "wildcard_ip", "sni"]  # "a non-SNI binding on the same port always takes precedence"

CASES = [
    # (local address, port, SNI, precedence, binding selected, thumbprint served)
    ("10.0.0.5", 443, "api.contoso.com", DEFAULT, "ipport=10.0.0.5:443", IP4),  # specific IP shadows SNI
    ("127.0.0.1", 443, "api.contoso.com", DEFAULT, "hostnameport=api.contoso.com:443", SNI),  # SNI > wildcard
    ("127.0.0.1", 443, "API.Contoso.COM.", DEFAULT, "hostnameport=api.contoso.com:443", SNI),  # case-blind
    ("127.0.0.1", 443, None, DEFAULT, "ipport=0.0.0.0:443", W4),  # no SNI: the wildcard
    ("127.0.0.1", 443, "shop.contoso.com", DEFAULT, "ccs=443", CCS),  # CCS by SNI name
    ("127.0.0.1", 443, "nobody.contoso.com", DEFAULT, "ccs=443", None),  # CCS has no file for it
    ("127.0.0.1", 443, "scoped.contoso.com", DEFAULT, "scopedccs=scoped.contoso.com:443", SCOPED),
    ("10.0.0.6", 443, None, DEFAULT, "ipport=0.0.0.0:443", W4),  # another IPv4 address: wildcard
    ("::1", 443, None, DEFAULT, "ipport=[::]:443", W6),  # IPv6 wildcard only for IPv6
    ("2001:db8::5", 443, "api.contoso.com", DEFAULT, "ipport=[2001:db8::5]:443", IP6),
    ("::ffff:10.0.0.5", 443, None, DEFAULT, "ipport=10.0.0.5:443", IP4),  # v4-mapped is IPv4
    ("127.0.0.1", 8443, "api.contoso.com", DEFAULT, None, None),  # nothing on that port
    ("10.0.0.5", 443, "api.contoso.com", JEXUS, "hostnameport=api.contoso.com:443", SNI),
    ("10.0.0.5", 443, None, JEXUS, "ipport=10.0.0.5:443", IP4),
    ("127.0.0.1", 443, "api.contoso.com", TOKENTIMER, "ipport=0.0.0.0:443", W4),
    ("127.0.0.1", 443, "shop.contoso.com", ["ip", "sni", "wildcard_ip"], "ipport=0.0.0.0:443", W4),
    ("127.0.0.1", 443, "api.contoso.com", ["ip"], None, None),  # a step left out is never tried
]


@pytest.mark.parametrize(("local", "port", "sni", "order", "binding", "thumbprint"), CASES)
def test_selection_follows_the_precedence(
    local: str,
    port: int,
    sni: str | None,
    order: list[str] | None,
    binding: str | None,
    thumbprint: str | None,
) -> None:
    selection = select_certificate(table_state(order), local, port, sni)
    assert (selection.name if selection else None) == binding
    assert (selection.thumbprint if selection else None) == thumbprint


def test_ipv6_wildcard_does_not_answer_ipv4_and_the_ipv4_one_not_ipv6() -> None:
    state = table_state()
    state["bindings"] = [{"ipport": "[::]:443", "certhash": W6}]
    assert select_certificate(state, "127.0.0.1", 443, None) is None
    state["bindings"] = [{"ipport": "0.0.0.0:443", "certhash": W4}]
    assert select_certificate(state, "::1", 443, None) is None


def test_a_certhash_not_in_the_binding_store_is_selected_but_not_served(tmp_path: Path) -> None:
    state = table_state()
    state["bindings"][2]["certstorename"] = "My"  # SNI's certificate is in WebHosting only
    selection = select_certificate(state, "127.0.0.1", 443, "api.contoso.com")
    assert selection is not None and selection.certificate is None
    assert unservable(selection, tmp_path) == f"certificate {SNI} is not in the store"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"key_usable": False}, "private key not usable"),
        ({"has_private_key": False}, "private key not usable"),
        ({}, "no key material"),  # a record without pem: made-up states keep working, but not for TLS
    ],
)
def test_unusable_keys_are_not_served(tmp_path: Path, change: dict[str, Any], reason: str) -> None:
    state = table_state()
    state["certificates"][2].update(change)
    selection = select_certificate(state, "127.0.0.1", 443, "api.contoso.com")
    assert selection is not None
    assert reason in str(unservable(selection, tmp_path))


def test_precedence_and_port_base_are_validated() -> None:
    for tls in ({"precedence": ["ip", "ip"]}, {"precedence": ["dns"]}, {"port_base": -1}, {"other": 1}):
        with pytest.raises(LabStateError, match="tls"):
            validate({"tls": tls}, "s.json")
    with pytest.raises(LabStateError, match="stale_tls"):
        validate({"faults": [{"on": "add", "stale_tls": True}]}, "s.json")


# --- the stale_tls fault


def test_stale_tls_pins_each_binding_and_keeps_serving_the_pinned_certificate() -> None:
    state = table_state()
    state["faults"] = [{"on": "tls", "stale_tls": True, "target": "hostnameport=api.contoso.com:443"}]
    assert pin_stale_faults(state)
    assert state["faults"][0]["pinned"] == {"hostnameport=api.contoso.com:443": SNI}
    assert not pin_stale_faults(state)  # pinned once: later changes do not move the pin
    state["bindings"][2]["certhash"] = IP4
    state["certificates"].append(_cert(IP4, "api.contoso.com", "WebHosting"))
    changed = select_certificate(state, "127.0.0.1", 443, "api.contoso.com")
    assert changed is not None and changed.thumbprint == IP4
    assert apply_stale(state, changed).thumbprint == SNI
    untargeted = select_certificate(state, "127.0.0.1", 443, None)  # the wildcard is not targeted
    assert untargeted is not None and apply_stale(state, untargeted) == untargeted
    state["faults"] = []  # removed: the change shows
    assert apply_stale(state, changed).thumbprint == IP4


# --- reading the SNI ahead (for the client-certificate request)


def client_hello(server_name: str | None) -> bytes:
    """The ClientHello Python's ssl sends (memory BIOs: nothing on the network)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    context = ssl.create_default_context()
    context.check_hostname = server_name is not None
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_the_sni_is_read_from_a_real_client_hello() -> None:
    assert client_hello_sni(client_hello("api.contoso.com")) == "api.contoso.com"
    assert client_hello_sni(client_hello(None)) is None
    hello = client_hello("api.contoso.com")
    for cut in (40, len(hello) - 1):  # cut short: unreadable, never a wrong name
        assert client_hello_sni(hello[:cut]) is None
    assert client_hello_sni(b"GET / HTTP/1.1\r\n") is None


# --- maps


def test_port_map_stays_in_unprivileged_ports_and_addresses_map_to_loopback() -> None:
    assert mapped_port(20000, 443) == 20443
    assert mapped_port(64000, 8443) == 1024 + (64000 + 8443 - 1024) % 64512
    assert all(
        1024 <= mapped_port(base, port) <= 65535 for base in (0, 40000, 64511) for port in (1, 443, 65535)
    )
    assert loopback_alias(parse_address("0.0.0.0")) == "127.0.0.1"
    assert loopback_alias(parse_address("*")) == "127.0.0.1"
    assert loopback_alias(parse_address("[::]")) == "::1"
    assert loopback_alias(parse_address("127.0.0.9")) == "127.0.0.9"
    alias = loopback_alias(parse_address("10.0.0.5"))
    assert alias.startswith("127.") and alias not in ("127.0.0.1", loopback_alias(parse_address("10.0.0.6")))
    assert loopback_alias(parse_address("2001:db8::5")).startswith("127.")


def test_endpoint_needs_a_front_or_a_fixed_base(tmp_path: Path) -> None:
    store = StateFile(tmp_path / "s.json")
    store.create(sample_state())
    with pytest.raises(LabStateError, match="no TLS front"):
        lab_tls_endpoint(store, "0.0.0.0", 443)
    with store.transaction() as state:
        state["tls"] = {"port_base": 30000}
    assert lab_tls_endpoint(store.path, "0.0.0.0", 443) == ("127.0.0.1", 30443)
    assert lab_tls_endpoint(store, "[::]", 8443) == ("::1", 38443)


# --- real certificates


def test_init_certificates_are_real_and_their_thumbprints_are_the_states(tmp_path: Path) -> None:
    keys = tmp_path / "s.json.keys"
    state = issue_certificates(sample_state(), keys)
    for record in state["certificates"]:
        cert = x509.load_pem_x509_certificate(record["pem"].encode("ascii"))
        assert hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest().upper() == (record["thumbprint"])
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        cn = record["subject"].removeprefix("CN=")
        assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        ) == [cn]
        assert (ExtendedKeyUsageOID.SERVER_AUTH in eku) == record["server_auth"]
        assert key_path(keys, record["thumbprint"]).exists() == record["has_private_key"]
    thumbprints = {c["thumbprint"].lower() for c in state["certificates"]}
    assert all(b["certhash"] in thumbprints for b in state["bindings"])
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in keys.glob("*.key"))
    validate(state, "s.json")


# --- a running front, real handshakes


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[StateFile, TlsFront]]:
    store = StateFile(tmp_path / "lab.json")
    store.create(issue_certificates(sample_state(), key_dir_for(store.path)))
    with TlsFront(store) as front:
        yield store, front


def handshake(store: StateFile, address: str, port: int, sni: str | None) -> tuple[str, str]:
    """(thumbprint, TLS version) of what the front serves for the binding address:port."""
    context = ssl.create_default_context(cafile=str(lab_ca_path(store.path)))
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the expired 8443 certificate is served as it is
    host, mapped = lab_tls_endpoint(store, address, port)
    raw = socket.create_connection((host, mapped), timeout=5)
    with context.wrap_socket(raw, server_hostname=sni) as tls:
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return hashlib.sha1(der).hexdigest().upper(), str(tls.version())


def certhash(store: StateFile, key: str) -> str:
    binding = next(b for b in store.read()["bindings"] if key in b.values())
    return str(binding["certhash"]).upper()


def renewal(store: StateFile, old: str) -> str:
    """The sample's renewal: the other certificate in WebHosting (also in My)."""
    records = store.read()["certificates"]
    return str(
        next(c["thumbprint"] for c in records if c["store"] == "WebHosting" and c["thumbprint"] != old)
    )


def test_handshake_serves_the_states_certificate_by_sni(lab: tuple[StateFile, TlsFront]) -> None:
    store, front = lab
    thumbprint, version = handshake(store, "0.0.0.0", 443, "api.contoso.com")
    assert thumbprint == certhash(store, "api.contoso.com:443")
    assert version in ("TLSv1.2", "TLSv1.3")
    assert handshake(store, "0.0.0.0", 8443, None)[0] == certhash(store, "0.0.0.0:8443")
    assert handshake(store, "[::]", 443, "api.contoso.com")[0] == certhash(store, "api.contoso.com:443")
    published = json.loads(sidecar_path(store.path).read_text())
    assert published["port_base"] == front.port_base


def test_handshake_reads_the_current_state_and_follows_the_precedence(
    lab: tuple[StateFile, TlsFront],
) -> None:
    store, front = lab
    new = renewal(store, certhash(store, "api.contoso.com:443"))
    expired = certhash(store, "0.0.0.0:8443")
    with store.transaction() as state:
        state["bindings"][1]["certhash"] = new.lower()  # the SNI binding rotated
        state["bindings"].append({"ipport": "10.0.0.5:443", "certhash": expired})
        state["bindings"].append({"ipport": "0.0.0.0:9443", "certhash": new})  # a port added while running
    front.sync()
    assert handshake(store, "0.0.0.0", 443, "api.contoso.com")[0] == new
    # The specific address shadows the SNI binding for a client that reaches the host on it.
    assert handshake(store, "10.0.0.5", 443, "api.contoso.com")[0] == expired
    assert handshake(store, "0.0.0.0", 9443, None)[0] == new
    with store.transaction() as state:
        state["tls"] = {"precedence": ["sni", "ip", "wildcard_ip"]}
    assert handshake(store, "10.0.0.5", 443, "api.contoso.com")[0] == new


def test_an_unusable_key_fails_the_handshake(lab: tuple[StateFile, TlsFront]) -> None:
    store, _ = lab
    old = certhash(store, "api.contoso.com:443")
    with store.transaction() as state:
        for record in state["certificates"]:
            if record["thumbprint"] == old and record["store"] == "WebHosting":
                record["key_usable"] = False
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(store, "0.0.0.0", 443, "api.contoso.com")
    assert handshake(store, "0.0.0.0", 443, None)[0] == old  # the same certificate in My still serves


def test_stale_tls_keeps_serving_the_previous_certificate(lab: tuple[StateFile, TlsFront]) -> None:
    store, front = lab
    old = certhash(store, "api.contoso.com:443")
    new = renewal(store, old)
    with store.transaction() as state:
        state["faults"].append({"on": "tls", "stale_tls": True})
    front.sync()
    with store.transaction() as state:
        state["bindings"][1]["certhash"] = new
    assert handshake(store, "0.0.0.0", 443, "api.contoso.com")[0] == old
    with store.transaction() as state:
        state["faults"] = []
    assert handshake(store, "0.0.0.0", 443, "api.contoso.com")[0] == new


def test_two_fronts_run_side_by_side_and_leave_no_sidecar(tmp_path: Path) -> None:
    stores = []
    for name in ("a", "b"):
        store = StateFile(tmp_path / f"{name}.json")
        store.create(issue_certificates(sample_state(), key_dir_for(store.path)))
        stores.append(store)
    with TlsFront(stores[0]) as first, TlsFront(stores[1]) as second:
        assert first.port_base != second.port_base
        for store in stores:
            assert handshake(store, "0.0.0.0", 443, None)[0] == certhash(store, "0.0.0.0:443")
    assert not any(sidecar_path(s.path).exists() for s in stores)


def test_a_tls_hang_delays_the_next_handshake_of_its_binding_once(lab: tuple[StateFile, TlsFront]) -> None:
    store, _ = lab
    with store.transaction() as state:
        state["faults"].append({"on": "tls", "stale_tls": True, "target": "0.0.0.0:8443"})
        state["faults"].append({"on": "tls", "hang": 1.5, "target": "api.contoso.com:443"})
    started = time.monotonic()
    handshake(store, "0.0.0.0", 8443, None)  # another binding: not delayed
    assert time.monotonic() - started < 1.2
    started = time.monotonic()
    assert handshake(store, "0.0.0.0", 443, "api.contoso.com")[0] == certhash(store, "api.contoso.com:443")
    assert time.monotonic() - started >= 1.4  # waited, then answered
    started = time.monotonic()
    handshake(store, "0.0.0.0", 443, "api.contoso.com")
    assert time.monotonic() - started < 1.2  # fired once
    (left,) = store.read()["faults"]  # the stale_tls fault stays (it is never taken)
    assert left["stale_tls"] is True and left["target"] == "0.0.0.0:8443"


def test_a_tls_hang_with_a_certhash_waits_for_that_certificate(lab: tuple[StateFile, TlsFront]) -> None:
    store, _ = lab
    old = certhash(store, "api.contoso.com:443")
    new = renewal(store, old)
    with store.transaction() as state:
        state["faults"].append({"on": "tls", "hang": 1.5, "certhash": new.lower()})
    started = time.monotonic()
    handshake(store, "0.0.0.0", 443, "api.contoso.com")  # still the old certificate: no wait
    assert time.monotonic() - started < 1.2
    with store.transaction() as state:
        state["bindings"][1]["certhash"] = new
    started = time.monotonic()
    assert handshake(store, "0.0.0.0", 443, "api.contoso.com")[0] == new
    assert time.monotonic() - started >= 1.4
    assert store.read()["faults"] == []
    with pytest.raises(LabStateError, match="certhash"):
        validate({"faults": [{"on": "add", "certhash": new}]}, "s.json")
