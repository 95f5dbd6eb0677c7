"""plan/apply/verify/rollback through click without a lab: refusals, exit codes, what gets written."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from generator.cli import cli
from generator.record import add_plan
from generator.remote import scriptio
from generator.remote.fleet import HostOutcome
from generator.remote.scriptio import Capture

NEW = "40db5bb1bf5659a155258d1d007c530fcb8996c2"
APPID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"


def spec(
    tmp_path: Path, host: str, connection: str, change_id: str = "CHG0000001", name: str = "spec.yaml"
) -> Path:
    path = tmp_path / name
    path.write_text(
        "version: 1\n"
        f"change: {{id: {change_id}, title: cli test}}\n"
        f"connection: {connection}\n"
        "targets:\n"
        f"  - host: {host}\n"
        "    bindings:\n"
        f"      - {{ipport: 0.0.0.0:443, certhash: {NEW}, appid: '{APPID}'}}\n"
    )
    return path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def loopback(port: int | None = None) -> str:
    number = port or closed_port()
    return (
        f"{{protocol: http, port: {number}, auth: basic, username: lab, message_encryption: never, "
        "connection_timeout: 2}"
    )


def sslbind(*args: str, password: str | None = "pw") -> Result:
    env = {"SSLBIND_PASSWORD": password} if password is not None else {"SSLBIND_PASSWORD": ""}
    return CliRunner().invoke(cli, list(args), env=env)


def test_basic_over_http_to_a_remote_host_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = spec(tmp_path, "web01.contoso.local", loopback())
    result = sslbind("plan", str(path), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "clear text" in result.stderr and "web01.contoso.local" in result.stderr
    assert not (tmp_path / "out").exists()


def test_missing_password_without_a_terminal_is_a_usage_error(tmp_path: Path) -> None:
    path = spec(tmp_path, "web01.contoso.local", "{auth: ntlm, username: CONTOSO\\\\svc}")
    result = sslbind("plan", str(path), "-o", str(tmp_path / "out"), password=None)
    assert result.exit_code == 2
    assert "SSLBIND_PASSWORD" in result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_host_option_is_a_usage_error(tmp_path: Path) -> None:
    result = sslbind(
        "plan", str(spec(tmp_path, "127.0.0.1", loopback())), "-o", str(tmp_path), "--host", "nope"
    )
    assert result.exit_code == 2 and "--host nope: not a host" in result.stderr


def test_plan_of_an_unreachable_host_exits_1_and_is_stored(tmp_path: Path) -> None:
    result = sslbind(
        "plan", str(spec(tmp_path, "127.0.0.1", loopback())), "-o", str(tmp_path / "out"), "--json"
    )
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)  # stdout holds only the JSON document
    host = document["hosts"][0]
    assert host["status"] == "error" and host["summary"].startswith("127.0.0.1: unreachable: ")
    stored = json.loads(Path(document["plan_file"]).read_text())
    assert stored["hosts"][0]["status"] == "error"
    assert "plan stored in" in result.stderr
    assert sslbind("record", "check", str(tmp_path / "out" / "CHG0000001")).exit_code == 0


def test_apply_after_a_failed_plan_names_the_endpoint_and_says_to_plan_again(tmp_path: Path) -> None:
    port = closed_port()
    out = tmp_path / "out"
    assert sslbind("plan", str(spec(tmp_path, "127.0.0.1", loopback(port))), "-o", str(out)).exit_code == 1
    result = sslbind("apply", str(out / "CHG0000001"), "--yes", "--json")
    assert result.exit_code == 1, result.output
    said = json.loads(result.stdout)["hosts"][0]["summary"]
    assert f"at http://127.0.0.1:{port}/wsman (http, auth basic)" in said
    assert "WinRM is not listening there" in said
    assert "run plan again, then apply" in said


def test_plan_reuses_its_record_but_never_overwrites_another_spec(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = spec(tmp_path, "127.0.0.1", loopback())
    assert sslbind("plan", str(first), "-o", str(out)).exit_code == 1
    again = sslbind("plan", str(first), "-o", str(out))
    assert again.exit_code == 1 and "using change record" in again.output
    other = spec(tmp_path, "127.0.0.1", loopback(), name="other.yaml")
    refused = sslbind("plan", str(other), "-o", str(out))
    assert refused.exit_code == 2 and "different spec" in refused.stderr


def test_apply_needs_a_plan(tmp_path: Path) -> None:
    assert sslbind("render", str(spec(tmp_path, "127.0.0.1", loopback())), "-o", str(tmp_path)).exit_code == 0
    result = sslbind("apply", str(tmp_path / "CHG0000001"), "--yes")
    assert result.exit_code == 2 and "no plan yet" in result.stderr
    assert not (tmp_path / "CHG0000001" / "runs").exists()


def test_apply_refuses_a_tampered_record_and_records_the_refusal(tmp_path: Path) -> None:
    assert sslbind("render", str(spec(tmp_path, "127.0.0.1", loopback())), "-o", str(tmp_path)).exit_code == 0
    record = tmp_path / "CHG0000001"
    script = record / "hosts" / "127.0.0.1" / "apply.ps1"
    script.write_bytes(script.read_bytes().replace(b"netsh", b"netsh ", 1))
    result = sslbind("apply", str(record), "--yes")
    assert result.exit_code == 1
    assert "changed: hosts/127.0.0.1/apply.ps1" in result.stderr
    (run,) = (record / "runs").iterdir()
    refused = json.loads((run / "result.json").read_text())
    assert refused["kind"] == "apply" and refused["exit_code"] == 1 and "apply.ps1" in refused["refused"]


def test_rollback_needs_an_apply(tmp_path: Path) -> None:
    assert sslbind("render", str(spec(tmp_path, "127.0.0.1", loopback())), "-o", str(tmp_path)).exit_code == 0
    result = sslbind("rollback", str(tmp_path / "CHG0000001"), "--yes")
    assert result.exit_code == 2 and "no apply run" in result.stderr


def test_verify_of_a_spec_writes_nothing(tmp_path: Path) -> None:
    path = spec(tmp_path, "127.0.0.1", loopback())
    before = sorted(p.name for p in tmp_path.iterdir())
    result = sslbind("verify", str(path), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["hosts"][0]["status"] == "error"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_one_apply_or_rollback_per_record_at_a_time(tmp_path: Path) -> None:
    from generator.remote.operations import _exclusive

    assert sslbind("render", str(spec(tmp_path, "127.0.0.1", loopback())), "-o", str(tmp_path)).exit_code == 0
    record = tmp_path / "CHG0000001"
    with _exclusive(record):
        for command in ("apply", "rollback"):
            result = sslbind(command, str(record), "--yes")
            assert result.exit_code == 2 and "another apply or rollback" in result.stderr
    released = sslbind("apply", str(record), "--yes")
    assert released.exit_code == 2 and "no plan yet" in released.stderr


# --- zero-downtime changes: plan shows each path, apply --accept-no-undo -------------------------

GONE = "certificate 8f2c0a4e6b1d3f5a7c9e0b2d4f6a8c1e3b5d7f90 is no longer in LocalMachine\\My"
UPDATE_LINE = f"netsh http update sslcert ipport=0.0.0.0:443 certhash={NEW} appid='{APPID}'"


def pending_capture(restorable: bool) -> dict[str, Any]:
    """prepare.ps1's result as a newer script writes it (recorded shape)."""
    return {
        "phase": "prepare",
        "outcome": "changes_pending",
        "before": [{"kind": "ipport", "key": "0.0.0.0:443", "exists": True, "settings": {"certhash": NEW}}],
        "update_supported": {"ipport": True, "hostnameport": True, "ccs": True},
        "bindings": [
            {
                "binding": "ipport=0.0.0.0:443",
                "kind": "ipport",
                "key": "0.0.0.0:443",
                "change": "replace",
                "swap": "auto",
                "path": "update",
                "commands": [UPDATE_LINE],
                "restorable": restorable,
                "undo_problem": None if restorable else GONE,
                "differences": [],
            }
        ],
    }


def rendered(tmp_path: Path) -> Path:
    assert sslbind("render", str(spec(tmp_path, "127.0.0.1", loopback())), "-o", str(tmp_path)).exit_code == 0
    return tmp_path / "CHG0000001"


def test_plan_shows_the_path_its_commands_and_what_cannot_be_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.remote import flow

    def plan_host(ctx: flow.HostContext) -> HostOutcome:
        capture = Capture(pending_capture(restorable=False))
        details = {"capture": capture.raw, "changes": capture.planned_paths()}
        return HostOutcome(ctx.host, "pending", 3, scriptio.describe_plan(capture), details)

    monkeypatch.setattr(flow, "plan_host", plan_host)
    result = sslbind("plan", str(rendered(tmp_path)), "--json")
    assert result.exit_code == 3, result.output
    host = json.loads(result.stdout)["hosts"][0]
    assert host["changes"][0]["path"] == "update" and host["changes"][0]["undo_problem"] == GONE
    human = " ".join(result.stderr.split())
    assert "127.0.0.1: ipport=0.0.0.0:443: update in place: one netsh http update sslcert" in human
    assert f"127.0.0.1: {UPDATE_LINE}" in human
    assert (
        f"127.0.0.1: ipport=0.0.0.0:443: cannot be undone: {GONE} (apply refuses it unless --accept-no-undo)"
    ) in human


def planned_record(tmp_path: Path, restorable: bool) -> Path:
    record = rendered(tmp_path)
    manifest = hashlib.sha256((record / "manifest.json").read_bytes()).hexdigest()
    scripts = {"apply": hashlib.sha256((record / "hosts/127.0.0.1/apply.ps1").read_bytes()).hexdigest()}
    host = {
        "host": "127.0.0.1",
        "status": "pending",
        "capture": pending_capture(restorable),
        "scripts": scripts,
    }
    add_plan(record, {"kind": "plan", "manifest_sha256": manifest, "hosts": [host]})
    return record


@pytest.mark.parametrize("accept", [True, False])
def test_apply_passes_accept_no_undo_and_the_run_log_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, accept: bool
) -> None:
    from generator.remote import flow

    given: list[bool] = []

    def apply_host(
        ctx: flow.HostContext, planned: dict[str, Any], accept_no_undo: bool = False
    ) -> HostOutcome:
        given.append(accept_no_undo)
        return HostOutcome(ctx.host, "applied", 0, "ipport=0.0.0.0:443: updated in place")

    monkeypatch.setattr(flow, "apply_host", apply_host)
    record = planned_record(tmp_path, restorable=False)
    result = sslbind("apply", str(record), "--yes", "--json", *(["--accept-no-undo"] if accept else []))
    assert result.exit_code == 0, result.output
    assert given == [accept]
    (run,) = (record / "runs").iterdir()
    assert json.loads((run / "run.json").read_text())["accept_no_undo"] is accept
    assert json.loads(result.stdout)["accept_no_undo"] is accept
    then = "--accept-no-undo given: apply changes it anyway" if accept else "unless --accept-no-undo"
    warning = f"warning: 127.0.0.1: ipport=0.0.0.0:443: cannot be undone: {GONE}; "
    assert warning in " ".join(result.stderr.split()) and then in result.stderr
    assert "updated in place" in result.stderr
    assert sslbind("record", "check", str(record)).exit_code == 0


def test_apply_help_names_the_risk() -> None:
    text = " ".join(sslbind("apply", "--help").output.split())
    assert "--accept-no-undo" in text
    assert (
        "Let apply change bindings it has proven it cannot restore, e.g. the old certificate is gone" in text
    )
    assert "without it such a host is refused with nothing touched" in text


# --- integrity, locks and the same host twice (adversarial run F4, F7, F10) -----------------------


def test_a_malformed_plan_is_refused_with_exit_1_not_an_internal_error(tmp_path: Path) -> None:
    """F10: a plan edited together with its sidecar into the wrong types touched nothing: exit 1."""
    record = planned_record(tmp_path, restorable=True)
    (plan,) = (record / "plans").glob("*.json")
    document = json.loads(plan.read_text())
    document["hosts"][0]["capture"] = "not a capture"
    data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
    plan.write_bytes(data)
    sidecar = plan.with_name(plan.name + ".sha256")
    sidecar.write_text(f"{hashlib.sha256(data).hexdigest()}  {plan.name}\n")
    result = sslbind("apply", str(record), "--yes")
    assert result.exit_code == 1, result.output
    assert "malformed plan" in result.stderr and "capture" in result.stderr
    assert "internal error" not in result.output


def test_the_same_host_under_two_names_is_refused_naming_both(tmp_path: Path) -> None:
    """F4: 127.0.0.1 and localhost are one machine; one run would race itself."""
    path = spec(tmp_path, "127.0.0.1", loopback())
    text = path.read_text()
    second = text[text.index("  - host:") :].replace("127.0.0.1", "localhost")
    path.write_text(text + second)
    result = sslbind("plan", str(path), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "127.0.0.1 and localhost are the same host" in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_apply_lock_lives_in_the_record_for_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F4: another TMPDIR must not bypass the lock, and nobody else can open it to block the record."""
    from generator.remote.operations import _exclusive

    record = rendered(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "elsewhere"))
    with _exclusive(record):
        lock = record / ".sslbind.lock"
        assert lock.is_file() and (lock.stat().st_mode & 0o777) == 0o600
        result = sslbind("rollback", str(record), "--yes")
        assert result.exit_code == 2 and "another apply or rollback" in result.stderr
    assert sslbind("record", "check", str(record)).exit_code == 0


def test_rollback_names_a_run_that_is_not_an_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.remote import flow

    monkeypatch.setattr(
        flow,
        "apply_host",
        lambda ctx, planned, accept_no_undo=False: HostOutcome(ctx.host, "applied", 0, "ok"),
    )
    record = planned_record(tmp_path, restorable=True)
    assert sslbind("apply", str(record), "--yes").exit_code == 0
    result = sslbind("rollback", str(record), "--yes", "--run", "20000101T000000.000000Z")
    assert result.exit_code == 2 and "--run 20000101T000000.000000Z: not an apply run" in result.stderr


def test_apply_writes_the_prior_and_the_marker_before_the_host_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F2: while apply.ps1 runs, the run folder already holds what is needed to undo it."""
    from generator.remote import flow, runlog

    seen: dict[str, Any] = {}

    def apply_host(
        ctx: flow.HostContext, planned: dict[str, Any], accept_no_undo: bool = False
    ) -> HostOutcome:
        (run,) = (ctx.record.path / "runs").iterdir()
        seen["prior"] = json.loads((run / "hosts" / ctx.host / "prior.json").read_text())
        seen["state"] = runlog.host_state(run, ctx.host).state
        return HostOutcome(ctx.host, "applied", 0, "ok")

    monkeypatch.setattr(flow, "apply_host", apply_host)
    record = planned_record(tmp_path, restorable=True)
    assert sslbind("apply", str(record), "--yes").exit_code == 0
    assert seen["prior"] == pending_capture(True)
    assert seen["state"] == runlog.UNKNOWN
    (run,) = (record / "runs").iterdir()
    assert runlog.host_state(run, "127.0.0.1").state == "applied"
    events = [json.loads(line)["event"] for line in (run / "events.jsonl").read_text().splitlines()]
    assert events.index("prior-recorded") < events.index("host-end")


def test_an_internal_error_before_the_change_started_is_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F10: a client crash before any pipeline ran touched nothing: never "a person must act"."""
    from generator.remote import flow

    def apply_host(
        ctx: flow.HostContext, planned: dict[str, Any], accept_no_undo: bool = False
    ) -> HostOutcome:
        raise AttributeError("'str' object has no attribute 'get'")

    monkeypatch.setattr(flow, "apply_host", apply_host)
    result = sslbind("apply", str(planned_record(tmp_path, restorable=True)), "--yes")
    assert result.exit_code == 1, result.output


def test_record_resolve_clears_a_plan_write_cut_short(tmp_path: Path) -> None:
    """F7: the record is usable again without deleting files by hand."""
    from generator.remote.cli import record_resolve

    record = planned_record(tmp_path, restorable=True)
    orphan = record / "plans" / "29990101T000000.000000Z.json.sha256"
    orphan.write_text(f"{'0' * 64}  {orphan.name[:-7]}\n")
    assert sslbind("record", "check", str(record)).exit_code == 1
    result = CliRunner().invoke(record_resolve, [str(record), "--json"], env={"SSLBIND_PASSWORD": "pw"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cleared"] == [f"plans/{orphan.name}"]
    assert sslbind("record", "check", str(record)).exit_code == 0


def test_record_resolve_seals_a_run_killed_before_any_host_started(tmp_path: Path) -> None:
    from generator.remote.cli import record_resolve

    record = planned_record(tmp_path, restorable=True)
    run = record / "runs" / "20260101T000000.000000Z"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"kind": "apply", "hosts": ["127.0.0.1"]}))
    (run / "events.jsonl").write_text("")
    assert "unsealed" in sslbind("record", "check", str(record)).output
    result = CliRunner().invoke(record_resolve, [str(record), "--json"], env={"SSLBIND_PASSWORD": "pw"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["runs"][0]["sealed"] is True
    assert json.loads((run / "result.json").read_text())["hosts"] == [
        {"host": "127.0.0.1", "status": "not started"}
    ]
    assert sslbind("record", "check", str(record)).exit_code == 0


def test_a_prior_edited_with_the_plan_and_every_checksum_is_still_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F10: prior.json, the plan's capture, the plan sidecar and the run manifest all rewritten
    agree with each other; the write-ahead marker and the event log still witness the real prior."""
    from generator.remote import flow

    monkeypatch.setattr(
        flow,
        "apply_host",
        lambda ctx, planned, accept_no_undo=False: HostOutcome(ctx.host, "applied", 0, "ok"),
    )
    record = planned_record(tmp_path, restorable=True)
    assert sslbind("apply", str(record), "--yes").exit_code == 0
    (run,) = (record / "runs").iterdir()
    forged = pending_capture(True)
    forged["before"][0]["settings"]["certhash"] = "b1" * 20

    def rewrite(path: Path, value: Any) -> str:
        data = (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
        path.write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    prior_sha = rewrite(run / "hosts" / "127.0.0.1" / "prior.json", forged)
    (plan,) = (record / "plans").glob("*.json")
    document = json.loads(plan.read_text())
    document["hosts"][0]["capture"] = forged
    plan_sha = rewrite(plan, document)
    plan.with_name(plan.name + ".sha256").write_text(f"{plan_sha}  {plan.name}\n")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"]["hosts/127.0.0.1/prior.json"] = prior_sha
    (run / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    assert sslbind("record", "check", str(record)).exit_code == 0  # unkeyed: it cannot tell

    result = sslbind("rollback", str(record), "--yes")
    assert result.exit_code == 1, result.output
    assert "127.0.0.1" in result.stderr and "is not the prior its event log recorded" in result.stderr


@pytest.mark.parametrize("lock_wait", [None, 0, 90])
def test_lock_wait_reaches_every_host_s_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lock_wait: int | None
) -> None:
    from generator.remote import flow

    given: list[int | None] = []

    def apply_host(
        ctx: flow.HostContext, planned: dict[str, Any], accept_no_undo: bool = False
    ) -> HostOutcome:
        given.append(ctx.lock_wait)
        return HostOutcome(ctx.host, "applied", 0, "ipport=0.0.0.0:443: updated in place")

    monkeypatch.setattr(flow, "apply_host", apply_host)
    record = planned_record(tmp_path, restorable=True)
    extra = [] if lock_wait is None else ["--lock-wait", str(lock_wait)]
    result = sslbind("apply", str(record), "--yes", "--json", *extra)
    assert result.exit_code == 0, result.output
    assert given == [lock_wait]


def test_lock_wait_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    result = sslbind("verify", str(spec(tmp_path, "127.0.0.1", loopback())), "--lock-wait", "-1")
    assert result.exit_code == 2 and "--lock-wait" in result.output
