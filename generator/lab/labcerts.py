"""Real certificates for a lab state: a lab CA and one leaf per certificate record.

The state keeps each certificate's PEM in its record (`"pem"`), so the thumbprint in the state is
the SHA-1 of real DER; private keys live beside the state in `<state>.keys/` (0700 directory,
0600 files) because a state file is copied, printed and diffed freely. See generator/lab/README.md.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from generator.lab.state import State

KEY_DIR_SUFFIX = ".keys"
CA_CERT_NAME, CA_KEY_NAME = "ca.pem", "ca.key"
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH.dotted_string
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string


def key_dir_for(state_path: str | os.PathLike[str]) -> Path:
    path = Path(state_path)
    return path.with_name(path.name + KEY_DIR_SUFFIX)


def lab_ca_path(state_path: str | os.PathLike[str]) -> Path:
    """The lab CA certificate (PEM) that signed every leaf of this state: trust it to verify."""
    return key_dir_for(state_path) / CA_CERT_NAME


def key_path(key_dir: Path, thumbprint: str) -> Path:
    return key_dir / f"{thumbprint.upper()}.key"


def thumbprint_of(cert: x509.Certificate) -> str:
    """What HTTP.sys, netsh and Cert: call the thumbprint: SHA-1 of the DER, upper-case hex."""
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    path.chmod(0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _time(text: str | None, default: datetime.datetime) -> datetime.datetime:
    if not text:
        return default
    value = datetime.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _common_name(subject: str) -> str:
    """The CN of a subject like "CN=api.contoso.com, O=Contoso" (the whole text when there is none)."""
    for part in subject.split(","):
        name, sep, value = part.strip().partition("=")
        if sep and name.strip().upper() == "CN":
            return value.strip()
    return subject.strip() or "sslbind lab"


class LabCA:
    """The CA of one lab state; created once, then loaded from the key directory."""

    def __init__(self, key_dir: Path) -> None:
        key_dir.mkdir(parents=True, exist_ok=True)
        key_dir.chmod(0o700)
        self.key_dir = key_dir
        cert_path, key_file = key_dir / CA_CERT_NAME, key_dir / CA_KEY_NAME
        if cert_path.exists() and key_file.exists():
            self.cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            loaded = serialization.load_pem_private_key(key_file.read_bytes(), None)
            assert isinstance(loaded, ec.EllipticCurvePrivateKey)
            self.key = loaded
            return
        self.key = ec.generate_private_key(ec.SECP256R1())
        # A random part in the name: two labs' CAs never look alike to a client's trust store.
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sslbind lab CA {os.urandom(4).hex()}")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=800))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(self.key, hashes.SHA256())
        )
        cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        _write_private(key_file, _key_pem(self.key))

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()

    def issue(self, record: dict[str, Any]) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A leaf with the record's subject CN (also as SAN), dates and usage."""
        now = datetime.datetime.now(datetime.UTC)
        common = _common_name(str(record.get("subject", "")))
        key = ec.generate_private_key(ec.SECP256R1())
        if record.get("eku") is not None:
            usages = [x509.ObjectIdentifier(oid) for oid in record["eku"]]
        elif record.get("server_auth", True):
            usages = [ExtendedKeyUsageOID.SERVER_AUTH]
        else:
            usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_time(record.get("not_before"), now - datetime.timedelta(days=1)))
            .not_valid_after(_time(record.get("not_after"), now + datetime.timedelta(days=365)))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common)]), critical=False)
        )
        if usages:  # `"eku": []` is a certificate without the extension (every usage)
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key


def issue_certificates(state: State, key_dir: Path) -> State:
    """Replaces every made-up certificate of `state` by a real one, in place, and returns it.

    Records that share a thumbprint (one certificate in two stores) share the new certificate;
    bindings' `certhash` follow the rename. Keys go to `key_dir` except for records with
    `has_private_key: false`. Records that already have a `pem` are kept.
    """
    ca = LabCA(key_dir)
    renamed: dict[str, str] = {}
    issued: dict[str, str] = {}  # new thumbprint -> pem
    for record in state["certificates"]:
        if "pem" in record:
            continue
        old = str(record["thumbprint"]).upper()
        if old not in renamed:
            cert, key = ca.issue(record)
            new = thumbprint_of(cert)
            renamed[old] = new
            issued[new] = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
            if record.get("has_private_key", True):
                _write_private(key_path(key_dir, new), _key_pem(key))
        record["thumbprint"] = renamed[old]
        record["pem"] = issued[renamed[old]]
        record["issuer"] = ca.subject
    for binding in state["bindings"]:
        hash_value = binding.get("certhash")
        if isinstance(hash_value, str) and hash_value.upper() in renamed:
            # netsh prints hashes in lower case; keep whichever case the binding was written in.
            new = renamed[hash_value.upper()]
            binding["certhash"] = new.lower() if hash_value == hash_value.lower() else new
    return state
