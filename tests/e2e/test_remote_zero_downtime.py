"""Zero-downtime, probe-first changes end to end through real pypsrp on the lab, unmodified scripts:
update in place where netsh has it, delete+add where it does not, a trial bind that stops a
certificate HTTP.sys cannot use before anything live is touched, every undo proven before the first
change, and the update path's own fault cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_remote_harness import MAIN, NEW_CERT, OLD_CERT, LabHosts, lab_hosts, swap_to_new

pytestmark = [pytest.mark.lab, pytest.mark.pwsh, pytest.mark.timeout(900)]


def _steps(lab: LabHosts, change: str) -> list[str]:
    return [a["step"] for a in lab.host_result(change, lab.hosts[0])["result"]["actions"]]


def _without(binding: dict[str, Any] | None, *names: str) -> dict[str, Any]:
    assert binding is not None
    return {k: v for k, v in binding.items() if k not in names}


def test_rotation_on_an_update_host_never_deletes_and_keeps_every_other_setting(
    pwsh: str, tmp_path: Path
) -> None:
    with lab_hosts(tmp_path, pwsh) as lab:
        host = lab.hosts[0]
        before = lab.binding(host)
        planned = lab.plan(lab.spec("CHG0000500", swap_to_new()), "--json")
        assert planned.exit_code == 3, planned.output
        change = json.loads(planned.stdout)["hosts"][0]["changes"][0]
        assert change["path"] == "update" and change["restorable"] is True
        assert change["commands"][0].startswith(
            f"netsh http update sslcert ipport=0.0.0.0:443 certhash={NEW_CERT}"
        )
        applied = lab.apply("CHG0000500")
        assert applied.exit_code == 0, applied.output
        after = lab.binding(host)
        assert after is not None and after["certhash"].lower() == NEW_CERT
        assert _without(after, "certhash") == _without(before, "certhash")
        steps = _steps(lab, "CHG0000500")
        assert steps == ["trial-add", "trial-delete", "update", "verify"]
        assert lab.host_result("CHG0000500", host)["gap_ms"] is None
        assert not [b for b in lab.bindings(host) if str(b.get("ipport", "")).startswith("127.0.0.1:")]


def test_a_host_without_update_falls_back_to_delete_and_add(pwsh: str, tmp_path: Path) -> None:
    def no_update(state: dict[str, Any]) -> None:
        state.setdefault("netsh", {})["supports_update"] = False

    with lab_hosts(tmp_path, pwsh, edit=no_update) as lab:
        assert lab.plan(lab.spec("CHG0000501", swap_to_new())).exit_code == 3
        assert lab.apply("CHG0000501").exit_code == 0
        assert _steps(lab, "CHG0000501") == ["trial-add", "trial-delete", "delete", "add", "verify"]
        assert lab.host_result("CHG0000501", lab.hosts[0])["gap_ms"] is not None


def test_a_certificate_whose_key_http_sys_cannot_use_is_refused_before_anything_live(
    pwsh: str, tmp_path: Path
) -> None:
    def unusable(state: dict[str, Any]) -> None:
        for certificate in state["certificates"]:
            if certificate["thumbprint"].lower() == NEW_CERT:
                certificate["key_usable"] = False

    with lab_hosts(tmp_path, pwsh, edit=unusable) as lab:
        before = lab.bindings(lab.hosts[0])
        assert lab.plan(lab.spec("CHG0000502", swap_to_new())).exit_code == 3  # HasPrivateKey is true
        applied = lab.apply("CHG0000502", "--json")
        assert applied.exit_code == 1, applied.output
        host = json.loads(applied.stdout)["hosts"][0]
        assert host["status"] == "refused"
        assert lab.bindings(lab.hosts[0]) == before
        steps = _steps(lab, "CHG0000502")
        assert steps == ["trial-add", "trial-delete"] and "delete" not in steps and "update" not in steps
        assert "1312" in lab.host_result("CHG0000502", lab.hosts[0])["summary"]


def test_a_prior_certificate_gone_from_its_store_is_refused_unless_accepted(
    pwsh: str, tmp_path: Path
) -> None:
    def old_cert_removed(state: dict[str, Any]) -> None:
        state["certificates"] = [c for c in state["certificates"] if c["thumbprint"].lower() != OLD_CERT]

    with lab_hosts(tmp_path, pwsh, edit=old_cert_removed) as lab:
        before = lab.bindings(lab.hosts[0])
        planned = lab.plan(lab.spec("CHG0000503", swap_to_new()))
        assert planned.exit_code == 3, planned.output
        assert "cannot be undone" in " ".join(planned.output.split())
        refused = lab.apply("CHG0000503", "--json")
        assert refused.exit_code == 1, refused.output
        assert json.loads(refused.stdout)["hosts"][0]["status"] == "refused"
        assert lab.bindings(lab.hosts[0]) == before
        accepted = lab.apply("CHG0000503", "--accept-no-undo")
        assert accepted.exit_code == 0, accepted.output
        assert lab.binding(lab.hosts[0])["certhash"].lower() == NEW_CERT  # type: ignore[index]
        assert json.loads((lab.last_run("CHG0000503") / "run.json").read_text())["accept_no_undo"] is True


@pytest.fixture
def planned_update(pwsh: str, tmp_path: Path) -> Any:
    with lab_hosts(tmp_path, pwsh) as lab:
        assert lab.plan(lab.spec("CHG0000510", swap_to_new())).exit_code == 3
        yield lab


def test_update_failing_leaves_the_binding_as_it_was(planned_update: LabHosts) -> None:
    lab = planned_update
    before = lab.bindings(lab.hosts[0])
    lab.fault(lab.hosts[0], on="update", error=5, target=MAIN)
    assert lab.apply("CHG0000510").exit_code == 1
    assert lab.bindings(lab.hosts[0]) == before
    steps = _steps(lab, "CHG0000510")
    assert "delete" not in steps and "rollback-delete" not in steps


def test_connection_dropped_during_the_update_is_recovered(planned_update: LabHosts) -> None:
    lab = planned_update
    lab.fault(lab.hosts[0], on="update", drop_connection=True, target=MAIN)
    result = lab.apply("CHG0000510", "--settle", "15")
    assert result.exit_code == 0, result.output
    assert lab.binding(lab.hosts[0])["certhash"].lower() == NEW_CERT  # type: ignore[index]


def test_pwsh_killed_before_the_update_leaves_the_prior_binding(planned_update: LabHosts) -> None:
    lab = planned_update
    before = lab.bindings(lab.hosts[0])
    lab.fault(lab.hosts[0], on="update", kill_pwsh=True, target=MAIN)
    result = lab.apply("CHG0000510", "--settle", "3")
    assert result.exit_code == 1, result.output
    assert sorted(lab.bindings(lab.hosts[0]), key=repr) == sorted(before, key=repr)


def test_rollback_after_an_update_restores_by_update(planned_update: LabHosts) -> None:
    lab = planned_update
    before = lab.binding(lab.hosts[0])
    assert lab.apply("CHG0000510").exit_code == 0
    rolled = lab.sslbind("rollback", str(lab.record("CHG0000510")), "--yes")
    assert rolled.exit_code == 0, rolled.output
    assert lab.binding(lab.hosts[0]) == before
    run = lab.last_run("CHG0000510")
    logged = "".join(p.read_text() for p in sorted(run.rglob("*.json*")))
    assert '"rollback-update"' in logged and '"rollback-delete"' not in logged
