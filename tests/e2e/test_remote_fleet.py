"""Twenty lab hosts in one apply with --forks 10: all succeed; with one faulted, only it rolls back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_remote_harness import NEW_CERT, lab_hosts, swap_to_new

# Twenty pwsh processes at a time on a 2-core machine: the lab, not the client, sets the pace.
pytestmark = [pytest.mark.lab, pytest.mark.pwsh, pytest.mark.slow, pytest.mark.timeout(900)]

HOSTS = 20


# In ConstrainedLanguage too: its 19 hosts that apply are the all-succeed case in that mode, and the
# faulted one its rollback (the test below runs in FullLanguage only).
@pytest.mark.both_language_modes
def test_twenty_hosts_one_faulted_only_it_rolls_back(pwsh: str, tmp_path: Path) -> None:
    with lab_hosts(tmp_path, pwsh, count=HOSTS) as lab:
        spec = lab.spec("CHG0000300", swap_to_new())
        assert lab.plan(spec, "--forks", "10").exit_code == 3
        before = {h: lab.bindings(h) for h in lab.hosts}
        faulted = lab.hosts[6]
        lab.fault(faulted, on="update", error=1312, target="0.0.0.0:443")

        first = lab.apply("CHG0000300", "--forks", "10", "--json")
        assert first.exit_code == 1, first.stderr
        statuses = {h["host"]: h["status"] for h in json.loads(first.stdout)["hosts"]}
        assert statuses.pop(faulted) == "rolled-back"
        assert set(statuses.values()) == {"applied"} and len(statuses) == HOSTS - 1
        assert sorted(lab.bindings(faulted), key=repr) == sorted(before[faulted], key=repr)
        for host in statuses:
            binding = lab.binding(host)
            assert binding is not None and binding["certhash"].lower() == NEW_CERT
            assert binding["verifyclientcertrevocation"] == "disable"

        assert lab.sslbind("record", "check", str(lab.record("CHG0000300"))).exit_code == 0


def test_twenty_hosts_all_succeed_with_forks_10(pwsh: str, tmp_path: Path) -> None:
    with lab_hosts(tmp_path, pwsh, count=HOSTS) as lab:
        spec = lab.spec("CHG0000301", swap_to_new())
        assert lab.plan(spec, "--forks", "10").exit_code == 3
        result = lab.apply("CHG0000301", "--forks", "10", "--json")
        assert result.exit_code == 0, result.stderr
        document = json.loads(result.stdout)
        assert [h["status"] for h in document["hosts"]] == ["applied"] * HOSTS
        assert [h["host"] for h in document["hosts"]] == lab.hosts
        for host in lab.hosts:
            binding = lab.binding(host)
            assert binding is not None and binding["certhash"].lower() == NEW_CERT
        assert lab.sslbind("record", "check", str(lab.record("CHG0000301"))).exit_code == 0
