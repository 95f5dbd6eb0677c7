"""Stop signals while a change runs (adversarial run F3, F7): SIGTERM and SIGHUP act like Ctrl-C."""

from __future__ import annotations

import os
import signal
import time

import pytest

from generator.errors import EXIT_OK
from generator.remote.events import Events
from generator.remote.fleet import Fleet, HostOutcome
from generator.remote.signals import StopFlag, deferred


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_starts_no_new_host_and_lets_the_running_one_finish(signum: signal.Signals) -> None:
    started: list[str] = []

    def work(host: str) -> HostOutcome:
        started.append(host)
        if host == "a":
            os.kill(os.getpid(), signum)
            time.sleep(0.5)  # still running when the signal arrives
        return HostOutcome(host, "applied", EXIT_OK, "done")

    result = Fleet(Events(), forks=1).run(["a", "b"], work)
    assert started == ["a"]
    assert [(o.host, o.status) for o in result.outcomes] == [("a", "applied"), ("b", "not-started")]
    assert result.interrupted


def test_signals_are_deferred_until_the_block_ends_and_the_handlers_come_back() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    flag = StopFlag()
    with deferred(flag):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert flag.is_set() and flag.signal_name == "SIGTERM"
    assert {s: signal.getsignal(s) for s in before} == before
