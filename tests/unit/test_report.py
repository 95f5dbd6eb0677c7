"""`sslbind report`: the view read from a record, escaping, a record without plan or run, determinism,
and the command's output rules.

Records are rendered for real; plans and runs are added through the client's own writers
(add_plan, new_run, HostLog, the events sink). Only what the hosts' scripts returned is made up
here (fake host results, shaped like apply.ps1's JSON): that is the Windows boundary. The report of
a real lab run is tested in tests/browser/.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator.cli import cli
from generator.errors import UserError
from generator.record import add_plan, check_record, new_run
from generator.remote.events import Events, JsonlSink
from generator.remote.runlog import EVENTS_FILE, RESULT_FILE, RUN_FILE, HostLog, write_json
from generator.report.page import default_output, report_html
from generator.report.read import read_report
from generator.signing import PASSWORD_ENV
from generator.workflow import render_record
from tests.unit.test_signing import make_pfx, osslsigncode  # noqa: F401 (a fixture)

OLD = "8f2c0a4e6b1d3f5a7c9e0b2d4f6a8c1e3b5d7f90"
NEW = "40db5bb1bf5659a155258d1d007c530fcb8996c2"
MAIN = "ipport=0.0.0.0:443"
SNI = "hostnameport=api.contoso.com:443"
HOSTS = ("web01.contoso.local", "web02.contoso.local")
TITLE = "Renew <script>alert(1)</script> <!-- api **now**"
DESCRIPTION = "Line one </pre><script>evil()</script> caf\u00e9\n# heading\n[link](http://x)"
DELETE = "netsh http delete sslcert ipport=0.0.0.0:443"
APPID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
ADD = f"netsh http add sslcert ipport=0.0.0.0:443 certhash={NEW} appid='{APPID}'"
UPDATE = f"netsh http update sslcert hostnameport=api.contoso.com:443 certhash={NEW} certstorename=WebHosting"


def make_record(tmp_path: Path) -> Path:
    spec = {
        "version": 1,
        "change": {"id": "CHG0000042", "title": TITLE, "description": DESCRIPTION},
        "connection": {"protocol": "https", "auth": "negotiate"},
        "targets": [
            {
                "host": host,
                "bindings": [
                    {"ipport": "0.0.0.0:443", "certhash": NEW, "swap": "replace"},
                    {"hostnameport": "api.contoso.com:443", "certhash": NEW, "certstorename": "WebHosting"},
                ],
            }
            for host in HOSTS
        ],
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return render_record(path, tmp_path / "output")


def planned_binding(name: str, path: str, commands: list[str]) -> dict[str, Any]:
    return {
        "binding": name,
        "path": path,
        "swap": "replace" if path == "replace" else "auto",
        "exists": True,
        "differences": [{"setting": "certhash", "actual": OLD, "expected": NEW}],
        "commands": commands,
        "restorable": True,
        "undo_problem": None,
    }


def add_fake_plan(record: Path) -> None:
    hosts = [
        {
            "host": host,
            "status": "pending",
            "summary": f"{MAIN}: replace; {SNI}: update",
            "capture": {  # fake host result: prepare.ps1's capture
                "bindings": [
                    planned_binding(MAIN, "replace", [DELETE, ADD]),
                    planned_binding(SNI, "update", [UPDATE]),
                ]
            },
        }
        for host in HOSTS
    ]
    document = {"kind": "plan", "started_at": "2026-11-30T07:00:00.000Z"}
    add_plan(
        record, {**document, "finished_at": "2026-11-30T07:00:09.000Z", "hosts": hosts}, "20261130T070009Z"
    )


def apply_result(outcome: str, gap_ms: float | None) -> dict[str, Any]:
    """Fake host result: what apply.ps1 returns (the Windows boundary)."""
    actions = [
        {"step": "trial-add", "binding": "ipport=127.0.0.1:50443", "ms": 300, "result": "ok"},
        {"step": "trial-delete", "binding": "ipport=127.0.0.1:50443", "ms": 200, "result": "ok"},
        {"step": "delete", "binding": MAIN, "ms": 250, "result": "ok", "command": DELETE},
    ]
    if outcome == "applied":
        actions += [
            {"step": "add", "binding": MAIN, "ms": 400, "result": "ok", "command": ADD},
            {"step": "update", "binding": SNI, "ms": 350, "result": "ok", "command": UPDATE},
            {"step": "verify", "binding": MAIN, "ms": 900, "result": "ok"},
        ]
    else:
        actions += [
            {"step": "add", "binding": MAIN, "ms": 400, "result": "failed", "command": ADD},
            {"step": "rollback-add", "binding": MAIN, "ms": 380, "result": "ok"},
            {"step": "rollback-verify", "binding": MAIN, "ms": 700, "result": "ok"},
        ]
    gaps = [{"binding": MAIN, "gap_ms": gap_ms}] if gap_ms is not None else []
    bindings = [{"binding": MAIN, "path": "replace"}, {"binding": SNI, "path": "update"}]
    return {"outcome": outcome, "actions": actions, "timings": {"gaps": gaps}, "bindings": bindings}


def add_fake_run(record: Path) -> None:
    """An apply run written the way the client writes one: web01 applied, web02 rolled back."""
    with new_run(record, "20261130T071000.000000Z") as folder:
        write_json(
            folder / RUN_FILE, {"kind": "apply", "plan": "20261130T070009Z.json", "hosts": list(HOSTS)}
        )
        sink = JsonlSink(folder / EVENTS_FILE)
        events = Events(sink)
        clock = iter(f"2026-11-30T07:10:{s:02d}.000Z" for s in range(60))
        results = []
        for host, outcome, status, gap in (
            (HOSTS[0], "applied", "applied", 412.0),
            (HOSTS[1], "rolled_back", "rolled-back", None),
        ):
            log = HostLog(folder, host)
            log.before_start({"before": []}, "2026-11-30T07:10:00.000Z")
            # Events carry fixed timestamps so the expected durations are exact.
            sink({"ts": next(clock), "host": host, "event": "host-start"})
            sink(
                {"ts": next(clock), "host": host, "event": "apply-start", "script": f"hosts/{host}/apply.ps1"}
            )
            sink({"ts": next(clock), "host": host, "event": "apply-end", "duration_s": 3.5, "state": "x"})
            script = apply_result(outcome, gap)
            for action in script["actions"]:
                sink({"ts": next(clock), "host": host, "event": "target-action", **action})
            sink({"ts": next(clock), "host": host, "event": "host-end", "status": status})
            result = {"host": host, "status": status, "summary": f"{host} {status}", "result": script}
            log.outcome(result)
            results.append(result)
        sink.close()
        assert events  # the same sink the client's Events fan out to
        write_json(
            folder / RESULT_FILE, {"kind": "apply", "exit_code": 1, "finished_at": "x", "hosts": results}
        )


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return make_record(tmp_path)


@pytest.fixture
def applied(record: Path) -> Path:
    add_fake_plan(record)
    add_fake_run(record)
    return record


def test_a_record_without_plan_or_run_says_so_and_lists_what_the_spec_asks(record: Path) -> None:
    view = read_report(record)
    assert view.plan is None and view.runs == () and view.integrity.intact
    assert [t.host for t in view.targets] == [HOSTS[0], HOSTS[0], HOSTS[1], HOSTS[1]]
    page = report_html(record).decode("ascii")
    assert 'id="no-plan"' in page and "No plan in this record" in page
    assert 'id="no-run"' in page and "No run in this record" in page
    assert f"certhash={NEW}" in page


def test_every_text_from_the_record_is_escaped_and_the_page_is_ascii(record: Path) -> None:
    data = report_html(record)
    page = data.decode("ascii")  # raises if any byte is not ASCII
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;!-- api **now**" in page
    assert "Line one &lt;/pre&gt;&lt;script&gt;evil()&lt;/script&gt; caf&#233;" in page
    assert "<!-- api" not in page
    assert page.count('<pre class="description">') == 1 and page.count("</pre>") == page.count("<pre")
    assert "http://" not in page.replace("http://x", "") and "<link" not in page and "<img" not in page


def test_the_plan_shows_before_and_after_per_setting_the_commands_and_the_window(applied: Path) -> None:
    view = read_report(applied)
    assert view.plan is not None and view.plan.name == "plans/20261130T070009Z.json"
    host = view.plan.hosts[0]
    main, sni = host.bindings
    assert (main.binding, main.path, main.commands) == (MAIN, "replace", (DELETE, ADD))
    assert [(c.setting, c.before, c.after) for c in main.changes] == [("certhash", OLD, NEW)]
    assert "delete+add" in main.window and "updated in place" in sni.window
    page = report_html(applied).decode("ascii")
    assert DELETE in page and "certstorename=WebHosting" in page
    assert "appid=&#39;{4dc3e181-e14b-4a21-b022-59fc669b0914}&#39;" in page  # quoted, shown verbatim


def test_the_run_gives_each_host_its_outcome_window_and_phases_in_order(applied: Path) -> None:
    (run,) = read_report(applied).runs
    assert (run.kind, run.name, run.sealed, run.exit_code) == (
        "apply",
        "runs/20261130T071000.000000Z",
        True,
        1,
    )
    ok, back = run.hosts
    assert (ok.host, ok.status, ok.rolled_back) == (HOSTS[0], "applied", False)
    assert (back.host, back.status, back.rolled_back) == (HOSTS[1], "rolled-back", True)
    assert [(w.binding, w.gap_ms, w.text) for w in ok.windows] == [
        (MAIN, 412.0, "412 ms without a binding (delete+add)"),
        (SNI, None, "none (updated in place)"),
    ]
    assert back.windows[0].text == "not recorded by the script"
    assert back.windows[1].text == "none: not changed (the script stopped before this binding)"
    names = [s.name for s in ok.steps]
    # The script's steps sit between the event that sent apply.ps1 and the one that saw it end.
    script = ["trial-add", "trial-delete", "delete", "add", "update", "verify"]
    assert names == ["host-start", "apply-start", *script, "apply-end", "host-end"]
    assert ok.steps[0].ms == 1000.0  # host-start to apply-start: the client's capture
    assert (ok.phase_ms("capture"), ok.phase_ms("trial"), ok.phase_ms("change"), ok.phase_ms("rollback")) == (
        1000.0,
        500.0,
        1000.0,
        None,
    )
    assert back.phase_ms("rollback") == 1080.0
    assert ok.duration_s == 9.0  # host-start (:00) to host-end (:09) in the event log


def test_the_page_marks_the_rolled_back_host_and_draws_the_fleet(applied: Path) -> None:
    page = report_html(applied).decode("ascii")
    assert f'<div class="host-run rolled-back" data-host="{HOSTS[1]}" data-status="rolled-back">' in page
    assert f'<div class="host-run" data-host="{HOSTS[0]}" data-status="applied">' in page
    assert page.count("ROLLED BACK") == 1
    assert f'<g class="bar" data-host="{HOSTS[0]}" data-status="applied">' in page
    assert f'<g class="bar" data-host="{HOSTS[1]}" data-status="rolled-back">' in page
    assert "412 ms without a binding" in page


def test_the_same_record_gives_the_same_bytes_wherever_it_lies(applied: Path, tmp_path: Path) -> None:
    first = report_html(applied)
    assert report_html(applied) == first
    copy = shutil.copytree(applied, tmp_path / "elsewhere" / applied.name)
    assert report_html(copy) == first


def test_a_tampered_file_and_an_unsigned_record_are_shown(applied: Path) -> None:
    script = applied / "hosts" / HOSTS[0] / "apply.ps1"
    script.write_bytes(script.read_bytes() + b"\r\n# edited\r\n")
    view = read_report(applied)
    assert view.integrity.problems == tuple(check_record(applied))
    assert any("apply.ps1" in p for p in view.integrity.problems)
    assert view.integrity.signatures.state == "unsigned"
    page = report_html(applied).decode("ascii")
    assert "1 problem(s)" in page and f"changed: hosts/{HOSTS[0]}/apply.ps1" in page


def test_an_unsealed_run_and_a_host_that_never_finished_are_reported(record: Path) -> None:
    folder = record / "runs" / "20261130T080000.000000Z"
    (folder / "hosts" / HOSTS[0]).mkdir(parents=True)
    write_json(folder / RUN_FILE, {"kind": "apply", "hosts": list(HOSTS)})
    write_json(folder / "hosts" / HOSTS[0] / "started.json", {"host": HOSTS[0]})
    (folder / EVENTS_FILE).write_text(
        '{"ts": "2026-11-30T08:00:00.000Z", "host": "h", "event": "host-start"}\n{"tr'
    )
    (run,) = read_report(record).runs
    assert not run.sealed and run.exit_code is None and "1 line(s)" in run.log_problem
    assert [h.status for h in run.hosts] == ["started, outcome unknown", "not started"]
    page = report_html(record).decode("ascii")
    assert "the run was interrupted" in page


def test_not_a_record_is_one_line_exit_2(tmp_path: Path) -> None:
    with pytest.raises(UserError) as caught:
        read_report(tmp_path)
    assert caught.value.exit_code == 2
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.count("\n") == 1 and "not a change record" in result.stderr
    bad = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert bad.exit_code == 2 and "manifest.json is missing" in bad.stderr


def test_cli_writes_beside_the_record_never_overwrites_and_prints_with_dash(applied: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["report", str(applied)])
    assert first.exit_code == 0, first.output
    target = default_output(applied)
    assert target == applied.parent / f"{applied.name}.report.html"
    assert target.read_bytes() == report_html(applied)
    assert check_record(applied) == []  # nothing was added inside the record
    target.write_bytes(b"older page")
    again = runner.invoke(cli, ["report", str(applied)])
    assert again.exit_code == 2 and "already exists" in again.stderr and "--force" in again.stderr
    assert target.read_bytes() == b"older page"
    forced = runner.invoke(cli, ["report", str(applied), "--force"])
    assert forced.exit_code == 0 and target.read_bytes() == report_html(applied)
    shown = runner.invoke(cli, ["report", str(applied), "-o", "-"])
    assert shown.exit_code == 0 and shown.stdout_bytes == report_html(applied)
    folder = runner.invoke(cli, ["report", str(applied), "-o", str(applied.parent)])
    assert folder.exit_code == 2 and "is a folder" in folder.stderr


@pytest.mark.usefixtures("osslsigncode")
def test_a_signed_record_names_its_signer_and_a_broken_signature_is_shown(tmp_path: Path) -> None:
    pfx = make_pfx(tmp_path, "report test signer")
    spec = Path(__file__).resolve().parents[2] / "examples" / "renew-api.yaml"
    args = ["render", str(spec), "-o", str(tmp_path / "out"), "--sign", str(pfx.path)]
    rendered = CliRunner().invoke(cli, args, env={PASSWORD_ENV: pfx.password})
    assert rendered.exit_code == 0, rendered.output
    record = tmp_path / "out" / "CHG0012345"
    signatures = read_report(record).integrity.signatures
    assert signatures.state == "signed", signatures
    assert "CN=report test signer" in signatures.detail and pfx.thumbprint in signatures.detail.upper()
    assert 'id="signature-status">signed<' in report_html(record).decode("ascii")

    script = record / "hosts" / "web01.contoso.local" / "verify.ps1"
    data = script.read_bytes()
    script.write_bytes(data.replace(b"param(", b"param (", 1))  # one byte more, hash and signature broken
    broken = read_report(record).integrity
    assert broken.signatures.state == "broken" and broken.signatures.problems
    assert any("verify.ps1" in p for p in broken.signatures.problems)
    assert any("verify.ps1" in p for p in broken.problems)
