"""What people see: live per-host progress on a terminal, one line per host otherwise, a summary table.

Human text goes to stderr whenever stdout carries the `--json` document, so pipelines stay clean.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

from generator.remote.events import Event
from generator.remote.fleet import HostOutcome

STYLE = {0: "green", 1: "red", 3: "yellow", 4: "bold red"}


class Progress:
    """Listens to the event stream; a live table on a terminal, plain lines when not."""

    def __init__(self, console: Console, hosts: Sequence[str], title: str) -> None:
        self.console = console
        self.title = title
        self._lock = threading.Lock()
        self._state = {h: ("waiting", "") for h in hosts}
        self._live: Live | None = None

    def __enter__(self) -> Progress:
        if self.console.is_terminal:
            self._live = Live(self._table(), console=self.console, refresh_per_second=8, transient=True)
            self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(kind, error, tb)
            self._live = None

    def __call__(self, event: Event) -> None:
        host, name = str(event.get("host")), str(event.get("event"))
        with self._lock:
            if host in self._state:
                status = str(event.get("status", "running" if name != "host-end" else "done"))
                self._state[host] = (status, name)
            if self._live is not None:
                self._live.update(self._table())
        if self._live is None and name in ("host-end", "interrupted"):
            detail = event.get("status") or event.get("detail", "")
            self.console.print(f"{self.title}: {host}: {detail}", highlight=False)

    def _table(self) -> Table:
        done = sum(1 for status, step in self._state.values() if step == "host-end")
        table = Table(title=f"{self.title}: {done}/{len(self._state)} hosts done", expand=False)
        for column in ("host", "status", "last step"):
            table.add_column(column)
        for host, (status, step) in self._state.items():
            table.add_row(host, status, step)
        return table


def summary_table(title: str, outcomes: Sequence[HostOutcome]) -> Table:
    table = Table(title=title)
    for column in ("host", "status", "exit", "what happened"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        style = STYLE.get(o.exit_code, "")
        table.add_row(o.host, f"[{style}]{o.status}[/]" if style else o.status, str(o.exit_code), o.summary)
    return table
