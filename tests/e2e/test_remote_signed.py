"""A signed record end to end through real pypsrp and the lab: render --sign, plan, apply, rollback.

Signing adds only a trailing comment block to each script, so what runs over PSRP is unchanged;
the record keeps verifying (hashes and signatures) after every command adds its plan or run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.serialization import Encoding

from generator.cli import cli
from generator.record import sha256_hex
from generator.signing import PASSWORD_ENV, SIGNATURE_BEGIN
from tests.e2e.test_remote_harness import NEW_CERT, LabHosts, lab_hosts, swap_to_new
from tests.unit.test_signing import make_pfx

pytestmark = [pytest.mark.lab, pytest.mark.pwsh, pytest.mark.timeout(900)]

CHANGE = "CHG0077001"


def render_signed(lab: LabHosts, pfx: Path, password: str) -> Result:
    spec = lab.spec(CHANGE, swap_to_new())
    args = ["render", str(spec), "-o", str(lab.out), "--sign", str(pfx)]
    return CliRunner().invoke(cli, args, env={PASSWORD_ENV: password}, catch_exceptions=False)


def assert_verified(lab: LabHosts, thumbprint: str) -> None:
    checked = lab.sslbind("record", "check", str(lab.record(CHANGE)))
    assert checked.exit_code == 0, checked.output
    assert f"thumbprint {thumbprint}, all valid" in checked.stdout


def test_plan_apply_rollback_from_a_signed_record(pwsh: str, tmp_path: Path) -> None:
    if shutil.which("osslsigncode") is None:
        pytest.fail("osslsigncode is required for the signed end-to-end test; run scripts/setup.sh")
    pfx = make_pfx(tmp_path, "sslbind e2e signer")
    with lab_hosts(tmp_path, pwsh) as lab:
        host = lab.hosts[0]
        before = lab.binding(host)
        rendered = render_signed(lab, pfx.path, pfx.password)
        assert rendered.exit_code == 0, rendered.output
        record = lab.record(CHANGE)
        scripts = sorted((record / "hosts").rglob("*.ps1"))
        assert scripts and all(SIGNATURE_BEGIN.encode() in p.read_bytes() for p in scripts)
        assert_verified(lab, pfx.thumbprint)

        planned = lab.plan(record, "--json")
        assert planned.exit_code == 3, planned.output
        assert json.loads(planned.stdout)["hosts"][0]["status"] == "pending"
        assert lab.binding(host) == before

        applied = lab.apply(CHANGE, "--json")
        assert applied.exit_code == 0, applied.output
        assert json.loads(applied.stdout)["hosts"][0]["status"] == "applied"
        after = lab.binding(host)
        assert after is not None and after["certhash"].lower() == NEW_CERT
        assert_verified(lab, pfx.thumbprint)  # plans and runs added; every signature still holds

        rolled = lab.sslbind("rollback", str(record), "--yes")
        assert rolled.exit_code == 0, rolled.output
        assert lab.binding(host) == before
        assert lab.host_result(CHANGE, host)["status"] == "restored"
        assert_verified(lab, pfx.thumbprint)


def test_a_signed_script_changed_after_signing_is_refused_by_apply(pwsh: str, tmp_path: Path) -> None:
    if shutil.which("osslsigncode") is None:
        pytest.fail("osslsigncode is required for the signed end-to-end test; run scripts/setup.sh")
    pfx = make_pfx(tmp_path, "sslbind e2e signer")
    with lab_hosts(tmp_path, pwsh) as lab:
        host = lab.hosts[0]
        before = lab.binding(host)
        assert render_signed(lab, pfx.path, pfx.password).exit_code == 0
        record = lab.record(CHANGE)
        assert lab.plan(record).exit_code == 3
        apply_script = record / "hosts" / host / "apply.ps1"
        data = apply_script.read_bytes()
        apply_script.write_bytes(data.replace(b"param(", b"Param(", 1))
        checked = lab.sslbind("record", "check", str(record))
        assert checked.exit_code == 1
        assert "the signature does not match the file's bytes" in checked.stdout
        refused = lab.apply(CHANGE)
        assert refused.exit_code != 0
        assert "apply.ps1" in refused.output
        assert lab.binding(host) == before


# --- signed means enforced (issue 21): the attacks of adversarial run 2, N1 ----------------------


def reseal_manifest(record: Path, *names: str) -> None:
    """What an attacker with write access does after an edit: recompute the unkeyed hashes."""
    path = record / "manifest.json"
    manifest = json.loads(path.read_text())
    for name in names:
        manifest["files"][name] = sha256_hex((record / name).read_bytes())
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def reseal_plan(record: Path) -> None:
    """...and the newest plan too, so apply sees a plan made for the edited manifest and scripts."""
    plan_path = sorted((record / "plans").glob("*.json"))[-1]
    plan = json.loads(plan_path.read_text())
    plan["manifest_sha256"] = sha256_hex((record / "manifest.json").read_bytes())
    for entry in plan["hosts"]:
        for name in entry.get("scripts", {}):
            script = record / "hosts" / entry["host"] / f"{name}.ps1"
            entry["scripts"][name] = sha256_hex(script.read_bytes())
    data = (json.dumps(plan, indent=2, sort_keys=True) + "\n").encode()
    plan_path.write_bytes(data)
    plan_path.with_name(plan_path.name + ".sha256").write_text(f"{sha256_hex(data)}  {plan_path.name}\n")


def plant(record: Path, host: str, script: str, marker: Path) -> str:
    """Insert a line that creates `marker` (on the lab host's file system) before the phase runs."""
    name = f"hosts/{host}/{script}.ps1"
    data = (record / name).read_bytes()
    line = f"Set-Content -LiteralPath '{marker}' -Value pwned\r\n".encode()
    assert data.count(b"\nInvoke-SslPhase ") == 1
    (record / name).write_bytes(data.replace(b"\nInvoke-SslPhase ", b"\n" + line + b"Invoke-SslPhase ", 1))
    return name


def downgrade(record: Path) -> None:
    """N1 (b): every host script's signature stripped, signer.cer and the signature section gone,
    hashes resealed (the library stays signed: the host scripts pin its hashes)."""
    manifest_path = record / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    scripts = sorted(n for n in manifest["files"] if n.startswith("hosts/") and n.endswith(".ps1"))
    for name in scripts:
        data = (record / name).read_bytes()
        (record / name).write_bytes(data[: data.index(b"\r\n" + SIGNATURE_BEGIN.encode())])
    del manifest["signature"], manifest["files"]["signer.cer"]
    (record / "signer.cer").unlink()
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    reseal_manifest(record, *scripts)


def test_signatures_are_enforced_on_the_lab(pwsh: str, tmp_path: Path) -> None:
    """A signed record edited in each of N1's ways is refused by apply with the host untouched and
    the planted line never run; the planted line does run where nothing refuses it (the control:
    plan of a downgraded record without --require-signer), and the pristine record applies with
    its signer required."""
    if shutil.which("osslsigncode") is None:
        pytest.fail("osslsigncode is required for the signed end-to-end test; run scripts/setup.sh")
    pfx = make_pfx(tmp_path, "sslbind e2e signer")
    other = make_pfx(tmp_path, "another signer")
    with lab_hosts(tmp_path, pwsh) as lab:
        host = lab.hosts[0]
        before = lab.binding(host)
        assert render_signed(lab, pfx.path, pfx.password).exit_code == 0
        pristine = lab.record(CHANGE)
        assert lab.plan(pristine).exit_code == 3

        def copy(name: str) -> Path:
            return Path(shutil.copytree(pristine, tmp_path / name / CHANGE))

        # (a) an edited apply.ps1, hashes recomputed in the manifest and the plan
        edited = copy("edited")
        marker = tmp_path / "PWNED-edited.txt"
        reseal_manifest(edited, plant(edited, host, "apply", marker))
        reseal_plan(edited)
        refused = lab.sslbind("apply", str(edited), "--yes")
        assert refused.exit_code == 1, refused.output
        assert f"hosts/{host}/apply.ps1: the signature does not match the file's bytes" in refused.stderr
        assert not marker.exists() and lab.binding(host) == before

        # (b) signer.cer swapped for another signer's certificate
        swapped = copy("swapped")
        (swapped / "signer.cer").write_bytes(other.cert.public_bytes(Encoding.PEM))
        reseal_manifest(swapped, "signer.cer")
        reseal_plan(swapped)
        refused = lab.sslbind("apply", str(swapped), "--yes")
        assert refused.exit_code == 1, refused.output
        assert "signer.cer: holds CN=another signer, not the record's signer" in refused.stderr
        assert lab.binding(host) == before

        # (c) downgraded to unsigned, with a planted line: refused when the signer is required
        downgraded = copy("downgraded")
        marker = tmp_path / "PWNED-downgrade.txt"
        downgrade(downgraded)
        reseal_manifest(downgraded, plant(downgraded, host, "apply", marker))
        reseal_plan(downgraded)
        refused = lab.sslbind("apply", str(downgraded), "--yes", "--require-signer", pfx.thumbprint)
        assert refused.exit_code == 1, refused.output
        assert "the record is unsigned, and a signer is required" in refused.stderr
        assert not marker.exists() and lab.binding(host) == before

        # the control: the same kind of planted line does run when nothing refuses the record
        control = tmp_path / "PWNED-control.txt"
        reseal_manifest(downgraded, plant(downgraded, host, "prepare", control))
        assert lab.sslbind("plan", str(downgraded)).exit_code == 3  # read-only, unsigned accepted
        assert control.read_text().strip() == "pwned"
        assert lab.binding(host) == before

        # (d) the pristine record, its signer required, applies
        applied = lab.sslbind("apply", str(pristine), "--yes", "--require-signer", pfx.thumbprint, "--json")
        assert applied.exit_code == 0, applied.output
        assert json.loads(applied.stdout)["hosts"][0]["status"] == "applied"
        after = lab.binding(host)
        assert after is not None and after["certhash"].lower() == NEW_CERT
