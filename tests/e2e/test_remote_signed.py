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

from generator.cli import cli
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
