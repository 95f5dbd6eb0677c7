"""What people see: live per-host progress on a terminal, one line per host otherwise, a summary table.

Human text goes to stderr whenever stdout carries the `--json` document, so pipelines stay clean.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from generator.remote import scriptio
from generator.remote.events import Event
from generator.remote.fleet import HostOutcome
from generator.remote.scriptio import Capture
from generator.safetext import shown

STYLE = {0: "green", 1: "red", 3: "yellow", 4: "bold red"}


def safe(text: object) -> str:
    """Host- or record-supplied text for a rich console: `safetext.shown` (controls escaped, capped)
    and no rich markup (a `[/]` from a host would fail the print, a `[link=...]` would be obeyed)."""
    return escape(shown(text))


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
            self.console.print(safe(f"{self.title}: {host}: {detail}"), highlight=False)

    def _table(self) -> Table:
        done = sum(1 for status, step in self._state.values() if step == "host-end")
        table = Table(title=f"{self.title}: {done}/{len(self._state)} hosts done", expand=False)
        for column in ("host", "status", "last step"):
            table.add_column(column)
        for host, (status, step) in self._state.items():
            table.add_row(safe(host), safe(status), safe(step))
        return table


def summary_table(title: str, outcomes: Sequence[HostOutcome]) -> Table:
    table = Table(title=title)
    for column in ("host", "status", "exit", "what happened"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        style = STYLE.get(o.exit_code, "")
        status = safe(o.status)
        table.add_row(
            safe(o.host), f"[{style}]{status}[/]" if style else status, str(o.exit_code), safe(o.summary)
        )
    return table


def plan_lines(outcomes: Sequence[HostOutcome]) -> list[str]:
    """Per pending binding, for the reviewer: the path apply takes, each netsh command it runs, and
    a warning where the prior binding could not be put back."""
    return [
        f"{o.host}: {line}"
        for o in outcomes
        if o.status == "pending"
        for line in scriptio.plan_lines(Capture(o.details.get("capture") or {}))
    ]


def no_undo_lines(planned: Mapping[str, Mapping[str, Any]], accept_no_undo: bool) -> list[str]:
    """Before apply asks: each planned binding that cannot be undone, and what apply will do with it."""
    then = (
        "--accept-no-undo given: apply changes it anyway"
        if accept_no_undo
        else "apply refuses this host, nothing touched, unless --accept-no-undo"
    )
    lines = []
    for host, plan in planned.items():
        for binding in Capture(plan.get("capture") or {}).unrestorable():
            problem = binding.get("undo_problem") or "the prior binding could not be put back"
            lines.append(f"warning: {host}: {binding.get('binding')}: cannot be undone: {problem}; {then}")
    return lines
