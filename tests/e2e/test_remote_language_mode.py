"""The story and its failure path on a hardened host: the lab's runspaces in ConstrainedLanguage
(as under WDAC/AppLocker, where script text sent over PSRP runs in CLM) while the simulated Windows
stays trusted; and a JEA-style NoLanguage session refused clearly, with nothing run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.test_remote_harness import NEW_CERT, lab_hosts, swap_to_new

pytestmark = [pytest.mark.lab, pytest.mark.pwsh, pytest.mark.timeout(900)]


def _mode(mode: str) -> Any:
    def edit(state: dict[str, Any]) -> None:
        state["language_mode"] = mode

    return edit


def test_story_applies_verifies_and_rolls_back_in_constrained_language(pwsh: str, tmp_path: Any) -> None:
    with lab_hosts(tmp_path, pwsh, edit=_mode("ConstrainedLanguage")) as lab:
        host = lab.hosts[0]
        before = lab.binding(host)
        planned = lab.plan(lab.spec("CHG0000300", swap_to_new()), "--json")
        assert planned.exit_code == 3, planned.output
        applied = lab.apply("CHG0000300", "--json")
        assert applied.exit_code == 0, applied.output
        after = lab.binding(host)
        assert after is not None and after["certhash"].lower() == NEW_CERT
        assert after["verifyclientcertrevocation"] == "disable"
        script = lab.host_result("CHG0000300", host)["result"]
        assert script["host_facts"]["language_mode"] == "ConstrainedLanguage"  # it really ran in CLM
        # the summary line, not only the notes, says the host could not check what clients get
        unverified = "TLS not verified on the host: ConstrainedLanguage"
        assert unverified in json.loads(applied.stdout)["hosts"][0]["summary"]
        verified = lab.sslbind("verify", str(lab.record("CHG0000300")), "--json")
        assert verified.exit_code == 0, verified.output
        assert unverified in json.loads(verified.stdout)["hosts"][0]["summary"]
        rolled = lab.sslbind("rollback", str(lab.record("CHG0000300")), "--yes")
        assert rolled.exit_code == 0, rolled.output
        assert lab.binding(host) == before


def test_failed_update_is_rolled_back_on_the_host_in_constrained_language(pwsh: str, tmp_path: Any) -> None:
    with lab_hosts(tmp_path, pwsh, edit=_mode("ConstrainedLanguage")) as lab:
        host = lab.hosts[0]
        before = lab.bindings(host)
        assert lab.plan(lab.spec("CHG0000301", swap_to_new())).exit_code == 3
        lab.fault(host, on="update", error=1312, target="0.0.0.0:443")
        applied = lab.apply("CHG0000301", "--json")
        assert applied.exit_code == 1, applied.output
        assert json.loads(applied.stdout)["hosts"][0]["status"] == "rolled-back"
        assert sorted(lab.bindings(host), key=repr) == sorted(before, key=repr)


def test_a_nolanguage_session_is_refused_with_the_reason_and_nothing_run(pwsh: str, tmp_path: Any) -> None:
    with lab_hosts(tmp_path, pwsh, edit=_mode("NoLanguage")) as lab:
        before = lab.bindings(lab.hosts[0])
        planned = lab.plan(lab.spec("CHG0000302", swap_to_new()))
        assert planned.exit_code == 1, planned.output
        assert "NoLanguage or RestrictedLanguage" in planned.output
        assert "Traceback" not in planned.output
        assert lab.bindings(lab.hosts[0]) == before
