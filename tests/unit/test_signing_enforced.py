"""Signed means enforced: the commands that run a record's scripts verify its signatures first, as
`record check` does, and `--require-signer` refuses any other signer and an unsigned record.

Real osslsigncode and real signatures (the fixtures of test_signing); no host is needed, because
every refusal must come before a host is contacted: `_Run` (endpoints, passwords, the fleet) fails
the test if it is ever built.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from generator.cli import cli
from generator.remote import operations
from generator.signing import REQUIRE_SIGNER_ENV, SIGNATURE_END, block_problem, required_signers
from tests.unit import test_signing
from tests.unit.test_signing import APPLY, Pfx, check, render, set_manifest_hash, strip_signature

# test_signing's fixtures: a record signed by pfxs["signer"], rendered per test
osslsigncode = test_signing.osslsigncode
pfxs = test_signing.pfxs
signed = test_signing.signed

RECORD_COMMANDS = [
    ["plan"],
    ["verify"],
    ["apply", "--yes"],
    ["rollback", "--yes"],
    ["record", "resolve"],
]


@pytest.fixture
def no_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def contacted(*args: object, **kwargs: object) -> None:
        pytest.fail("a host would have been contacted")

    monkeypatch.setattr(operations._Run, "__init__", contacted)


def run(args: list[str], record: Path, *extra: str, env: dict[str, str | None] | None = None) -> Result:
    words = [*args, str(record), *extra]
    return CliRunner().invoke(
        cli, words, env={"SSLBIND_PASSWORD": "x", REQUIRE_SIGNER_ENV: None, **(env or {})}
    )


def one_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def edit_apply(record: Path) -> None:
    """The N1 attack: code inserted into a signed host script, its manifest hash recomputed."""
    script = record / APPLY
    data = script.read_bytes()
    script.write_bytes(data.replace(b"param(", b"Set-Content -LiteralPath ./PWNED.txt x\r\nparam(", 1))
    set_manifest_hash(record, APPLY)


def downgrade(record: Path) -> None:
    """The N1 (b) attack: every signature, signer.cer and the manifest's signature section gone."""
    manifest_path = record / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for name in [n for n in manifest["files"] if n.startswith("hosts/")]:
        path = record / name
        if path.suffix == ".ps1":
            path.write_bytes(strip_signature(path.read_bytes()))
            set_manifest_hash(record, name)
    manifest = json.loads(manifest_path.read_text())
    del manifest["signature"]
    del manifest["files"]["signer.cer"]
    (record / "signer.cer").unlink()
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("command", RECORD_COMMANDS, ids=lambda c: " ".join(c))
def test_a_broken_signature_is_refused_before_any_host(
    signed: Path, command: list[str], no_host: None
) -> None:
    edit_apply(signed)
    result = run(command, signed)
    assert result.exit_code == 1, result.output
    line = one_line(result)
    assert str(signed) in line and "refusing to run its scripts" in line
    assert f"{APPLY}: the signature does not match the file's bytes" in line
    assert not (signed / "plans").exists()


@pytest.mark.parametrize("command", RECORD_COMMANDS, ids=lambda c: " ".join(c))
def test_a_foreign_signer_certificate_is_refused(
    signed: Path, pfxs: dict[str, Pfx], command: list[str], no_host: None
) -> None:
    from cryptography.hazmat.primitives import serialization

    (signed / "signer.cer").write_bytes(pfxs["other"].cert.public_bytes(serialization.Encoding.PEM))
    set_manifest_hash(signed, "signer.cer")
    result = run(command, signed)
    assert result.exit_code == 1, result.output
    assert "signer.cer: holds CN=another signer, not the record's signer" in one_line(result)


@pytest.mark.parametrize("command", RECORD_COMMANDS, ids=lambda c: " ".join(c))
def test_a_downgrade_to_unsigned_is_refused_with_require_signer(
    signed: Path, pfxs: dict[str, Pfx], command: list[str], no_host: None
) -> None:
    downgrade(signed)
    assert check(signed).exit_code == 0  # a consistent unsigned record: only a required signer tells
    result = run(command, signed, "--require-signer", pfxs["signer"].thumbprint)
    assert result.exit_code == 1, result.output
    assert f"the record is unsigned, and a signer is required ({pfxs['signer'].thumbprint})" in one_line(
        result
    )
    by_env = run(command, signed, env={REQUIRE_SIGNER_ENV: pfxs["signer"].thumbprint})
    assert by_env.exit_code == 1 and "the record is unsigned" in one_line(by_env)


def test_a_record_by_another_signer_is_refused(signed: Path, pfxs: dict[str, Pfx], no_host: None) -> None:
    result = run(["plan"], signed, "--require-signer", pfxs["other"].thumbprint)
    assert result.exit_code == 1, result.output
    line = one_line(result)
    assert f"signed by CN=sslbind test signer (thumbprint {pfxs['signer'].thumbprint})" in line
    assert f"not by a required signer ({pfxs['other'].thumbprint})" in line


def test_the_required_signer_passes_to_the_hosts(
    signed: Path, pfxs: dict[str, Pfx], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any one of several required signers suffices; then (and only then) the hosts are next."""
    reached: list[bool] = []

    def contacted(*args: object, **kwargs: object) -> None:
        reached.append(True)
        raise operations.UserError("stopped at the hosts")

    monkeypatch.setattr(operations._Run, "__init__", contacted)
    thumb = pfxs["signer"].thumbprint
    spaced = " ".join(thumb[i : i + 2] for i in range(0, 40, 2)).lower()  # as certmgr shows it
    result = run(["plan"], signed, "--require-signer", pfxs["other"].thumbprint, "--require-signer", spaced)
    assert reached == [True], result.output
    assert "stopped at the hosts" in result.stderr


def test_a_malformed_required_signer_is_bad_usage(signed: Path, no_host: None) -> None:
    result = run(["apply", "--yes"], signed, "--require-signer", "CN=sslbind test signer")
    assert result.exit_code == 2, result.output
    assert "--require-signer 'CN=sslbind test signer': not a certificate thumbprint" in one_line(result)
    with pytest.raises(operations.UserError):
        required_signers(["AB" * 19])


def test_plan_of_a_spec_with_require_signer_writes_nothing(tmp_path: Path, no_host: None) -> None:
    spec = Path(__file__).resolve().parents[2] / "examples" / "renew-api.yaml"
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["plan", str(spec), "-o", str(out), "--require-signer", "AB" * 20])
    assert result.exit_code == 2, result.output
    assert "a spec renders an unsigned record" in one_line(result)
    assert not out.exists()


# --- record check: the signature block's own layout, and a required signer -------------------


def test_text_after_the_signature_block_fails(signed: Path) -> None:
    script = signed / APPLY
    script.write_bytes(script.read_bytes() + b"Set-Content -LiteralPath ./PWNED.txt x\r\n")
    set_manifest_hash(signed, APPLY)
    result = check(signed)
    assert result.exit_code == 1, result.output
    assert f"signature: {APPLY}: holds text after {SIGNATURE_END!r}" in result.stdout


def test_a_second_signature_block_fails(signed: Path) -> None:
    script = signed / APPLY
    data = script.read_bytes()
    block = data[data.index(b"# SIG # Begin") :]
    script.write_bytes(data + block)
    set_manifest_hash(signed, APPLY)
    result = check(signed)
    assert result.exit_code == 1, result.output
    assert f"signature: {APPLY}: carries 2 signature blocks" in result.stdout


def test_block_problem_on_its_own() -> None:
    block = b"# SIG # Begin signature block\r\n# MIIx\r\n# SIG # End signature block\r\n"
    assert block_problem(b"code\r\n" + block) is None
    assert block_problem(b"unsigned code\r\n") is None  # whether it must be signed is asked elsewhere
    assert block_problem(b"code\r\n" + block + b"\r\n") is None  # trailing line ends only
    assert "text after" in (block_problem(b"code\r\n" + block + b"  x") or "")
    assert "text after" in (block_problem(b"code\r\n" + block[:-30]) or "")  # the end line is gone
    assert "2 signature blocks" in (block_problem(b"code\r\n" + block + block) or "")


def test_record_check_requires_a_signer(signed: Path, pfxs: dict[str, Pfx], tmp_path: Path) -> None:
    good = CliRunner().invoke(
        cli, ["record", "check", str(signed), "--require-signer", pfxs["signer"].thumbprint]
    )
    assert good.exit_code == 0, good.output
    other = CliRunner().invoke(
        cli, ["record", "check", str(signed)], env={REQUIRE_SIGNER_ENV: pfxs["other"].thumbprint}
    )
    assert other.exit_code == 1 and "not by a required signer" in other.stdout
    assert render(tmp_path / "plain", None).exit_code == 0
    unsigned = tmp_path / "plain" / "CHG0012345"
    refused = CliRunner().invoke(cli, ["record", "check", str(unsigned), "--require-signer", "AB" * 20])
    assert refused.exit_code == 1 and "the record is unsigned, and a signer is required" in refused.stdout


def test_the_report_badge_counts_signature_problems(signed: Path, tmp_path: Path) -> None:
    edit_apply(signed)
    page = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(signed), "-o", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert 'id="integrity-status">1 problem(s)</span>' in html
    assert 'id="signature-status">broken</span>' in html
    assert "Every file matches its manifest" in html  # the hashes do: only the signature tells
