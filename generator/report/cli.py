"""`sslbind report RECORD [-o FILE] [--force]`: parse, build the page, write it. No logic lives here."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("report")
@click.argument("record_dir", metavar="RECORD", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    help="File to write (default: RECORD.report.html beside the record); '-' for stdout.",
)
@click.option("--force", is_flag=True, help="Replace an existing output file (atomically).")
def report_command(record_dir: Path, output: str | None, force: bool) -> None:
    """One self-contained HTML page of RECORD for the change ticket: what changes per host and
    binding, the record's integrity, and each run's timeline per host. Reads only the record.
    Exit 0 written, 2 bad record or output path."""
    from generator.report.output import write_page
    from generator.report.page import default_output, report_html

    data = report_html(record_dir)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    path = Path(output) if output else default_output(record_dir)
    write_page(path, data, force)
    click.echo(f"wrote {path}", err=True)
