"""`render --sign` and `record check` on signed records, with real osslsigncode and PFX files made here.

Every signature is made and verified by the real signer; only the certificates are test-made
(self-signed, by `cryptography`).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from generator import signing
from generator.cli import cli
from generator.record import sha256_hex
from generator.render import LIBRARY_MANIFEST, LIBRARY_MODULE, pinned_library
from generator.signing import PASSWORD_ENV, SIGNATURE_BEGIN, SIGNER_FILE, verdict

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "renew-api.yaml"
PASSWORD = "S3cret-pfx-pw!"  # must never appear in argv, output or the record
APPLY = "hosts/web01.contoso.local/apply.ps1"


@pytest.fixture(scope="session")
def osslsigncode() -> str:
    """osslsigncode's path; CI (SSLBIND_REQUIRE_PWSH=1, set by scripts/test.sh) must have it."""
    path = shutil.which("osslsigncode")
    if path is None:
        if os.environ.get("SSLBIND_REQUIRE_PWSH") == "1":
            pytest.fail("osslsigncode is required but missing; run scripts/setup.sh")
        pytest.skip("osslsigncode not installed (apt-get install osslsigncode)")
    return path


@dataclass(frozen=True)
class Pfx:
    path: Path
    password: str
    cert: x509.Certificate

    @property
    def thumbprint(self) -> str:
        return self.cert.fingerprint(hashes.SHA1()).hex().upper()


def make_pfx(
    folder: Path,
    name: str,
    usage: x509.ObjectIdentifier | None = ExtendedKeyUsageOID.CODE_SIGNING,
    password: str = PASSWORD,
    valid_from: timedelta = timedelta(days=-1),
    valid_for: timedelta = timedelta(days=30),
) -> Pfx:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime.now(UTC) + valid_from
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + valid_for)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    path = folder / f"{name.replace(' ', '-')}.pfx"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            name.encode(), key, cert, None, serialization.BestAvailableEncryption(password.encode())
        )
    )
    return Pfx(path, password, cert)


@pytest.fixture(scope="session")
def pfxs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pfx]:
    folder = tmp_path_factory.mktemp("pfx")
    return {
        "signer": make_pfx(folder, "sslbind test signer"),
        "other": make_pfx(folder, "another signer", password="other-pw"),
        "server": make_pfx(folder, "web server", usage=ExtendedKeyUsageOID.SERVER_AUTH),
        "no-eku": make_pfx(folder, "no usage", usage=None),
        "expired": make_pfx(folder, "expired signer", valid_from=timedelta(days=-60)),
    }


def render(
    out: Path, pfx: Path | None, password: str | None = PASSWORD, *extra: str, input: str | None = None
) -> Result:
    args = ["render", str(SPEC), "-o", str(out), *extra]
    if pfx is not None:
        args += ["--sign", str(pfx)]
    env = {PASSWORD_ENV: password}  # None unsets it
    return CliRunner().invoke(cli, args, env=env, input=input)


def check(record: Path) -> Result:
    return CliRunner().invoke(cli, ["record", "check", str(record)])


@pytest.fixture
def signed(tmp_path: Path, pfxs: dict[str, Pfx], osslsigncode: str) -> Path:
    result = render(tmp_path / "out", pfxs["signer"].path)
    assert result.exit_code == 0, result.output
    return tmp_path / "out" / "CHG0012345"


def set_manifest_hash(record: Path, name: str) -> None:
    """What someone who edits a script and its manifest entry does: only the signature can tell."""
    path = record / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"][name] = sha256_hex((record / name).read_bytes())
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def powershell_files(record: Path) -> list[Path]:
    return sorted(p for p in record.rglob("*") if p.suffix in (".ps1", ".psm1", ".psd1"))


# --- a fresh signed record ------------------------------------------------------------------


def test_fresh_signed_record_verifies_and_names_the_signer(signed: Path, pfxs: dict[str, Pfx]) -> None:
    manifest = json.loads((signed / "manifest.json").read_text())
    scripts = powershell_files(signed)
    assert len(scripts) >= 6
    for script in scripts:
        data = script.read_bytes()
        assert SIGNATURE_BEGIN.encode() in data, script
        assert data.endswith(b"# SIG # End signature block\r\n"), script
        # the manifest hashes the signed bytes
        assert manifest["files"][script.relative_to(signed).as_posix()] == sha256_hex(data)
    section = manifest["signature"]
    assert section["signer_sha1"] == pfxs["signer"].thumbprint
    assert section["signer_subject"] == "CN=sslbind test signer"

    result = check(signed)
    assert result.exit_code == 0, result.output
    assert f"signed by CN=sslbind test signer, thumbprint {pfxs['signer'].thumbprint}" in result.stdout
    assert f"{len(scripts)} file(s)" in result.stdout
    assert "intact" in result.stdout


def test_the_record_holds_the_signer_certificate_to_trust(signed: Path, pfxs: dict[str, Pfx]) -> None:
    data = (signed / SIGNER_FILE).read_bytes()
    assert x509.load_pem_x509_certificate(data) == pfxs["signer"].cert
    assert b"PRIVATE" not in data and data.count(b"\r\n") == data.count(b"\n")  # CRLF, no key


def test_a_swapped_signer_certificate_file_fails(signed: Path, pfxs: dict[str, Pfx]) -> None:
    other = pfxs["other"].cert.public_bytes(serialization.Encoding.PEM)
    (signed / SIGNER_FILE).write_bytes(other)
    set_manifest_hash(signed, SIGNER_FILE)
    result = check(signed)
    assert result.exit_code == 1
    assert f"signature: {SIGNER_FILE}: holds CN=another signer, not the record's signer" in result.stdout


def test_the_password_is_nowhere_in_the_record_or_output(signed: Path) -> None:
    for path in signed.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_the_password_is_never_on_a_command_line(
    tmp_path: Path, pfxs: dict[str, Pfx], osslsigncode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[list[str], str]] = []
    environments: list[dict[str, str]] = []
    real = signing._run

    def spy(command: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
        seen.append((command, stdin))
        environments.append(signing._child_environment())  # what osslsigncode gets, at the time
        return real(command, stdin)

    monkeypatch.setattr(signing, "_run", spy)
    result = render(tmp_path / "out", pfxs["signer"].path)
    assert result.exit_code == 0, result.output
    signs = [(c, s) for c, s in seen if c[1] == "sign"]
    assert signs, "osslsigncode sign never ran"
    for command, _ in seen:
        assert not any(PASSWORD in word for word in command), command
        assert "-pass" not in command
    assert all(stdin == PASSWORD + "\n" for _, stdin in signs)  # given on stdin only
    assert all(PASSWORD not in env.values() for env in environments)  # nor in its environment
    assert os.environ.get(PASSWORD_ENV) is None  # CliRunner's env is gone again
    assert all(c[c.index("-readpass") + 1] == "-" for c, _ in signs)
    # the PFX osslsigncode reads is a private copy, removed afterwards
    copies = {Path(c[c.index("-pkcs12") + 1]) for c, _ in signs}
    assert len(copies) == 1 and not next(iter(copies)).exists()


def test_password_from_a_hidden_prompt(tmp_path: Path, pfxs: dict[str, Pfx], osslsigncode: str) -> None:
    result = render(tmp_path / "out", pfxs["signer"].path, None, input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hide_input: not echoed
    assert check(tmp_path / "out" / "CHG0012345").exit_code == 0


def test_signed_renders_repeat_byte_for_byte_with_source_date_epoch(
    tmp_path: Path, pfxs: dict[str, Pfx], osslsigncode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(datetime.now(UTC).timestamp())))
    first, second = tmp_path / "a", tmp_path / "b"
    assert render(first, pfxs["signer"].path).exit_code == 0
    assert render(second, pfxs["signer"].path).exit_code == 0
    one, two = first / "CHG0012345", second / "CHG0012345"
    assert (one / "manifest.json").read_bytes() == (two / "manifest.json").read_bytes()
    assert [p.read_bytes() for p in powershell_files(one)] == [p.read_bytes() for p in powershell_files(two)]


# --- broken, foreign and missing signatures: exit 1 ---------------------------------------------


def test_one_changed_byte_breaks_the_signature(signed: Path) -> None:
    script = signed / APPLY
    data = script.read_bytes()
    at = data.index(b"param(")
    script.write_bytes(data[:at] + b"Param(" + data[at + 6 :])  # one byte, same meaning to PowerShell
    set_manifest_hash(signed, APPLY)  # the hash check alone would no longer see it
    result = check(signed)
    assert result.exit_code == 1, result.output
    assert f"signature: {APPLY}: the signature does not match the file's bytes" in result.stdout
    assert "changed:" not in result.stdout  # it was the signature that caught it
    assert "do not apply" in result.stderr


def test_one_changed_byte_is_caught_twice_without_the_manifest_edit(signed: Path) -> None:
    script = signed / APPLY
    data = bytearray(script.read_bytes())
    data[10] ^= 0x01
    script.write_bytes(bytes(data))
    result = check(signed)
    assert result.exit_code == 1
    assert f"changed: {APPLY}" in result.stdout
    assert f"signature: {APPLY}: the signature does not match" in result.stdout


def resign(path: Path, pfx: Pfx, *extra: str) -> None:
    out = path.with_name("resigned" + path.suffix)
    done = subprocess.run(
        [
            "osslsigncode",
            "sign",
            *extra,
            "-pkcs12",
            str(pfx.path),
            "-readpass",
            "-",
            "-h",
            "sha256",
            "-in",
            str(path),
            "-out",
            str(out),
        ],
        input=pfx.password + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out.replace(path)


def strip_signature(data: bytes) -> bytes:
    at = data.index(b"\r\n" + SIGNATURE_BEGIN.encode())
    return data[:at]


def test_a_script_resigned_with_another_certificate_fails(signed: Path, pfxs: dict[str, Pfx]) -> None:
    script = signed / APPLY
    script.write_bytes(strip_signature(script.read_bytes()))
    resign(script, pfxs["other"])
    set_manifest_hash(signed, APPLY)
    result = check(signed)
    assert result.exit_code == 1, result.output
    assert f"signature: {APPLY}: signed by /CN=another signer, not by the record's signer" in result.stdout


def test_a_second_signer_nested_in_a_script_fails(signed: Path, pfxs: dict[str, Pfx]) -> None:
    resign(signed / APPLY, pfxs["other"], "-nest")  # the record's signature stays, valid
    set_manifest_hash(signed, APPLY)
    result = check(signed)
    assert result.exit_code == 1, result.output
    assert f"signature: {APPLY}: carries 2 signatures" in result.stdout


def test_an_unsigned_script_in_a_signed_record_fails(signed: Path) -> None:
    script = signed / APPLY
    script.write_bytes(strip_signature(script.read_bytes()))
    set_manifest_hash(signed, APPLY)
    result = check(signed)
    assert result.exit_code == 1, result.output
    assert f"signature: {APPLY}: not signed" in result.stdout


def test_a_garbled_signer_section_fails(signed: Path) -> None:
    path = signed / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["signature"]["certificates"] = ["not a certificate"]
    path.write_text(json.dumps(manifest))
    result = check(signed)
    assert result.exit_code == 1
    assert "signature section unreadable" in result.stdout


def test_the_stored_signer_swapped_for_another_fails(signed: Path, pfxs: dict[str, Pfx]) -> None:
    path = signed / "manifest.json"
    manifest = json.loads(path.read_text())
    other = pfxs["other"].cert.public_bytes(serialization.Encoding.PEM).decode()
    manifest["signature"]["certificates"] = [other]
    path.write_text(json.dumps(manifest))
    result = check(signed)
    assert result.exit_code == 1
    assert (
        f"signature: {APPLY}: signed by /CN=sslbind test signer, not by the record's signer" in result.stdout
    )


# --- unsigned records -----------------------------------------------------------------------


def test_an_unsigned_record_says_so_and_needs_no_osslsigncode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert render(tmp_path / "out", None).exit_code == 0
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = check(tmp_path / "out" / "CHG0012345")
    assert result.exit_code == 0, result.output
    assert "signatures: unsigned" in result.stdout
    assert SIGNATURE_BEGIN.encode() not in (tmp_path / "out" / "CHG0012345" / APPLY).read_bytes()


def test_a_signed_record_without_osslsigncode_is_one_line(
    signed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = check(signed)
    assert result.exit_code == 2
    assert "needs osslsigncode" in result.stderr and "Traceback" not in result.output


# --- refusals before anything is written: exit 2 ----------------------------------------------


def snapshot(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) if folder.exists() else []


def assert_refused(tmp_path: Path, result: Result, words: str) -> None:
    assert result.exit_code == 2, result.output
    assert words in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output and PASSWORD not in result.output
    assert snapshot(tmp_path / "out") == ["keep.txt"]  # nothing written, not even a staging folder


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("x")
    return folder


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("server", "is not for code signing (no extended key usage 1.3.6.1.5.5.7.3.3)"),
        ("no-eku", "is not for code signing"),
        ("expired", "expired on"),
    ],
)
def test_a_certificate_that_cannot_sign_code_is_refused(
    tmp_path: Path, out: Path, pfxs: dict[str, Pfx], osslsigncode: str, name: str, words: str
) -> None:
    assert_refused(tmp_path, render(out, pfxs[name].path), words)


def test_a_wrong_password_is_refused(
    tmp_path: Path, out: Path, pfxs: dict[str, Pfx], osslsigncode: str
) -> None:
    assert_refused(tmp_path, render(out, pfxs["signer"].path, "wrong"), "wrong password")


def test_a_file_that_is_no_pfx_is_refused(tmp_path: Path, out: Path, osslsigncode: str) -> None:
    bad = tmp_path / "bad.pfx"
    bad.write_bytes(base64.b64encode(os.urandom(300)))
    assert_refused(tmp_path, render(out, bad), "not a PKCS#12")


def test_a_missing_pfx_is_refused(tmp_path: Path, out: Path, osslsigncode: str) -> None:
    assert_refused(tmp_path, render(out, tmp_path / "nowhere.pfx"), "nowhere.pfx: cannot be read")


def test_missing_osslsigncode_is_refused(
    tmp_path: Path, out: Path, pfxs: dict[str, Pfx], monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert_refused(tmp_path, render(out, pfxs["signer"].path), "osslsigncode is not installed")


def test_no_password_and_no_terminal_is_refused(
    tmp_path: Path, out: Path, pfxs: dict[str, Pfx], osslsigncode: str
) -> None:
    result = render(out, pfxs["signer"].path, None, input="")
    assert result.exit_code == 2, result.output
    # the prompt was shown (on stderr), then one error line
    assert result.stderr.strip().splitlines()[-1] == (
        f"sslbind: no PFX password: set {PASSWORD_ENV} or run in a terminal"
    )
    assert snapshot(out) == ["keep.txt"]


def test_a_bad_timestamp_url_is_refused(
    tmp_path: Path, out: Path, pfxs: dict[str, Pfx], osslsigncode: str
) -> None:
    result = render(out, pfxs["signer"].path, PASSWORD, "--timestamp-url", "ftp://tsa")
    assert_refused(tmp_path, result, "not an http:// or https:// URL")


def test_a_timestamp_server_that_does_not_answer_is_refused(
    tmp_path: Path, out: Path, pfxs: dict[str, Pfx], osslsigncode: str
) -> None:
    result = render(out, pfxs["signer"].path, PASSWORD, "--timestamp-url", "http://127.0.0.1:9/")
    assert_refused(tmp_path, result, "the timestamp server did not answer")


def make_tsa(folder: Path) -> tuple[Path, Path]:
    """A throwaway time-stamping certificate and key for osslsigncode's built-in TSA."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test tsa")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem, key_pem = folder / "tsa.pem", folder / "tsa.key"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return pem, key_pem


def test_a_timestamped_signature_by_the_signer_verifies(
    signed: Path, pfxs: dict[str, Pfx], tmp_path: Path
) -> None:
    script = signed / APPLY
    script.write_bytes(strip_signature(script.read_bytes()))
    tsa, tsa_key = make_tsa(tmp_path)
    resign(script, pfxs["signer"], "-TSA-certs", str(tsa), "-TSA-key", str(tsa_key))
    assert b"# SIG # Begin signature block" in script.read_bytes()
    set_manifest_hash(signed, APPLY)
    result = check(signed)
    assert result.exit_code == 0, result.output


def test_timestamp_url_without_sign_is_refused(tmp_path: Path, out: Path) -> None:
    assert_refused(tmp_path, render(out, None, PASSWORD, "--timestamp-url", "http://tsa"), "needs --sign")


def test_a_signer_failing_midway_leaves_no_record(
    tmp_path: Path, out: Path, pfxs: dict[str, Pfx], osslsigncode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = signing._run
    calls: list[int] = []

    def failing_third(command: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
        if command[1] == "sign":
            calls.append(1)
            if len(calls) == 3:  # a real failure of the tool: an input file it cannot read
                command = [*command[:-3], "/nonexistent.ps1", *command[-2:]]
        return real(command, stdin)

    monkeypatch.setattr(signing, "_run", failing_third)
    result = render(out, pfxs["signer"].path)
    assert result.exit_code == 2, result.output
    assert "osslsigncode could not sign it" in result.stderr
    assert snapshot(out) == ["keep.txt"]


# --- the signature block PowerShell reads -------------------------------------------------------


BLOCK = re.compile(
    rb"\r\n# SIG # Begin signature block\r\n(?:# [A-Za-z0-9+/=]{1,64}\r\n)+# SIG # End signature block\r\n\Z"
)


def test_the_block_has_powershells_layout(signed: Path) -> None:
    for script in powershell_files(signed):
        data = script.read_bytes()
        found = BLOCK.search(data)
        assert found, script
        der = base64.b64decode(b"".join(line[2:] for line in found.group(0).split(b"\r\n")[2:-2]))
        certs = pkcs12_free_certs(der)
        assert any(c.subject.rfc4514_string() == "CN=sslbind test signer" for c in certs)


def pkcs12_free_certs(der: bytes) -> list[x509.Certificate]:
    from cryptography.hazmat.primitives.serialization import pkcs7

    return pkcs7.load_der_pkcs7_certificates(der)


PARSE = r"""
param([string]$Path)
$failed = @()
foreach ($file in Get-ChildItem -Path $Path -Recurse -Include *.ps1,*.psm1,*.psd1) {
    $tokens = $null; $errors = $null
    $null = [System.Management.Automation.Language.Parser]::ParseFile(
        $file.FullName, [ref]$tokens, [ref]$errors)
    $comments = @($tokens | Where-Object { $_.Kind -eq 'Comment' } | ForEach-Object { $_.Text })
    if ($errors.Count -gt 0) { $failed += "$($file.Name): $($errors[0].Message)" }
    elseif ($comments -notcontains '# SIG # Begin signature block') { $failed += "$($file.Name): no block" }
    elseif ($comments[-1] -ne '# SIG # End signature block') { $failed += "$($file.Name): block not last" }
}
if ($failed) { $failed -join "; " } else { "ok" }
"""


@pytest.mark.pwsh
def test_signed_files_parse_with_the_block_as_trailing_comments(
    pwsh: str, signed: Path, tmp_path: Path
) -> None:
    helper = tmp_path / "parse.ps1"
    helper.write_text(PARSE)
    done = subprocess.run(
        [pwsh, "-NoProfile", "-NonInteractive", "-File", str(helper), "-Path", str(signed)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout.strip() == "ok", done.stdout + done.stderr


# --- the library is signed first; host scripts pin its signed bytes -------------------------------


def test_host_scripts_pin_the_signed_library(signed: Path) -> None:
    manifest = json.loads((signed / "manifest.json").read_text())
    psm1 = signed / LIBRARY_MODULE
    assert SIGNATURE_BEGIN.encode() in psm1.read_bytes()
    assert SIGNATURE_BEGIN.encode() in (signed / LIBRARY_MANIFEST).read_bytes()
    for script in sorted((signed / "hosts").rglob("*.ps1")):
        text = script.read_bytes().decode("ascii")
        assert pinned_library(text) == sha256_hex(psm1.read_bytes()) == manifest["files"][LIBRARY_MODULE]
    assert manifest["library"]["files"][LIBRARY_MODULE] == manifest["files"][LIBRARY_MODULE]
    assert manifest["library"]["files"][LIBRARY_MANIFEST] == manifest["files"][LIBRARY_MANIFEST]


def test_the_signed_library_is_the_releases_code(signed: Path) -> None:
    result = check(signed)
    assert result.exit_code == 0, result.output
    assert "library: SslBind" in result.stdout and "code identical to this release's" in result.stdout


def test_a_changed_library_resigned_by_the_signer_fails(signed: Path, pfxs: dict[str, Pfx]) -> None:
    psm1 = signed / LIBRARY_MODULE
    psm1.write_bytes(strip_signature(psm1.read_bytes()) + b"# one more line\r\n")
    resign(psm1, pfxs["signer"])  # a valid signature by the record's own signer
    set_manifest_hash(signed, LIBRARY_MODULE)
    result = check(signed)
    assert result.exit_code == 1, result.output
    assert f"signature: {LIBRARY_MODULE}: its code is not the SslBind" in result.stdout
    assert "code identical" not in result.stdout


# --- the record README ---------------------------------------------------------------------------


def test_the_readme_tells_how_to_trust_the_signer(signed: Path, pfxs: dict[str, Pfx]) -> None:
    readme = (signed / "README.md").read_text()
    assert "## Signatures" in readme and "The scripts are not signed" not in readme
    assert pfxs["signer"].thumbprint in readme and "CN=sslbind test signer" in readme
    assert "TrustedPublisher" in readme and "Get-AuthenticodeSignature" in readme
    assert "not checked against the" in readme  # over PSRP signatures play no part


def test_an_unsigned_readme_has_no_signature_section(tmp_path: Path) -> None:
    assert render(tmp_path / "out", None).exit_code == 0
    readme = (tmp_path / "out" / "CHG0012345" / "README.md").read_text()
    assert "## Signatures" not in readme and "The scripts are not signed" in readme


# --- the verdict on osslsigncode's output ----------------------------------------------------------


def test_verdict_wants_exactly_one_valid_signature_by_the_leaf() -> None:
    ok = "Signature Index: 0  (Primary Signature)\nLeaf hash match: ok\nSignature verification: ok\n"
    assert verdict(0, ok) is None
    assert verdict(1, ok) is not None  # a failing exit code is never ignored
    assert verdict(0, ok.replace("Leaf hash match: ok\n", "")) is not None  # no leaf check, no pass
    assert verdict(0, "Signature verification: ok\n") is not None
