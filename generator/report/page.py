"""The report page of a record, and where it goes by default."""

from __future__ import annotations

from pathlib import Path

from generator.report.html import render_html
from generator.report.read import read_report


def report_html(record: Path) -> bytes:
    """The page for `record` (ASCII bytes); the same record always gives the same bytes."""
    return render_html(read_report(record))


def default_output(record: Path) -> Path:
    """Beside the record, never inside it: every file inside a record is covered by a manifest, and
    `record check` reports any other file as unexpected."""
    folder = record.resolve()
    return folder.parent / f"{folder.name}.report.html"
