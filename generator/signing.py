"""Authenticode signatures for a change record: check the signer, sign with osslsigncode, verify.

Signing is done by `osslsigncode` (2.8+ signs PowerShell .ps1/.psm1/.psd1 with the standard
`# SIG # Begin signature block`), never by hand-written PKCS#7. The PFX is opened here first with
`cryptography` so that every refusal (no osslsigncode, unreadable PFX, wrong password, no
code-signing EKU, expired) happens before anything is written.

How the key reaches osslsigncode: the PFX bytes that were checked are copied into a private
temporary folder (0700, the file 0600, removed in `finally`), so osslsigncode reads exactly what was
checked, and its password is written to osslsigncode's standard input (`-readpass -`). The password
is never in an argument (visible to every user in /proc/PID/cmdline), an environment variable of
a child, a file, a log, an error message or the record. The key stays encrypted on disk.

Verification (`verify_record`) needs nothing but the record: the manifest's `signature` section
holds the signer's certificate(s); each PowerShell file must carry exactly one signature that is
valid over its current bytes and whose leaf certificate is that signer (osslsigncode
`-require-leaf-hash`). The stored certificates are the only trust anchors, so a self-signed
certificate verifies; whether Windows trusts the signer is Windows' business (Trusted Publishers).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import Collection, Generator, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from generator import __version__
from generator.errors import UserError, read_input, shown_path

SIGNED_SUFFIXES = (".ps1", ".psm1", ".psd1")
PASSWORD_ENV = "SSLBIND_SIGN_PASSWORD"
# The signer's certificate in the record, for an administrator to trust (Import-Certificate reads
# a Base64 .cer); covered by the manifest like every rendered file.
SIGNER_FILE = "signer.cer"
TOOL = "osslsigncode"
PFX_MAX_BYTES = 1024 * 1024  # a PFX is a few kB; a larger file is the wrong file
SIGN_BACKLOG = 64  # files waiting for a signer thread (memory stays flat for large fleets)
_TIMEOUT = 120  # seconds for one osslsigncode run (a timestamp server can be slow)
_URL = re.compile(r"https?://[^\s\"'<>]+", re.ASCII)
SIGNATURE_BEGIN = "# SIG # Begin signature block"
SIGNATURE_END = "# SIG # End signature block"
REQUIRE_SIGNER_ENV = "SSLBIND_REQUIRE_SIGNER"
_THUMBPRINT = re.compile(r"[0-9A-F]{40}|[0-9A-F]{64}")


class SigningError(UserError):
    """Signing cannot go ahead as asked; nothing was written (exit 2)."""


def is_signed_path(name: str) -> bool:
    """Whether a record file is PowerShell that Windows checks against the execution policy."""
    return PurePosixPath(name).suffix.lower() in SIGNED_SUFFIXES


def find_tool() -> str:
    tool = shutil.which(TOOL)
    if tool is None:
        raise SigningError(
            f"{TOOL} is not installed, and --sign needs it: install it "
            f"(Debian/Ubuntu: apt-get install {TOOL}) or render without --sign"
        )
    return tool


def thumbprint(cert: x509.Certificate) -> str:
    """The SHA-1 thumbprint as Windows shows it (certmgr, Get-AuthenticodeSignature)."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # an identifier, not a security hash


def subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


# --- the signer: checked before anything is written ----------------------------------------------


@dataclass(frozen=True)
class SignerCertificate:
    """The signer's certificate and the chain its PFX carries, checked for code signing."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @property
    def pems(self) -> list[str]:
        return [c.public_bytes(Encoding.PEM).decode("ascii") for c in (self.certificate, *self.chain)]


def open_pfx(pfx: Path, password: str, now: datetime | None = None) -> tuple[bytes, SignerCertificate]:
    """The PFX's bytes and its checked certificate; a SigningError (exit 2) names what is wrong."""
    data = read_input(pfx, PFX_MAX_BYTES, "a PFX")
    where = shown_path(pfx)
    try:
        loaded = pkcs12.load_pkcs12(data, password.encode("utf-8"))
    except ValueError:  # cryptography says the same for both; never echo the password
        raise SigningError(
            f"{where}: cannot open the PFX: wrong password, or not a PKCS#12 (.pfx/.p12) file; "
            f"check {PASSWORD_ENV} or the path"
        ) from None
    if loaded.key is None or loaded.cert is None:
        raise SigningError(
            f"{where}: the PFX holds no private key with its certificate; export it with the key"
        )
    cert = loaded.cert.certificate
    _check_code_signing(where, cert)
    _check_validity(where, cert, now or datetime.now(UTC))
    chain = tuple(c.certificate for c in loaded.additional_certs)
    return data, SignerCertificate(cert, chain)


def _check_code_signing(where: str, cert: x509.Certificate) -> None:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = x509.ExtendedKeyUsage([])
    if ExtendedKeyUsageOID.CODE_SIGNING not in usages:
        raise SigningError(
            f"{where}: certificate {subject(cert)} is not for code signing (no extended key usage "
            "1.3.6.1.5.5.7.3.3); use a code-signing certificate"
        )
    try:
        key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not key_usage.digital_signature:
        raise SigningError(
            f"{where}: certificate {subject(cert)} does not allow digital signatures (key usage); "
            "use a code-signing certificate"
        )


def _check_validity(where: str, cert: x509.Certificate, now: datetime) -> None:
    if now > cert.not_valid_after_utc:
        raise SigningError(
            f"{where}: certificate {subject(cert)} expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
            "renew it (a record signed now would not run under AllSigned)"
        )
    if now < cert.not_valid_before_utc:
        raise SigningError(
            f"{where}: certificate {subject(cert)} is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M}Z; wait or use another certificate"
        )


def check_timestamp_url(url: str | None) -> None:
    if url is not None and not _URL.fullmatch(url):
        raise SigningError(f"--timestamp-url {url!r}: not an http:// or https:// URL of an RFC 3161 server")


def signing_time() -> int:
    """The signing time written into each signature: SOURCE_DATE_EPOCH when set (signing is then
    byte-for-byte repeatable without a timestamp server: RSA PKCS#1 v1.5 is deterministic), else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return int(epoch) if epoch else int(datetime.now(UTC).timestamp())


@dataclass
class Signer:
    """Signs record files with osslsigncode; use as a context manager (it owns a private folder)."""

    pfx: Path
    password: str = field(repr=False)
    timestamp_url: str | None = None
    tool: str = ""
    cert: SignerCertificate | None = None
    signed_at: int = 0
    _dir: Path | None = field(default=None, repr=False)
    _pfx_copy: Path | None = field(default=None, repr=False)

    def __enter__(self) -> Signer:
        self.tool = find_tool()
        check_timestamp_url(self.timestamp_url)
        data, self.cert = open_pfx(self.pfx, self.password)
        self.signed_at = signing_time()
        self._dir = Path(tempfile.mkdtemp(prefix="sslbind-sign-"))  # 0700
        self._pfx_copy = self._dir / "signer.pfx"
        fd = os.open(self._pfx_copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    @property
    def certificate(self) -> SignerCertificate:
        assert self.cert is not None, "use Signer as a context manager"
        return self.cert

    def manifest_section(self) -> dict[str, object]:
        """What `verify_record` needs, stored in the manifest: the record verifies on its own."""
        cert = self.certificate.certificate
        return {
            "format": "authenticode",
            "signer_subject": subject(cert),
            "signer_sha1": thumbprint(cert),
            "signer_sha256": cert.fingerprint(hashes.SHA256()).hex().upper(),
            "signing_time": datetime.fromtimestamp(self.signed_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timestamp_url": self.timestamp_url,
            "signed_files": list(SIGNED_SUFFIXES),
            "certificates": self.certificate.pems,
        }

    def certificate_file(self) -> bytes:
        """`signer.cer`: the signer's certificate, Base64 (PEM) with CRLF line endings."""
        pem = self.certificate.certificate.public_bytes(Encoding.PEM)
        return pem.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

    def sign(self, name: str, data: bytes) -> bytes:
        """`data` (the record file `name`) with an Authenticode signature block appended."""
        assert self._dir is not None and self._pfx_copy is not None, "use Signer as a context manager"
        suffix = PurePosixPath(name).suffix.lower()  # osslsigncode picks the format by extension
        fd, unsigned_name = tempfile.mkstemp(suffix=suffix, dir=self._dir)
        unsigned = Path(unsigned_name)
        signed = unsigned.with_name(unsigned.stem + ".signed" + suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            command = [self.tool, "sign", "-pkcs12", str(self._pfx_copy), "-readpass", "-", "-h", "sha256"]
            command += ["-time", str(self.signed_at)]
            if self.timestamp_url:
                command += ["-ts", self.timestamp_url]
            command += ["-in", str(unsigned), "-out", str(signed)]
            done = _run(command, self.password + "\n")
            if done.returncode != 0 or not signed.is_file():
                raise SigningError(f"{name}: {TOOL} could not sign it: {_last_line(done)}")
            return signed.read_bytes()
        finally:
            unsigned.unlink(missing_ok=True)
            signed.unlink(missing_ok=True)

    def self_check(self, name: str, data: bytes) -> None:
        """Verify one freshly signed file the way `record check` will, so a PFX whose chain cannot
        be verified from what the manifest stores is refused before the record is written."""
        assert self._dir is not None
        problem = verify_bytes(name, data, self.manifest_section(), self._dir)
        if problem is not None:
            raise SigningError(
                f"{shown_path(self.pfx)}: its signature cannot be verified from the certificates the PFX "
                f"holds ({problem}); export the PFX with every certificate of its chain up to the root"
            )


def sign_library(signer: Signer, library: Mapping[str, bytes]) -> dict[str, bytes]:
    """The record's library, signed first: host scripts pin the hashes of these signed bytes.

    The first signature is verified at once (`Signer.self_check`), before any host is rendered.
    """
    signed = {name: signer.sign(name, data) for name, data in sorted(library.items())}
    for name, data in signed.items():
        signer.self_check(name, data)
        break
    return signed


def sign_files(
    signer: Signer, files: Iterable[tuple[str, bytes]], passed: Collection[str] = ()
) -> Generator[tuple[str, bytes]]:
    """`files` with every PowerShell file signed, in order; one osslsigncode per core at a time.

    Files named in `passed` (the library, signed already) go through unchanged. Unless something
    was passed, the first file signed here is verified at once (`Signer.self_check`), before
    anything else is signed. At most SIGN_BACKLOG files wait, so memory stays flat for any fleet.
    """
    pending: deque[tuple[str, Future[bytes]]] = deque()
    checked = bool(passed)
    pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1))
    try:
        for name, data in files:
            if name in passed or not is_signed_path(name):
                pending.append((name, _done(data)))
            elif not checked:
                signed = signer.sign(name, data)
                signer.self_check(name, signed)
                checked = True
                pending.append((name, _done(signed)))
            else:
                pending.append((name, pool.submit(signer.sign, name, data)))
            while len(pending) > SIGN_BACKLOG:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:  # closed early (a failed write): queued files are not signed for nothing
        pool.shutdown(wait=True, cancel_futures=True)


def _done(data: bytes) -> Future[bytes]:
    future: Future[bytes] = Future()
    future.set_result(data)
    return future


_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN", re.IGNORECASE)


def _child_environment() -> dict[str, str]:
    """This environment (proxies for a timestamp server, SYSTEMROOT on Windows) without anything
    secret-looking (SSLBIND_SIGN_PASSWORD above all), and English messages (LC_ALL=C) to parse."""
    env = {name: value for name, value in os.environ.items() if not _SECRET_NAME.search(name)}
    env["LC_ALL"] = "C"
    return env


def _run(command: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = _child_environment()
    try:
        return subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=_TIMEOUT, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise SigningError(
            f"{TOOL} did not finish within {_TIMEOUT} s (a timestamp server not answering?)"
        ) from None
    except OSError as error:
        raise SigningError(f"{TOOL} could not be started: {error.strerror or error}") from None


_OPENSSL_STACK = re.compile(r"^[0-9A-F]{8,}:error:")


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    """osslsigncode's own reason: its first stderr line that is not OpenSSL's error stack, else its
    last stdout line (stdout only narrates: "Connecting to ...", "Failed")."""
    errors = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    reasons = [line for line in errors if not _OPENSSL_STACK.match(line)]
    if "timestamping failed" in done.stderr and reasons:
        return f"the timestamp server did not answer ({reasons[0]}); check --timestamp-url"[:300]
    said = [
        line.strip() for line in done.stdout.splitlines() if line.strip() not in ("", "Failed", "Succeeded")
    ]
    return (reasons or errors or said or [f"exit code {done.returncode}"])[0][:300]


# --- verification: self-contained, from the manifest's signature section -----------------------


@dataclass
class SignatureReport:
    """What `record check` prints about signatures."""

    signed: bool
    subject: str = ""
    thumbprint: str = ""
    sha256: str = ""
    files: int = 0
    problems: list[str] = field(default_factory=list)
    expired_on: str | None = None  # the signer's certificate has expired since (note, not a problem)
    library: str | None = None  # the signed library's code is this release's, signature aside


def verify_record(record: Path, manifest: Mapping[str, object]) -> SignatureReport:
    """Verify every PowerShell file a signed record lists; an unsigned record reports `signed=False`
    without needing osslsigncode."""
    section = manifest.get("signature")
    if section is None:
        return SignatureReport(signed=False)
    try:
        certs = _section_certificates(section)
    except ValueError as error:
        return SignatureReport(
            signed=True, problems=[f"manifest.json: signature section unreadable: {error}"]
        )
    assert isinstance(section, Mapping)
    files = manifest.get("files")
    names = sorted(n for n in files if is_signed_path(n)) if isinstance(files, Mapping) else []
    sha256 = certs[0].fingerprint(hashes.SHA256()).hex().upper()
    report = SignatureReport(True, subject(certs[0]), thumbprint(certs[0]), sha256, len(names))
    report.problems += _check_signer_file(record, certs[0], files)
    library_problems, report.library = _check_library(record, manifest)
    report.problems += library_problems
    if datetime.now(UTC) > certs[0].not_valid_after_utc:
        report.expired_on = f"{certs[0].not_valid_after_utc:%Y-%m-%d}"
    find_tool_for_check()
    with tempfile.TemporaryDirectory(prefix="sslbind-verify-") as private:
        anchors = _write_anchors(Path(private), certs)
        with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
            futures = [
                (name, pool.submit(_verify_file, record / name, section, certs[0], anchors))
                for name in names
                if (record / name).is_file()  # a missing file is the hash check's problem
            ]
            report.problems += [f"signature: {name}: {p}" for name, f in futures if (p := f.result())]
    return report


def required_signers(values: Iterable[str]) -> tuple[str, ...]:
    """`--require-signer` values as upper-case thumbprints (SHA-1, as Windows shows them, or
    SHA-256); spaces and colons are ignored. A value that is neither is bad input (exit 2)."""
    found = []
    for value in values:
        thumb = re.sub(r"[\s:]", "", value).upper()
        if not _THUMBPRINT.fullmatch(thumb):
            raise UserError(
                f"--require-signer {value[:80]!r}: not a certificate thumbprint (40 hex digits, SHA-1 as "
                f"Windows shows it, or 64 for SHA-256); also read from {REQUIRE_SIGNER_ENV}"
            )
        found.append(thumb)
    return tuple(found)


def signature_problems(
    record: Path, manifest: Mapping[str, object], required: Collection[str] = ()
) -> tuple[SignatureReport, list[str]]:
    """The record's signature report and every signature problem, `required` signers included
    (`required_signers` thumbprints): a record signed by none of them, or unsigned, is refused."""
    report = verify_record(record, manifest)
    problems = list(report.problems)
    if required and not report.signed:
        problems.append(
            f"signature: the record is unsigned, and a signer is required ({', '.join(sorted(required))})"
        )
    elif required and report.subject and not {report.thumbprint, report.sha256} & set(required):
        problems.append(
            f"signature: signed by {report.subject} (thumbprint {report.thumbprint}), not by a required "
            f"signer ({', '.join(sorted(required))})"
        )
    return report, problems


def block_problem(data: bytes) -> str | None:
    """The signature block's own layout: exactly one, and nothing after it. osslsigncode ignores
    both a second block and text after the first, which PowerShell would then refuse or run."""
    count = data.count(SIGNATURE_BEGIN.encode())
    if count > 1:
        return f"carries {count} signature blocks; a record's files carry exactly one"
    end = data.rfind(SIGNATURE_END.encode())
    if count == 1 and (end < 0 or data[end + len(SIGNATURE_END) :].strip(b"\r\n")):
        return f"holds text after {SIGNATURE_END!r}, which no signature covers"
    return None


def unsigned_bytes(data: bytes) -> bytes:
    """`data` without the signature block osslsigncode appended (it adds CRLF, then the block)."""
    at = data.rfind(b"\r\n" + SIGNATURE_BEGIN.encode())
    return data[:at] if at >= 0 else data


def _check_library(record: Path, manifest: Mapping[str, object]) -> tuple[list[str], str | None]:
    """A signed library's hashes differ per render (signing time, signer), so reviewers approve its
    code instead: everything before the signature block must be this release's library byte for
    byte. Only checked for a record of this sslbind version (another release has other code)."""
    from generator.render import library_files  # the renderer, only for signed records of this version

    section = manifest.get("library")
    if not isinstance(section, Mapping) or section.get("version") != __version__:
        return [], None
    problems = []
    for name, code in sorted(library_files().items()):
        path = record / name
        if path.is_file() and unsigned_bytes(path.read_bytes()) != code:
            problems.append(
                f"signature: {name}: its code is not the SslBind {__version__} library's (signature aside)"
            )
    return problems, None if problems else f"SslBind {__version__}, code identical to this release's"


def _check_signer_file(record: Path, leaf: x509.Certificate, files: object) -> list[str]:
    """`signer.cer` must be the manifest's signer: an administrator trusts what it holds."""
    path = record / SIGNER_FILE
    if not isinstance(files, Mapping) or SIGNER_FILE not in files or not path.is_file():
        return []  # not listed: the hash check reports a missing or unexpected file
    try:
        found = x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError:
        return [f"signature: {SIGNER_FILE}: not a certificate"]
    if found != leaf:
        return [f"signature: {SIGNER_FILE}: holds {subject(found)}, not the record's signer"]
    return []


def find_tool_for_check() -> str:
    tool = shutil.which(TOOL)
    if tool is None:
        raise UserError(
            f"this record is signed and verifying its signatures needs {TOOL}: install it "
            f"(Debian/Ubuntu: apt-get install {TOOL}); the hash check above ran without it"
        )
    return tool


def verify_bytes(name: str, data: bytes, section: Mapping[str, object], private: Path) -> str | None:
    """Verify signed `data` as the file `name` against a manifest `section`; the problem or None."""
    certs = _section_certificates(section)
    anchors = _write_anchors(private, certs, "check")
    fd, path_name = tempfile.mkstemp(suffix=PurePosixPath(name).suffix.lower(), dir=private)
    path = Path(path_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return _verify_file(path, section, certs[0], anchors)
    finally:
        path.unlink(missing_ok=True)
        anchors.unlink(missing_ok=True)


def _section_certificates(section: object) -> list[x509.Certificate]:
    if not isinstance(section, Mapping):
        raise ValueError("not a table")
    pems = section.get("certificates")
    if not isinstance(pems, list) or not pems or not all(isinstance(p, str) for p in pems):
        raise ValueError("no signer certificate")
    return [x509.load_pem_x509_certificate(p.encode("ascii")) for p in pems]


def _write_anchors(private: Path, certs: list[x509.Certificate], stem: str = "anchors") -> Path:
    path = private / f"{stem}.pem"
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
    return path


def _verify_time(section: Mapping[str, object], leaf: x509.Certificate) -> int:
    """Verify as of the signing time, kept inside the certificate's validity: the check is about
    integrity and signer, so a record stays verifiable after its certificate expires."""
    moment = leaf.not_valid_before_utc
    stamp = section.get("signing_time")
    if isinstance(stamp, str):
        with contextlib.suppress(ValueError):  # a hand-edited time: verify at the certificate's start
            moment = max(moment, datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC))
    return int(min(moment, leaf.not_valid_after_utc).timestamp())


def _verify_file(
    path: Path, section: Mapping[str, object], leaf: x509.Certificate, anchors: Path
) -> str | None:
    with contextlib.suppress(OSError):  # unreadable: osslsigncode says so below
        problem = block_problem(path.read_bytes())
        if problem is not None:
            return problem
    leaf_hash = leaf.fingerprint(hashes.SHA256()).hex()
    command = [TOOL, "verify", "-CAfile", str(anchors), "-TSA-CAfile", str(anchors)]
    command += ["-ignore-cdp", "-ignore-timestamp", "-time", str(_verify_time(section, leaf))]
    command += ["-require-leaf-hash", f"sha256:{leaf_hash}", "-in", str(path)]
    done = _run(command)
    return verdict(done.returncode, done.stdout + "\n" + done.stderr)


_SIGNER_SUBJECT = re.compile(r"Signer #0:\s*\n\s*Subject:\s*(.+)")


def verdict(returncode: int, output: str) -> str | None:
    """osslsigncode verify's output as one problem, or None when it is exactly one valid signature
    by the expected leaf. Its exit code alone is not enough: a nested second signature that fails
    still exits 0 when the primary one verifies."""
    if "No signature found" in output or "Unable to extract existing signature" in output:
        return f"not signed (every PowerShell file of a signed record carries {SIGNATURE_BEGIN!r})"
    if "MISMATCH" in output:
        return "the signature does not match the file's bytes: it was changed after signing"
    count = output.count("Signature Index:")
    if count > 1:
        return f"carries {count} signatures; a record's files carry exactly one, by the record's signer"
    if "Leaf hash match: failed" in output:
        found = _SIGNER_SUBJECT.search(output)
        who = found.group(1).strip() if found else "another certificate"
        return f"signed by {who}, not by the record's signer"
    if returncode != 0 or "Signature verification: ok" not in output or "Leaf hash match: ok" not in output:
        errors = [line.strip() for line in output.splitlines() if line.strip().startswith("Error:")]
        return "the signature does not verify" + (f": {errors[0][6:].strip()}" if errors else "")
    return None
