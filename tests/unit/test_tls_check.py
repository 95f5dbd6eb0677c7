"""The client-side handshake (generator/remote/tls_check.py, tls_client.py) and the on-host touchpoint
Invoke-SslTlsHandshake, against a tiny local TLS server that selects its certificate by SNI the way
an SNI binding does (a name it knows gets that name's certificate; no SNI gets the default one)."""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from generator.binding import KeyKind
from generator.cli import cli
from generator.errors import EXIT_MANUAL, EXIT_OK, EXIT_PENDING
from generator.model import Binding, BindingKey, Connection, Target
from generator.pwsh import run_text
from generator.remote import tls_check, tls_client
from generator.remote.fleet import HostOutcome
from generator.render import render_library
from generator.spec_values import Invalid


@dataclass(frozen=True)
class Cert:
    name: str
    der: bytes
    cert_file: Path
    key_file: Path


def make_cert(folder: Path, name: str) -> Cert:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Cert(name, cert.public_bytes(serialization.Encoding.DER), cert_file, key_file)


class SniServer:
    """Loopback TLS listener: SNI `name` -> that certificate, no or unknown SNI -> `default`.
    Completes the handshake, reads nothing, closes; records the SNI each client sent."""

    def __init__(self, default: Cert, by_name: dict[str, Cert], family: int = socket.AF_INET) -> None:
        self.contexts = {name: self._context(c) for name, c in by_name.items()}
        self.default = self._context(default)
        self.default.sni_callback = self._select
        self.names: list[str | None] = []
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @staticmethod
    def _context(cert: Cert) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert.cert_file, cert.key_file)
        return context

    def _select(self, sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
        self.names.append(name)
        if name in self.contexts:
            sock.context = self.contexts[name]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            try:
                with self.default.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()

    def __enter__(self) -> SniServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Cert]:
    folder = tmp_path_factory.mktemp("certs")
    return {name: make_cert(folder, name) for name in ("default.test", "www.contoso.test", "old.test")}


@pytest.fixture
def server(certs: dict[str, Cert]) -> Iterator[SniServer]:
    with SniServer(certs["default.test"], {"www.contoso.test": certs["www.contoso.test"]}) as running:
        yield running


def sha1(cert: Cert) -> str:
    return x509.load_der_x509_certificate(cert.der).fingerprint(hashes.SHA1()).hex()


def binding(kind: KeyKind, key: str, certhash: str | None = None) -> Binding:
    return Binding(BindingKey(kind, key), {"certhash": certhash} if certhash else {})


def check(spec: Target) -> list[dict[str, Any]]:
    return tls_check.check_target(spec, tls_client.expected_hashes(spec, None), tls_address=spec.tls_address)


def target(*bindings: Binding, host: str = "web01.contoso.test", tls_address: str | None = None) -> Target:
    return Target(host, Connection(), bindings, tls_address)


# --- thumbprint, address and SNI per kind -------------------------------------------------------


def test_thumbprint_is_the_sha1_of_the_der_as_netsh_shows_it_lowercased(certs: dict[str, Cert]) -> None:
    cert = certs["www.contoso.test"]
    assert tls_check.thumbprint(cert.der) == sha1(cert)
    assert len(tls_check.thumbprint(cert.der)) == 40


@pytest.mark.parametrize(
    ("kind", "key", "address", "port", "server_name"),
    [
        (KeyKind.IPPORT, "0.0.0.0:443", "web01.contoso.test", 443, None),  # wildcard: the host's address
        (KeyKind.IPPORT, "[::]:8443", "web01.contoso.test", 8443, None),
        (KeyKind.IPPORT, "10.0.0.5:443", "10.0.0.5", 443, None),  # IP-specific: its own address
        (KeyKind.IPPORT, "[fe80::1:2:3]:4443", "fe80::1:2:3", 4443, None),
        (KeyKind.HOSTNAMEPORT, "www.contoso.test:443", "web01.contoso.test", 443, "www.contoso.test"),
        (KeyKind.SCOPEDCCS, "shop.contoso.test:444", "web01.contoso.test", 444, "shop.contoso.test"),
        # a wildcard SNI binding: SNI cannot carry '*', so a name under it is asked for
        (
            KeyKind.HOSTNAMEPORT,
            "*.contoso.test:443",
            "web01.contoso.test",
            443,
            "sslbind-tls-check.contoso.test",
        ),
    ],
)
def test_probe_address_and_sni_per_kind(
    kind: KeyKind, key: str, address: str, port: int, server_name: str | None
) -> None:
    b = binding(kind, key)
    probe = tls_check.probe_for(target(b), b)
    assert probe == tls_check.Probe(f"{kind.value}={key}", address, port, server_name)


def test_a_ccs_binding_names_no_host_so_the_client_does_not_guess_one() -> None:
    b = binding(KeyKind.CCS, "443")
    assert tls_check.probe_for(target(b), b) is None


@pytest.mark.parametrize(
    ("tls_address", "address", "port"),
    [
        ("lb.contoso.test", "lb.contoso.test", 443),
        ("127.0.0.1:50443", "127.0.0.1", 50443),
        ("[::1]:9", "::1", 9),
    ],
)
def test_tls_address_replaces_the_address_and_with_a_port_the_port(
    tls_address: str, address: str, port: int
) -> None:
    b = binding(KeyKind.HOSTNAMEPORT, "www.contoso.test:443")
    probe = tls_check.probe_for(target(b, tls_address=tls_address), b, tls_address)
    assert probe == tls_check.Probe("hostnameport=www.contoso.test:443", address, port, "www.contoso.test")


@pytest.mark.parametrize("bad", ["lb:0", "lb:99999", "lb:x", "[::1", "[::1]x", "a b", "1::2::3"])
def test_a_bad_tls_address_is_refused(bad: str) -> None:
    with pytest.raises(Invalid):
        tls_check.parse_tls_address(bad)


# --- real handshakes ----------------------------------------------------------------------------


def test_sni_selects_the_name_s_certificate_and_no_sni_the_default(
    server: SniServer, certs: dict[str, Cert]
) -> None:
    www = binding(KeyKind.HOSTNAMEPORT, "www.contoso.test:443", sha1(certs["www.contoso.test"]))
    wildcard = binding(KeyKind.IPPORT, "0.0.0.0:443", sha1(certs["default.test"]))
    spec = target(www, wildcard, host="127.0.0.1", tls_address=f"127.0.0.1:{server.port}")
    expected = tls_client.expected_hashes(spec, None)
    entries = tls_check.check_target(spec, expected, tls_address=spec.tls_address, timeout=3)
    assert [e["result"] for e in entries] == ["match", "match"]
    assert entries[0]["thumbprint"] == sha1(certs["www.contoso.test"])
    assert entries[0]["protocol"] in ("TLSv1.2", "TLSv1.3")
    assert entries[1]["thumbprint"] == sha1(certs["default.test"])
    assert server.names == ["www.contoso.test", None]  # the IP binding's probe sends no SNI
    assert tls_check.failures(entries) == []


def test_a_mismatch_and_a_failed_handshake_are_failures(server: SniServer, certs: dict[str, Cert]) -> None:
    www = binding(KeyKind.HOSTNAMEPORT, "www.contoso.test:443", sha1(certs["old.test"]))
    spec = target(www, host="127.0.0.1", tls_address=f"127.0.0.1:{server.port}")
    entries = tls_check.check_target(
        spec, tls_client.expected_hashes(spec, None), tls_address=spec.tls_address
    )
    assert entries[0]["result"] == "mismatch"
    assert entries[0]["detail"] == f"got {sha1(certs['www.contoso.test'])}, not {sha1(certs['old.test'])}"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    nothing = target(www, host="127.0.0.1", tls_address=f"127.0.0.1:{port}")
    entries = tls_check.check_target(nothing, {}, tls_address=nothing.tls_address, timeout=1)
    assert entries[0]["result"] == "failed"
    assert entries[0]["detail"].startswith(f"TLS handshake with 127.0.0.1:{port} failed: ")
    assert tls_check.failures(entries) == [
        f"hostnameport=www.contoso.test:443: client handshake to 127.0.0.1:{port}: "
        f"failed ({entries[0]['detail']})"
    ]


def test_a_handshake_never_waits_longer_than_its_timeout() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts TCP, never answers the ClientHello
    try:
        probe = tls_check.Probe("ipport=0.0.0.0:443", "127.0.0.1", silent.getsockname()[1], None)
        started = datetime.datetime.now()
        seen = tls_check.handshake(probe, timeout=0.5)
        assert (datetime.datetime.now() - started).total_seconds() < 3
        assert not seen.ok and seen.error and "timed out" in seen.error
    finally:
        silent.close()


def test_central_store_kinds_report_what_they_got(server: SniServer, certs: dict[str, Cert]) -> None:
    scoped = binding(KeyKind.SCOPEDCCS, "www.contoso.test:443")
    spec = target(scoped, host="127.0.0.1", tls_address=f"127.0.0.1:{server.port}")
    entries = tls_check.check_target(
        spec, tls_client.expected_hashes(spec, None), tls_address=spec.tls_address
    )
    assert entries[0]["result"] == "seen"
    assert entries[0]["thumbprint"] == sha1(certs["www.contoso.test"])


# --- verdicts: verify drift (3), apply not verified (4) ------------------------------------------


def test_the_expected_hash_is_the_spec_s_else_what_the_host_holds_now() -> None:
    named = binding(KeyKind.IPPORT, "0.0.0.0:443", "AA" * 20)
    kept = binding(KeyKind.HOSTNAMEPORT, "www.contoso.test:443")
    held = {
        "after": [
            {"kind": "hostnameport", "key": "www.contoso.test:443", "settings": {"certhash": "bb" * 20}}
        ]
    }
    assert tls_client.expected_hashes(target(named, kept), held) == {
        "ipport=0.0.0.0:443": "aa" * 20,
        "hostnameport=www.contoso.test:443": "bb" * 20,
    }


def test_verify_turns_compliant_into_drift_when_clients_get_another_certificate(
    server: SniServer, certs: dict[str, Cert]
) -> None:
    www = binding(KeyKind.HOSTNAMEPORT, "www.contoso.test:443", sha1(certs["old.test"]))
    spec = target(www, host="127.0.0.1", tls_address=f"127.0.0.1:{server.port}")
    compliant = HostOutcome("127.0.0.1", "compliant", EXIT_OK, "compliant", {"result": {"after": []}})
    outcome = tls_client.after_verify(spec, compliant)
    assert (outcome.status, outcome.exit_code) == ("drift", EXIT_PENDING)
    assert "client handshake to 127.0.0.1" in outcome.summary and "mismatch" in outcome.summary
    good = target(
        binding(KeyKind.HOSTNAMEPORT, "www.contoso.test:443", sha1(certs["www.contoso.test"])),
        host="127.0.0.1",
        tls_address=f"127.0.0.1:{server.port}",
    )
    outcome = tls_client.after_verify(good, compliant)
    assert (outcome.status, outcome.exit_code) == ("compliant", EXIT_OK)
    assert outcome.details["client_tls"][0]["result"] == "match"


def test_apply_reports_a_host_its_clients_do_not_verify_as_needing_a_person(
    server: SniServer, certs: dict[str, Cert]
) -> None:
    www = binding(KeyKind.HOSTNAMEPORT, "www.contoso.test:443", sha1(certs["old.test"]))
    spec = target(www, host="127.0.0.1", tls_address=f"127.0.0.1:{server.port}")
    applied = HostOutcome("127.0.0.1", "applied", EXIT_OK, "applied", {"result": {"after": []}})
    outcome = tls_client.after_apply(spec, applied)
    assert (outcome.status, outcome.exit_code) == ("manual", EXIT_MANUAL)
    assert outcome.summary.startswith("not verified by its clients: ")
    assert outcome.details["not_verified"] is True
    rolled_back = HostOutcome("127.0.0.1", "rolled-back", 1, "rolled back", {})
    assert tls_client.after_apply(spec, rolled_back) is rolled_back  # nothing to verify from here


# --- the spec field -----------------------------------------------------------------------------


def _spec(tmp_path: Path, tls_address: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "version: 1\nchange: {id: CHG1, title: t}\ntargets:\n  - host: web01\n"
        f"    tls_address: {json.dumps(tls_address)}\n"
        "    bindings:\n      - ipport: 0.0.0.0:443\n        certhash: " + "a" * 40 + "\n        appid: "
        '"{4dc3e181-e14b-4a21-b022-59fc669b0914}"\n'
    )
    return path


def test_spec_takes_tls_address_and_keeps_it_in_the_normalized_spec(tmp_path: Path) -> None:
    from generator.spec import load_spec, normalized_yaml

    change = load_spec(_spec(tmp_path, "lb.contoso.test:8443"))
    assert change.targets[0].tls_address == "lb.contoso.test:8443"
    assert "tls_address: lb.contoso.test:8443" in normalized_yaml(change)


def test_spec_refuses_a_bad_tls_address_naming_line_and_key(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["render", str(_spec(tmp_path, "lb:0")), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.endswith(
        "spec.yaml:5: targets[0].tls_address: 'lb:0': the port must be a number from 1 to 65535\n"
    )


def test_schema_describes_tls_address() -> None:
    from generator.schema import spec_json_schema

    properties = spec_json_schema()["$defs"]["target"]["properties"]
    assert "tls_address" in properties


# --- the on-host touchpoint, for real (.NET TcpClient + SslStream in pwsh) ----------------------


@pytest.mark.pwsh
def test_the_on_host_touchpoint_reads_the_certificate_selected_by_sni(
    pwsh: str, server: SniServer, certs: dict[str, Cert], tmp_path: Path
) -> None:
    library = tmp_path / "lib.ps1"
    library.write_text(render_library(), encoding="ascii")
    # Off Windows the touchpoint asks the lab where its front listens; here: this test's server.
    script = (
        f". '{library}'\n"
        f"function global:SslbindLabTlsEndpoint {{ param($Address, $Port) '127.0.0.1:{server.port}' }}\n"
        "$out = @()\n"
        "$out += , (Invoke-SslTlsHandshake -Address '127.0.0.1' -Port 443 -ServerName 'www.contoso.test' "
        "-TimeoutMs 3000)\n"
        "$out += , (Invoke-SslTlsHandshake -Address '127.0.0.1' -Port 443 -ServerName '' -TimeoutMs 3000)\n"
        "ConvertTo-Json -InputObject $out -Compress\n"
    )
    result = run_text(script, pwsh=pwsh, timeout=120)
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert [s["ok"] for s in seen] == [True, True], result.stdout + result.stderr
    assert seen[0]["thumbprint"] == sha1(certs["www.contoso.test"])
    assert seen[1]["thumbprint"] == sha1(certs["default.test"])
    assert seen[0]["protocol"] in ("Tls12", "Tls13")
    assert seen[0]["client_cert_requested"] is False
    assert [s["listening"] for s in seen] == [True, True]
    assert server.names == ["www.contoso.test", None]
