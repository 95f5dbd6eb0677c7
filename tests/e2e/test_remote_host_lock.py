"""One change per host at a time: two records changing the same binding at once, as two separate
client processes, through real pypsrp on one lab host whose pwsh processes share the host lock.
Before the lock both could report "applied" (adversarial run F4); now the second waits for the
first, then finds the host moved since its plan and changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import PASSWORD
from tests.e2e.test_remote_harness import NEW_CERT, lab_hosts, swap_to_new

pytestmark = [pytest.mark.lab, pytest.mark.pwsh, pytest.mark.timeout(900)]


def _apply_process(record: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "SSLBIND_PASSWORD": PASSWORD}
    command = [str(Path(sys.executable).parent / "sslbind"), "apply", str(record), "--yes", "--json"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def test_two_changes_of_one_binding_at_once_never_both_report_applied(pwsh: str, tmp_path: Path) -> None:
    with lab_hosts(tmp_path, pwsh) as lab:
        host = lab.hosts[0]
        assert lab.plan(lab.spec("CHG0000600", swap_to_new())).exit_code == 3
        other = swap_to_new(verifyclientcertrevocation="enable")
        assert lab.plan(lab.spec("CHG0000601", other)).exit_code == 3
        first = _apply_process(lab.record("CHG0000600"))
        time.sleep(0.5)
        second = _apply_process(lab.record("CHG0000601"))
        hosts = [json.loads(p.communicate(timeout=600)[0])["hosts"][0] for p in (first, second)]
        statuses = [h["status"] for h in hosts]
        # exactly one applied; the other waited for the host lock, then found the host moved
        assert sorted(statuses) == ["applied", "refused"], [h["summary"] for h in hosts]
        assert sorted([first.returncode, second.returncode]) == [0, 1]
        loser = hosts[statuses.index("refused")]["summary"]
        assert "changed since the plan" in loser or "holds this host" in loser, loser
        winner = ("CHG0000600", "CHG0000601")[statuses.index("applied")]
        binding = lab.binding(host)
        assert binding is not None and binding["certhash"].lower() == NEW_CERT
        expected = "disable" if winner == "CHG0000600" else "enable"
        assert binding.get("verifyclientcertrevocation", "enable") == expected
        assert not list(Path(lab.servers[host].state.path).parent.glob("*.sslbind.lock"))


def test_a_directory_at_the_lock_path_is_refused_within_the_lock_wait_naming_the_lock(
    pwsh: str, tmp_path: Path
) -> None:
    """A directory where the lock file belongs (a user could plant one on Windows) made every phase
    spin until the client's timeout, never naming the lock; now plan and apply count it held and
    refuse within --lock-wait, naming it, with nothing touched."""
    with lab_hosts(tmp_path, pwsh) as lab:
        host = lab.hosts[0]
        assert lab.plan(lab.spec("CHG0000610", swap_to_new())).exit_code == 3
        before = lab.bindings(host)
        lock = Path(str(lab.servers[host].state.path) + ".sslbind.lock")
        lock.mkdir()
        for run in (  # apply first: a plan that fails replaces the stored one
            lambda: lab.apply("CHG0000610", "--lock-wait", "1", "--json", "--timeout", "60"),
            lambda: lab.plan(lab.record("CHG0000610"), "--lock-wait", "1", "--json", "--timeout", "60"),
        ):
            started = time.monotonic()
            result = run()
            elapsed = time.monotonic() - started
            assert result.exit_code == 1, result.output
            summary = json.loads(result.stdout)["hosts"][0]["summary"]
            assert (
                "another sslbind phase holds this host: a lock this session cannot read (a directory)"
                in summary
            )
            assert f"[lock {lock}]; waited 1 s, nothing is changed" in summary
            assert "TimedOut" not in summary
            assert elapsed < 45, elapsed
            assert lab.bindings(host) == before
        assert lock.is_dir()
