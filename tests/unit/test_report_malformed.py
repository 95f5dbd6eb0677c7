"""`sslbind report` reads record files as defensively as `record check`: every malformed value is
one line and exit 2 (never a traceback), FIFOs and devices are refused without being opened, and
a huge event log gives a bounded page with a note (adversarial run 2, N6).

The record is test_report's: rendered for real, a plan and an apply run written by the client's
own writers; each case then damages one file the way an editor or an attacker would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from generator.cli import cli
from generator.remote.runlog import EVENTS_FILE, RESULT_FILE, RUN_FILE
from generator.report import timeline
from tests.unit import test_report
from tests.unit.test_report import HOSTS

pytestmark = pytest.mark.timeout(60)  # a FIFO that blocked would hang: fail instead

applied = test_report.applied
record = test_report.record
DEEP = b"[" * 200_000 + b"]" * 200_000


def run_folder(applied: Path) -> Path:
    (folder,) = (applied / "runs").iterdir()
    return folder


def report(applied: Path, tmp_path: Path) -> Result:
    return CliRunner().invoke(cli, ["report", str(applied), "-o", str(tmp_path / "page.html")])


def refused(result: Result, *words: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def edit_events(applied: Path, edit: Callable[[list[dict[str, Any]]], None]) -> Path:
    path = run_folder(applied) / EVENTS_FILE
    events = [json.loads(line) for line in path.read_text().splitlines()]
    edit(events)
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def test_an_event_time_without_a_zone(applied: Path, tmp_path: Path) -> None:
    def naive(events: list[dict[str, Any]]) -> None:
        events[0]["ts"] = "2026-11-30T07:10:00"

    path = edit_events(applied, naive)
    refused(report(applied, tmp_path), str(path), "line 1: ts '2026-11-30T07:10:00' is not an ISO 8601 time")


def test_a_duration_beyond_any_float(applied: Path, tmp_path: Path) -> None:
    def huge(events: list[dict[str, Any]]) -> None:
        events[2]["duration_s"] = 10**400

    path = edit_events(applied, huge)
    refused(report(applied, tmp_path), str(path), "line 3: duration_s 1000", "is not a finite number")


def test_timings_gaps_that_are_not_a_list(applied: Path, tmp_path: Path) -> None:
    path = run_folder(applied) / "hosts" / HOSTS[0] / RESULT_FILE
    result = json.loads(path.read_text())
    result["result"]["timings"]["gaps"] = 5
    path.write_text(json.dumps(result))
    refused(report(applied, tmp_path), str(path), "result.timings.gaps is int, not a list")


@pytest.mark.parametrize(
    "name",
    [
        f"runs/*/{EVENTS_FILE}",
        "plans/*.json",
        f"runs/*/hosts/{HOSTS[0]}/{RESULT_FILE}",
        f"runs/*/{RESULT_FILE}",
        f"runs/*/{RUN_FILE}",
        "manifest.json",
    ],
)
def test_json_nested_too_deeply(applied: Path, tmp_path: Path, name: str) -> None:
    (path,) = [p for p in applied.glob(name) if not p.name.endswith(".sha256")]
    path.write_bytes(DEEP + (b"\n" if path.name == EVENTS_FILE else b""))
    refused(report(applied, tmp_path), str(path), "nests too deeply")


def test_an_event_log_that_is_not_utf8(applied: Path, tmp_path: Path) -> None:
    path = run_folder(applied) / EVENTS_FILE
    path.write_bytes(path.read_bytes() + b'{"host": "\xff\xfe", "event": "x"}\n')
    refused(report(applied, tmp_path), str(path), "is not UTF-8 text")


def plan_file(applied: Path) -> Path:
    (path,) = (applied / "plans").glob("*.json")
    return path


@pytest.mark.parametrize("which", ["events", "plan"])
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_fifo_or_device_is_refused_without_blocking(
    applied: Path, tmp_path: Path, which: str, kind: str
) -> None:
    path = run_folder(applied) / EVENTS_FILE if which == "events" else plan_file(applied)
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    what = "a FIFO" if kind == "fifo" else "a character device"
    refused(report(applied, tmp_path), str(path), f"is {what}, not a regular file")


def test_a_plan_that_is_no_plan_says_so(applied: Path, tmp_path: Path) -> None:
    plan_file(applied).write_text(json.dumps({"kind": "plan", "entries": []}))
    result = report(applied, tmp_path)
    assert result.exit_code == 0, result.output
    assert "is not an sslbind plan (it has no hosts list)" in (tmp_path / "page.html").read_text()


def test_a_huge_event_log_gives_a_bounded_page_with_a_note(
    applied: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cap is lowered for the test (the mechanism is the same at 16 MiB); the log is 40 times
    the cap, and the page stays within a small multiple of it."""
    cap = 256 * 1024
    monkeypatch.setattr(timeline, "EVENTS_MAX_BYTES", cap)
    path = run_folder(applied) / EVENTS_FILE
    line = json.dumps(
        {"ts": "2026-11-30T07:10:30.000Z", "host": HOSTS[0], "event": "noise", "status": "x" * 200}
    )
    with path.open("a") as handle:
        handle.write((line + "\n") * (40 * cap // len(line)))
    size = path.stat().st_size
    assert size > 40 * cap
    result = report(applied, tmp_path)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "page.html").read_text()
    assert f"{EVENTS_FILE}: {size:,} bytes; only its first" in page
    assert len(page) < 10 * cap


def test_a_huge_single_value_is_capped_on_the_page(applied: Path, tmp_path: Path) -> None:
    path = run_folder(applied) / "hosts" / HOSTS[0] / RESULT_FILE
    result = json.loads(path.read_text())
    result["summary"] = "\x1b]0;PWNED\x07" + "y" * 1_000_000
    path.write_text(json.dumps(result))
    done = report(applied, tmp_path)
    assert done.exit_code == 0, done.output
    page = (tmp_path / "page.html").read_text()
    assert "more characters not shown" in page and len(page) < 500_000
    assert "\x1b" not in page and "\\x1b]0;PWNED" in page
