"""`sslbind import` and `sslbind rotate`: parse options, call the importers, write the spec, print.

Specs go to stdout or to a new `-o` file (never overwritten); reports and warnings go to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from generator.errors import UserError
from generator.importers.netsh_text import read_netsh
from generator.importers.reg_text import read_reg
from generator.importers.result import ImportResult
from generator.importers.rotate import MIN_DAYS, plan_rotation, rotation_report, rotation_spec
from generator.importers.spec_writer import import_spec, non_default_connection, sorted_bindings
from generator.importers.warnings import binding_warnings
from generator.record import write_new_file

F = TypeVar("F", bound=Callable[..., Any])

_LIVE_NOT_YET = (
    "live {what} (--host without {alt}) needs the remote capture, which is not wired in yet; save "
    "`reg query HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters /s` (or `netsh http show "
    "sslcert`) output on the host and pass it with {alt}"
)


def _connection_options(function: F) -> F:
    """The connection options of `plan`/`apply` (generator.remote.cli), for live mode."""
    from generator.remote.cli import CONNECTION_OPTIONS

    for option in reversed(CONNECTION_OPTIONS):
        function = option(function)
    return function


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_OUT = click.Path(dir_okay=False, path_type=Path)


def write_new(text: str, output: Path | None) -> None:
    """Write to stdout, or atomically to `output` only if it does not exist yet."""
    if output is None:
        click.echo(text, nl=False)
        return
    if output.exists():
        raise UserError(f"{output}: already exists; sslbind never overwrites a file, choose another -o")
    try:
        write_new_file(output, text.encode("utf-8"))  # link(2) refuses an existing file, even in a race
    except OSError as error:
        raise UserError(f"{output}: cannot write: {error.strerror}") from None
    click.echo(f"wrote {output}", err=True)


def _live_import(
    host: str, connection_options: dict[str, Any], timeout: float
) -> tuple[ImportResult, dict[str, object]]:
    """Capture the host (read-only); also the connection to write into the spec (no secret in it)."""
    from generator.importers.live import capture, endpoint_for
    from generator.remote.cli import overrides_from
    from generator.remote.connection import Credentials

    endpoint = endpoint_for(host, overrides_from(connection_options))
    credentials = Credentials() if sys.stdin.isatty() else Credentials(prompt=None)
    return capture(endpoint, credentials, timeout), non_default_connection(endpoint.connection)


@click.command("import")
@click.option("--from-netsh", "netsh_file", type=_FILE, help="Saved `netsh http show sslcert` output.")
@click.option(
    "--from-reg", "reg_file", type=_FILE, help="Saved `reg query ...\\HTTP\\Parameters /s` or a .reg export."
)
@click.option(
    "--host", help="Host to read over PowerShell Remoting; with --from-*: the host name for the spec."
)
@click.option("--encoding", help="Force the input encoding (e.g. cp850, utf-16); detected by default.")
@click.option("--timeout", type=click.FloatRange(1), default=120.0, show_default=True, help="Live: seconds.")
@click.option("-o", "--output", type=_OUT, help="Write the spec to this new file (default: stdout).")
@_connection_options
def import_command(
    netsh_file: Path | None,
    reg_file: Path | None,
    host: str | None,
    encoding: str | None,
    timeout: float,
    output: Path | None,
    **connection_options: Any,
) -> None:
    """Write a spec (mode: exact, every setting spelled out) from a host's existing SSL bindings.

    Reads the host live (--host, connection options as for `plan`; password from SSLBIND_PASSWORD
    or a prompt) or saved output (--from-netsh / --from-reg). Live import changes nothing.
    """
    if netsh_file and reg_file:
        raise UserError("give one of --from-netsh and --from-reg, not both")
    connection: dict[str, object] = {}
    if netsh_file:
        result = read_netsh(netsh_file, encoding)
    elif reg_file:
        result = read_reg(reg_file, encoding)
    elif host:
        result, connection = _live_import(host, connection_options, timeout)
    else:
        raise UserError("nothing to import: give --host HOST, --from-netsh FILE or --from-reg FILE")
    text = import_spec(result, host, connection)
    for remark in result.not_imported:
        click.echo(f"not imported: {remark}", err=True)
    for remark in result.inferred:
        click.echo(f"inferred: {remark}", err=True)
    for warning in binding_warnings(sorted_bindings(result.bindings)):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"imported {len(result.bindings)} binding(s) from {result.source} ({result.format})", err=True)
    write_new(text, output)


@click.command("rotate")
@click.option("--from", "old", required=True, metavar="THUMBPRINT", help="Certificate to replace.")
@click.option("--to", "new", required=True, metavar="THUMBPRINT", help="Certificate to bind instead.")
@click.option("--spec", "spec_file", type=_FILE, help="Spec whose bindings are searched for --from.")
@click.option("--host", help="Search a live host instead of a spec (not available yet).")
@click.option(
    "--min-days",
    type=click.IntRange(min=0),
    default=MIN_DAYS,
    show_default=True,
    help="Live preflight: --to must stay valid at least this many days.",
)
@click.option("-o", "--output", type=_OUT, help="Write the spec to this new file (default: stdout).")
def rotate_command(
    old: str, new: str, spec_file: Path | None, host: str | None, min_days: int, output: Path | None
) -> None:
    """Write a spec that swaps certificate --from for --to on every binding using it, settings kept."""
    if spec_file is None:
        if host:
            raise UserError(_LIVE_NOT_YET.format(what="rotate", alt="--spec FILE"))
        raise UserError("give --spec FILE (the bindings to search for --from)")
    from generator.spec import load_spec

    change = load_spec(spec_file)
    plan = plan_rotation(change.targets, old, new)
    text = rotation_spec(change, plan, str(spec_file))
    for line in rotation_report(plan):
        click.echo(line, err=True)
    click.echo(
        f"preflight of {plan.new} (in store, private key, validity, server auth, {min_days} days) runs "
        "only against a live host; `sslbind plan` on the written spec shows the change per binding",
        err=True,
    )
    write_new(text, output)
