"""The worker pool: bounded, isolating failures, and stopping cleanly on Ctrl-C (no network)."""

from __future__ import annotations

import _thread
import threading
import time
from pathlib import Path

import pytest

from generator.errors import EXIT_FAILED, EXIT_MANUAL, EXIT_OK, EXIT_PENDING
from generator.remote.events import Event, Events, JsonlSink
from generator.remote.fleet import Fleet, HostOutcome, overall_exit


def ok(host: str) -> HostOutcome:
    return HostOutcome(host, "applied", EXIT_OK, "done")


def test_concurrency_is_bounded_by_forks() -> None:
    lock = threading.Lock()
    running, peak = 0, 0

    def work(host: str) -> HostOutcome:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return ok(host)

    hosts = [f"h{i}" for i in range(12)]
    result = Fleet(Events(), forks=3).run(hosts, work)
    assert peak == 3
    assert [o.host for o in result.outcomes] == hosts
    assert result.exit_code == EXIT_OK


def test_one_host_raising_does_not_stop_the_others() -> None:
    def work(host: str) -> HostOutcome:
        if host == "bad":
            raise RuntimeError("boom")
        return ok(host)

    result = Fleet(Events(), forks=2, crash_exit=EXIT_MANUAL).run(["a", "bad", "c"], work)
    statuses = {o.host: (o.status, o.exit_code) for o in result.outcomes}
    assert statuses == {"a": ("applied", 0), "bad": ("error", EXIT_MANUAL), "c": ("applied", 0)}
    assert "boom" in result.outcomes[1].summary


def test_exit_code_severity() -> None:
    def o(code: int) -> HostOutcome:
        return HostOutcome("h", "x", code, "")

    assert overall_exit([o(0), o(3)]) == EXIT_PENDING
    assert overall_exit([o(3), o(1), o(0)]) == EXIT_FAILED
    assert overall_exit([o(1), o(4), o(3)]) == EXIT_MANUAL
    assert overall_exit([]) == EXIT_OK


def test_ctrl_c_starts_no_new_host_and_lets_running_ones_finish() -> None:
    started: list[str] = []
    release = threading.Event()

    def work(host: str) -> HostOutcome:
        started.append(host)
        if host == "h0":
            _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread
            release.wait(5)
        return ok(host)

    timer = threading.Timer(0.5, release.set)
    timer.start()
    events: list[Event] = []
    result = Fleet(Events(events.append), forks=1).run(["h0", "h1", "h2"], work)
    timer.cancel()
    assert started == ["h0"]
    assert result.interrupted
    assert [o.status for o in result.outcomes] == ["applied", "not-started", "not-started"]
    assert result.exit_code == EXIT_FAILED
    assert any(e["event"] == "interrupted" for e in events)


def test_event_log_is_json_lines_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path)
    Events(sink).emit("web01", "captured", bindings=2)
    sink.close()
    line = path.read_text().splitlines()[0]
    assert '"event": "captured"' in line and '"host": "web01"' in line and '"ts": "' in line
    with pytest.raises(FileExistsError):
        JsonlSink(path)


def _show(terminal: bool) -> str:
    from io import StringIO

    from rich.console import Console

    from generator.remote.display import Progress, summary_table

    buffer = StringIO()
    console = Console(file=buffer, force_terminal=terminal, width=100)
    events = Events()
    with Progress(console, ["web01", "web02"], "apply") as progress:
        events.add_listener(progress)
        result = Fleet(events, forks=2).run(["web01", "web02"], ok)
    console.print(summary_table("apply: CHG1", result.outcomes))
    return buffer.getvalue()


def test_progress_is_a_live_table_on_a_terminal_and_lines_otherwise() -> None:
    plain = _show(terminal=False)
    assert "apply: web01: applied" in plain and "apply: web02: applied" in plain
    live = _show(terminal=True)
    assert "web01" in live and "done" in live and "\x1b[" in live  # drawn with terminal control codes
    assert "what happened" in live
