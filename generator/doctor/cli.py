"""`sslbind doctor`: parse options, run the doctor, print or write the report. No logic lives here."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from generator.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])


def _connection_options(function: F) -> F:
    """The connection options of `import --host` and `plan` (generator.remote.cli)."""
    from generator.remote.cli import CONNECTION_OPTIONS

    for option in reversed(CONNECTION_OPTIONS):
        function = option(function)
    return function


@click.command("doctor")
@click.option("--host", required=True, help="Host to examine over PowerShell Remoting (read-only).")
@click.option("--timeout", type=click.FloatRange(1), default=120.0, show_default=True, help="Seconds.")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON document instead of Markdown.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this new file.",
)
@_connection_options
def doctor_command(
    host: str, timeout: float, as_json: bool, output: Path | None, **connection_options: Any
) -> None:
    """Report what a host is and whether sslbind reads its bindings as netsh shows them. Read-only.

    OS build, PowerShell, language mode, elevation, execution policy, netsh's abilities and help
    texts, every Ssl*BindingInfo registry value, netsh's show text, and a per-binding cross-check of
    sslbind's registry decoding against netsh's own output. Exit 0 consistent, 1 a disagreement or
    a blocking finding (or the host could not be read), 2 bad input.
    """
    from generator.doctor.report import to_json, to_markdown, unread_json
    from generator.doctor.run import doctor, endpoint_summary
    from generator.importers.cli import write_new
    from generator.importers.live import endpoint_for
    from generator.remote.cli import overrides_from
    from generator.remote.connection import Credentials
    from generator.safetext import shown

    if output is not None and output.exists():  # before connecting: nothing is done for nothing
        raise UserError(f"{output}: already exists; sslbind never overwrites a file, choose another -o")
    endpoint = endpoint_for(host, overrides_from(connection_options))
    credentials = Credentials() if sys.stdin.isatty() else Credentials(prompt=None)
    try:
        report = doctor(endpoint, credentials, timeout)
    except UserError as error:  # unreachable or unreadable host: still one JSON document with --json
        if as_json:
            click.echo(json.dumps(unread_json(host, endpoint_summary(endpoint), str(error)), indent=2))
        raise
    text = json.dumps(to_json(report), indent=2) + "\n" if as_json else to_markdown(report)
    write_new(text, output)
    counts = report.counts()
    click.echo(
        f"doctor {host}: {report.outcome}: {len(report.crosscheck.bindings)} binding(s), "
        f"{counts['disagreement']} disagreement(s), {counts['blocking']} blocking, {counts['note']} note(s)",
        err=True,
    )
    for finding in report.findings:
        if finding.severity != "note":
            click.echo(f"{finding.severity}: {shown(finding)}", err=True)
    click.get_current_context().exit(report.exit_code)
