"""Outcomes that must stay true whatever happens to the client, its disk or the record, through
real pypsrp against the lab (findings F1, F2, F3, F6, F10 of the adversarial run).

- rollback restores the prior of the run that changed the host, not of the newest apply run;
- a record that cannot be written after a host changed is exit 4 naming the host, and the
  write-ahead prior still lets `rollback` restore it; `record resolve` closes the open run;
- SIGTERM/SIGHUP let the running host finish and the run be sealed; after SIGKILL the run says
  "started, outcome unknown" and rollback restores the prior;
- a rollback stopped half-way by a pwsh crash is resumed by the next `rollback`;
- a prior edited together with its run manifest is refused, not installed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from generator.lab.server import LabServer
from generator.remote import runwriter
from generator.remote.cli import record_resolve
from tests.e2e.conftest import USER
from tests.e2e.test_remote_harness import MAIN, NEW_CERT, OLD_CERT, PASSWORD, LabHosts, lab_hosts, swap_to_new

pytestmark = [pytest.mark.lab, pytest.mark.pwsh, pytest.mark.timeout(900)]

CHANGE = "CHG0000700"


@pytest.fixture
def planned(pwsh: str, tmp_path: Path) -> Iterator[LabHosts]:
    """One lab host, the motivating change planned by delete+add (so faults can hit the add)."""
    with lab_hosts(tmp_path, pwsh) as lab:
        result = lab.plan(lab.spec(CHANGE, swap_to_new(swap="replace")))
        assert result.exit_code == 3, result.output
        yield lab


def _host(lab: LabHosts) -> str:
    return lab.hosts[0]


def same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    return sorted(a, key=repr) == sorted(b, key=repr)


def certhash(lab: LabHosts) -> str:
    binding = lab.binding(_host(lab), MAIN)
    return str(binding["certhash"]).lower() if binding else "missing"


def rollback(lab: LabHosts, *extra: str) -> Result:
    return lab.sslbind("rollback", str(lab.record(CHANGE)), "--yes", *extra)


def resolve(lab: LabHosts) -> Result:
    port = str(lab.servers[_host(lab)].port)
    return CliRunner().invoke(
        record_resolve,
        [str(lab.record(CHANGE)), "--port", port, "--json"],
        env={"SSLBIND_PASSWORD": PASSWORD},
        catch_exceptions=False,
    )


def check(lab: LabHosts) -> Result:
    return lab.sslbind("record", "check", str(lab.record(CHANGE)))


def test_rollback_after_a_no_op_and_a_refused_apply_restores_the_real_prior(planned: LabHosts) -> None:
    """F1: apply; apply again unplanned (refused: its 'prior' is the new state); plan; apply
    ("nothing to do"); rollback must still put back the binding from before the first apply."""
    lab, before = planned, planned.bindings(_host(planned))
    assert lab.apply(CHANGE).exit_code == 0
    assert lab.apply(CHANGE).exit_code == 1  # the plan's prior is gone from the host: refused
    assert lab.plan(lab.record(CHANGE)).exit_code == 0
    noop = lab.apply(CHANGE)
    assert noop.exit_code == 0 and "nothing to do" in noop.output
    assert certhash(lab) == NEW_CERT

    rolled = rollback(lab, "--json")
    assert rolled.exit_code == 0, rolled.output
    document = json.loads(rolled.stdout)
    assert [h["status"] for h in document["hosts"]] == ["restored"]
    first_apply = sorted((lab.record(CHANGE) / "runs").iterdir())[0].name
    assert document["sources"] == {_host(lab): first_apply}
    assert same(lab.bindings(_host(lab)), before)
    assert check(lab).exit_code == 0


def test_rollback_with_nothing_changed_is_an_error_naming_the_host(planned: LabHosts) -> None:
    """F1: never exit 0 for a rollback that restored nothing because no run changed the host."""
    lab = planned
    lab.fault(_host(lab), on="add", error=1312, target=MAIN)
    assert lab.apply(CHANGE).exit_code == 1  # rolled back on the target: nothing to undo
    result = rollback(lab)
    assert result.exit_code == 1, result.output
    assert _host(lab) in result.stderr and "no apply run of this record changed it" in result.stderr


def test_a_record_write_failure_after_the_change_is_exit_4_and_stays_recoverable(
    planned: LabHosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F2: the disk fills up once the host changed: exit 4 naming the host (never 1), the prior
    written before the change still drives rollback, and resolve closes the open run."""
    lab, before = planned, planned.bindings(_host(planned))

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "result.json")

    monkeypatch.setattr(runwriter.HostLog, "outcome", disk_full)
    monkeypatch.setattr(runwriter, "seal_folder", disk_full)
    applied = lab.apply(CHANGE, "--json")
    assert applied.exit_code == 4, applied.output
    host = json.loads(applied.stdout)["hosts"][0]
    assert host["status"] == "manual" and host["status_before_record_failure"] == "applied"
    assert _host(lab) in applied.output and "No space left on device" in applied.output
    assert certhash(lab) == NEW_CERT
    monkeypatch.undo()

    run = lab.last_run(CHANGE)
    assert (run / "hosts" / _host(lab) / "prior.json").is_file()
    assert not (run / "manifest.json").exists()
    unsealed = check(lab)
    assert unsealed.exit_code == 1 and "unsealed" in unsealed.output
    warned = lab.plan(lab.record(CHANGE))
    assert "did not finish" in warned.output and "started, outcome unknown" in warned.output

    resolved = resolve(lab)
    assert resolved.exit_code == 0, resolved.output
    entry = json.loads(resolved.stdout)["runs"][0]
    assert entry["sealed"] and entry["hosts"][0]["status"] == "applied"
    assert check(lab).exit_code == 0

    rolled = rollback(lab)
    assert rolled.exit_code == 0, rolled.output
    assert same(lab.bindings(_host(lab)), before)


def _client(lab: LabHosts, *args: str) -> subprocess.Popen[bytes]:
    """`sslbind ARGS` as its own process, so it can be signalled like a real client."""
    env = {**os.environ, "SSLBIND_PASSWORD": PASSWORD}
    code = "from generator.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _wait_for_event(lab: LabHosts, event: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = lab.record(CHANGE) / "runs"
        for log in runs.glob("*/events.jsonl") if runs.is_dir() else []:
            if f'"event": "{event}"' in log.read_text():
                return
        time.sleep(0.2)
    raise AssertionError(f"no {event} event within {timeout} s")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_let_the_running_host_finish_and_seal_the_run(
    planned: LabHosts, signum: signal.Signals
) -> None:
    """F3: a stop signal during a hung add starts no new host; the running one finishes, its
    outcome is recorded and the run sealed; the exit code is the host's."""
    lab = planned
    lab.fault(_host(lab), on="add", target=MAIN, hang=8)
    client = _client(lab, "apply", str(lab.record(CHANGE)), "--yes", "--json")
    _wait_for_event(lab, "apply-start")
    time.sleep(2)
    client.send_signal(signum)
    out, err = client.communicate(timeout=300)
    assert client.returncode == 0, err.decode()
    document = json.loads(out)
    assert document["interrupted"] is True and document["signal"] == signum.name
    assert document["hosts"][0]["status"] == "applied"
    assert certhash(lab) == NEW_CERT
    assert check(lab).exit_code == 0


def test_after_sigkill_the_run_says_unknown_and_rollback_restores_the_prior(planned: LabHosts) -> None:
    """F3: SIGKILL cannot be caught; the write-ahead record still holds the prior and says the
    host started with its outcome unknown, so rollback finds and restores it."""
    lab, before = planned, planned.bindings(_host(planned))
    lab.fault(_host(lab), on="add", target=MAIN, hang=8)
    client = _client(lab, "apply", str(lab.record(CHANGE)), "--yes")
    _wait_for_event(lab, "apply-start")
    deadline = time.monotonic() + 240
    while lab.binding(_host(lab), MAIN) is not None and time.monotonic() < deadline:
        time.sleep(0.1)  # apply.ps1 is mid-change: deleted, the add hangs
    client.kill()
    client.communicate(timeout=60)
    deadline = time.monotonic() + 120  # apply.ps1 carries on on the host
    while certhash(lab) != NEW_CERT and time.monotonic() < deadline:
        time.sleep(0.5)
    assert certhash(lab) == NEW_CERT
    time.sleep(3)  # let apply.ps1 finish its verify

    run = lab.last_run(CHANGE)
    assert (run / "hosts" / _host(lab) / "started.json").is_file()
    assert not (run / "hosts" / _host(lab) / "result.json").exists()
    rolled = rollback(lab)
    assert rolled.exit_code == 0, rolled.output
    assert "did not finish" in rolled.output
    assert same(lab.bindings(_host(lab)), before)
    assert resolve(lab).exit_code == 0  # the killed run: re-captured (prior now), sealed
    assert check(lab).exit_code == 0


def test_a_second_rollback_resumes_one_a_pwsh_crash_stopped_half_way(planned: LabHosts) -> None:
    """F6: pwsh dies during rollback's add, leaving 0.0.0.0:443 missing; the next rollback must
    not refuse "the bindings changed since the apply" but finish the job."""
    lab, before = planned, planned.bindings(_host(planned))
    assert lab.apply(CHANGE).exit_code == 0
    lab.fault(_host(lab), on="add", target=MAIN, kill_pwsh=True)
    first = rollback(lab, "--settle", "2")
    assert first.exit_code == 4, first.output
    assert lab.binding(_host(lab), MAIN) is None
    second = rollback(lab)
    assert second.exit_code == 0, second.output
    assert same(lab.bindings(_host(lab)), before)
    assert lab.host_result(CHANGE, _host(lab))["resumed"] is True


def _reseal(run: Path, name: str) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"][name] = hashlib.sha256((run / name).read_bytes()).hexdigest()
    (run / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def test_a_prior_edited_with_its_manifest_is_refused(planned: LabHosts) -> None:
    """F10: whoever can write the record must not be able to make rollback install any binding."""
    lab = planned
    assert lab.apply(CHANGE).exit_code == 0
    run = lab.last_run(CHANGE)
    name = f"hosts/{_host(lab)}/prior.json"
    prior = json.loads((run / name).read_text())
    for binding in prior["before"]:
        if binding["key"] == "0.0.0.0:443":
            binding["settings"]["certhash"] = "b1" * 20
    (run / name).write_text(json.dumps(prior, indent=2, sort_keys=True) + "\n")
    _reseal(run, name)
    assert check(lab).exit_code == 0  # the unkeyed manifest cannot tell

    result = rollback(lab)
    assert result.exit_code == 1, result.output
    assert "does not agree with the plan's capture" in result.output
    assert certhash(lab) == NEW_CERT and OLD_CERT not in certhash(lab)


def test_recovery_keeps_trying_while_the_host_restarts_its_winrm_service(
    planned: LabHosts, pwsh: str
) -> None:
    """F11: the endpoint goes away mid-change (its pwsh with it: the binding is left deleted) and
    comes back a few seconds later; the first re-capture fails, but the settle time is not over,
    so the client tries again, finds the binding missing and restores the prior (exit 1), instead
    of giving up at once with the host left without its binding (exit 4)."""
    lab, before = planned, planned.bindings(_host(planned))
    host = _host(lab)
    lab.fault(host, on="add", target=MAIN, hang=30)
    outcome: dict[str, Result] = {}
    client = threading.Thread(target=lambda: outcome.update(result=lab.apply(CHANGE, "--settle", "10")))
    client.start()
    deadline = time.monotonic() + 240
    while lab.binding(host, MAIN) is not None and time.monotonic() < deadline:
        time.sleep(0.2)  # the live delete ran; the add hangs
    assert lab.binding(host, MAIN) is None
    old = lab.servers[host]
    stopped = time.monotonic()
    old.stop()  # WinRM service restart: every shell and its pwsh gone
    # Back 15 s after the loss: after the first re-capture (--settle 10), within the settle time.
    time.sleep(max(0.0, stopped + 15 - time.monotonic()))
    restarted = LabServer(old.state.path, USER, PASSWORD, host=host, port=old.port, pwsh=pwsh)
    with restarted:
        lab.servers[host] = restarted
        client.join(600)
        result = outcome["result"]
        assert result.exit_code == 1, result.output
        assert same(lab.bindings(host), before)
        recorded = lab.host_result(CHANGE, host)
        # the client restored it, or apply.ps1's own finally did before its pwsh went: either way
        # the host is at its prior, never left without its binding (exit 4)
        assert recorded["status"] == "rolled-back"
        assert "prior state restored" in recorded["summary"] or "prior state in place" in recorded["summary"]
        assert "recapture-failed" in [e["event"] for e in lab.events(CHANGE)]
