"""The motivating story end to end through real pypsrp and the lab: a preserve-mode certificate swap
keeps client-certificate revocation checking disabled, and the change record holds everything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_remote_harness import IIS_APPID, NEW_CERT, OLD_CERT, lab_hosts, swap_to_new

# Each test runs several pwsh pipelines through the lab; on a loaded 2-core machine that is slow.
pytestmark = [pytest.mark.lab, pytest.mark.pwsh, pytest.mark.both_language_modes, pytest.mark.timeout(900)]


def test_preserve_swap_keeps_revocation_check_off(pwsh: str, tmp_path: Path) -> None:
    with lab_hosts(tmp_path, pwsh) as lab:
        host = lab.hosts[0]
        before = lab.binding(host)
        assert before is not None and before["verifyclientcertrevocation"] == "disable"
        spec = lab.spec("CHG0012345", swap_to_new())

        planned = lab.plan(spec, "--json")
        assert planned.exit_code == 3, planned.output
        plan = json.loads(planned.stdout)
        assert plan["hosts"][0]["status"] == "pending"
        assert "certhash" in plan["hosts"][0]["summary"]
        # the reviewer sees the exact command, and preserve mode keeps revocation checking off
        # the lab's netsh has update (Server 2019 on): one atomic update, no moment without a binding
        assert f"netsh http update sslcert ipport=0.0.0.0:443 certhash={NEW_CERT}" in planned.stderr
        assert "verifyclientcertrevocation=disable" in planned.stderr
        assert lab.binding(host) == before  # plan is read-only

        applied = lab.apply("CHG0012345", "--json")
        assert applied.exit_code == 0, applied.output
        document = json.loads(applied.stdout)
        assert document["hosts"][0]["status"] == "applied"

        after = lab.binding(host)
        assert after is not None
        assert after["certhash"].lower() == NEW_CERT
        assert after["verifyclientcertrevocation"] == "disable"  # the setting the renewal used to lose
        assert after["appid"].lower() == IIS_APPID
        assert after["certstorename"].lower() == "my"

        assert lab.sslbind("verify", str(lab.record("CHG0012345"))).exit_code == 0
        assert lab.plan(lab.record("CHG0012345")).exit_code == 0  # nothing left to do

        record = lab.record("CHG0012345")
        checked = lab.sslbind("record", "check", str(record))
        assert checked.exit_code == 0, checked.output
        run = lab.last_run("CHG0012345")
        prior = json.loads((run / "hosts" / host / "prior.json").read_text())
        captured = {b["key"]: b for b in prior["before"]}["0.0.0.0:443"]
        assert captured["settings"]["certhash"].lower() == OLD_CERT
        assert captured["settings"]["verifyclientcertrevocation"] == "disable"
        result = lab.host_result("CHG0012345", host)
        assert result["status"] == "applied" and result["gap_ms"] is None  # updated in place: no window
        events = [e["event"] for e in lab.events("CHG0012345") if e["host"] == host]
        assert events[0] == "host-start" and "apply-result" in events and events[-1] == "host-end"
        assert len(list((record / "plans").glob("*.json"))) == 2


def test_rollback_restores_the_captured_prior_binding(pwsh: str, tmp_path: Path) -> None:
    with lab_hosts(tmp_path, pwsh) as lab:
        host = lab.hosts[0]
        before = lab.binding(host)
        lab.plan(lab.spec("CHG0000100", swap_to_new(verifyclientcertrevocation="enable")))
        assert lab.apply("CHG0000100").exit_code == 0
        changed = lab.binding(host)
        assert changed is not None and changed["certhash"].lower() == NEW_CERT
        assert changed.get("verifyclientcertrevocation", "enable") == "enable"  # netsh default: not stored

        rolled = lab.sslbind("rollback", str(lab.record("CHG0000100")), "--yes")
        assert rolled.exit_code == 0, rolled.output
        assert lab.binding(host) == before
        assert lab.host_result("CHG0000100", host)["status"] == "restored"
        assert json.loads((lab.last_run("CHG0000100") / "run.json").read_text())["kind"] == "rollback"

        again = lab.sslbind("rollback", str(lab.record("CHG0000100")), "--yes")
        assert again.exit_code == 0
        assert lab.host_result("CHG0000100", host)["status"] == "no-change"
        assert lab.sslbind("record", "check", str(lab.record("CHG0000100"))).exit_code == 0


def test_apply_without_a_plan_or_confirmation_changes_nothing(pwsh: str, tmp_path: Path) -> None:
    with lab_hosts(tmp_path, pwsh) as lab:
        before = lab.bindings(lab.hosts[0])
        spec = lab.spec("CHG0000101", swap_to_new())
        assert lab.sslbind("render", str(spec), "-o", str(lab.out)).exit_code == 0
        no_plan = lab.apply("CHG0000101")
        assert no_plan.exit_code == 2 and "no plan yet" in no_plan.output
        assert lab.plan(lab.record("CHG0000101")).exit_code == 3
        unconfirmed = lab.sslbind("apply", str(lab.record("CHG0000101")))
        assert unconfirmed.exit_code == 2 and "not confirmed" in unconfirmed.output
        assert lab.bindings(lab.hosts[0]) == before
        assert not (lab.record("CHG0000101") / "runs").exists()


def test_the_lab_hosts_run_in_this_passs_language_mode(
    pwsh: str, tmp_path: Path, lab_language_mode: str
) -> None:
    """This module runs once per language mode (conftest): the host's own session says which."""
    with lab_hosts(tmp_path, pwsh) as lab:
        host = lab.hosts[0]
        connection = ["--protocol", "http", "--port", str(lab.servers[host].port), "--auth", "basic"]
        connection += ["--username", "lab", "--message-encryption", "never"]
        result = lab.sslbind("doctor", "--host", host, *connection, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["powershell"]["language_mode"] == lab_language_mode
