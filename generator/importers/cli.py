"""`sslbind import` and `sslbind rotate`: parse options, call the importers, write the spec, print.

Specs go to stdout or to a new `-o` file (never overwritten); reports and warnings go to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from generator.errors import UserError, local_fault
from generator.importers.certfacts import CertFacts
from generator.importers.extended import as_added
from generator.importers.netsh_text import read_netsh
from generator.importers.reg_text import read_reg
from generator.importers.result import ImportResult
from generator.importers.rotate import MIN_DAYS, rotation_report, rotation_spec
from generator.importers.served import Served
from generator.importers.spec_writer import ChangeNames, change_names, import_spec, import_warnings
from generator.model import Connection
from generator.record import write_new_file
from generator.safetext import shown

F = TypeVar("F", bound=Callable[..., Any])


def _connection_options(function: F) -> F:
    """The connection options of `plan`/`apply` (generator.remote.cli), for live mode."""
    from generator.remote.cli import CONNECTION_OPTIONS

    for option in reversed(CONNECTION_OPTIONS):
        function = option(function)
    return function


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_OFFLINE = "not checked offline: `sslbind rotate --host` checks it"
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
    except OSError as error:  # exit 1 when the disk is full, 2 when the path cannot be written
        raise local_fault(error, "write", output) from None
    click.echo(f"wrote {output}", err=True)


def _change_options(function: F) -> F:
    """--change-id, --title and --description: the written spec's change, checked as a spec's."""
    options = [
        click.option("--change-id", metavar="ID", help="The spec's change.id (default: derived)."),
        click.option("--title", help="The spec's change.title (default: derived)."),
        click.option("--description", help="The spec's change.description (default: none)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _live_import(
    host: str, connection_options: dict[str, Any], timeout: float
) -> tuple[ImportResult, Connection, dict[str, CertFacts], tuple[Served, ...]]:
    """Capture the host (read-only): bindings, the connection for the spec (no secret), cert facts,
    and what a TLS handshake from the host receives per binding."""
    from generator.importers.live import endpoint_for, live_import
    from generator.remote.cli import overrides_from
    from generator.remote.connection import Credentials

    endpoint = endpoint_for(host, overrides_from(connection_options))
    credentials = Credentials() if sys.stdin.isatty() else Credentials(prompt=None)
    result, certs, served = live_import(endpoint, credentials, timeout)
    return result, endpoint.connection, certs, served


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
@_change_options
@_connection_options
def import_command(
    netsh_file: Path | None,
    reg_file: Path | None,
    host: str | None,
    encoding: str | None,
    timeout: float,
    output: Path | None,
    change_id: str | None,
    title: str | None,
    description: str | None,
    **connection_options: Any,
) -> None:
    """Write a spec (mode: exact, every setting spelled out) from a host's existing SSL bindings.

    Reads the host live (--host, connection options as for `plan`; password from SSLBIND_PASSWORD
    or a prompt) or saved output (--from-netsh / --from-reg). Live import changes nothing; it also
    reports, per binding, which certificate a TLS handshake from the host receives (a NOTE in the
    spec; a warning where it is not the binding's own). A loopback host's port (the lab's) is not
    written into the spec's connection: give --port to plan and apply.
    """
    if netsh_file and reg_file:
        raise UserError("give one of --from-netsh and --from-reg, not both")
    names = change_names(change_id, title, description)
    connection: Connection | None = None
    certs: dict[str, CertFacts] = {}
    served: tuple[Served, ...] = ()
    if netsh_file:
        result = read_netsh(netsh_file, encoding)
    elif reg_file:
        result = read_reg(reg_file, encoding)
    elif host:
        result, connection, certs, served = _live_import(host, connection_options, timeout)
    else:
        raise UserError("nothing to import: give --host HOST, --from-netsh FILE or --from-reg FILE")
    now = datetime.now(UTC)
    text = import_spec(result, host, connection, certs, now, served, names)
    carried = {(block.line, block.binding) for block in result.extended}  # NOTEs in the spec
    for remark in result.not_imported:
        if (remark.line, remark.binding) not in carried:
            click.echo(f"not imported: {shown(remark)}", err=True)
    if result.extended:
        lost = sum(1 for block in result.extended if not as_added(block))
        owners = len({block.binding for block in result.extended})
        click.echo(
            f"extended properties: {len(result.extended)} block(s) on {owners} binding(s) written as "
            f"NOTEs under their bindings; {lost} a delete+add would lose (warned)",
            err=True,
        )
    for remark in result.inferred:
        click.echo(f"inferred: {shown(remark)}", err=True)
    for entry in served:
        click.echo(f"{shown(entry.binding)}: {shown(entry)}", err=True)
    for warning in import_warnings(result, certs, now, served):
        click.echo(f"warning: {shown(warning)}", err=True)
    click.echo(f"imported {len(result.bindings)} binding(s) from {result.source} ({result.format})", err=True)
    write_new(text, output)


@click.command("rotate")
@click.option("--from", "old", required=True, metavar="THUMBPRINT", help="Certificate to replace.")
@click.option("--to", "new", required=True, metavar="THUMBPRINT", help="Certificate to bind instead.")
@click.option("--spec", "spec_file", type=_FILE, help="Search this spec's bindings for --from.")
@click.option("--host", help="Search this host's bindings (read live; preflight of --to on it).")
@click.option("--to-store", metavar="STORE", help="With --spec: the store --to is in (sets certstorename).")
@click.option(
    "--min-days",
    type=click.IntRange(min=0),
    default=MIN_DAYS,
    show_default=True,
    help="Live preflight: --to must stay valid at least this many days.",
)
@click.option("--timeout", type=click.FloatRange(1), default=120.0, show_default=True, help="Live: seconds.")
@click.option("-o", "--output", type=_OUT, help="Write the spec to this new file (default: stdout).")
@_change_options
@_connection_options
def rotate_command(
    old: str,
    new: str,
    spec_file: Path | None,
    host: str | None,
    to_store: str | None,
    min_days: int,
    timeout: float,
    output: Path | None,
    change_id: str | None,
    title: str | None,
    description: str | None,
    **connection_options: Any,
) -> None:
    """Write a spec that swaps certificate --from for --to on every binding using it, settings kept.

    With --spec: that spec, edited: only the certhash values (and certstorename with --to-store),
    the change id and the title change. With --host: a preserve-mode spec naming only the
    certificate, so every other setting is taken from the host at apply time; the certificate --to
    is checked on the host first.
    """
    if spec_file and host:
        raise UserError("give one of --spec and --host, not both")
    if to_store is not None and not spec_file:
        raise UserError("--to-store works with --spec (with --host the store is read from the host)")
    names: ChangeNames = change_names(change_id, title, description)
    if spec_file:
        from generator.importers.rotate_spec import rotate_spec_file, spec_rotation_report

        rotation = rotate_spec_file(spec_file, old, new, to_store, names)
        for line in spec_rotation_report(rotation, to_store):
            click.echo(shown(line), err=True)
        click.echo(f"certificate {rotation.plan.new}: {_OFFLINE}", err=True)
        write_new(rotation.text, output)
        return
    if host:
        from generator.importers.live import endpoint_for, live_rotation
        from generator.remote.cli import overrides_from
        from generator.remote.connection import Credentials

        endpoint = endpoint_for(host, overrides_from(connection_options))
        credentials = Credentials() if sys.stdin.isatty() else Credentials(prompt=None)
        target, plan, warnings = live_rotation(endpoint, credentials, timeout, old, new, min_days)
        targets, origin = [target], f"live host {host}"
        for warning in warnings:
            click.echo(f"warning: {shown(warning)}", err=True)
        checked = f"checked on {host}: in store, private key, valid, server auth, {min_days}+ days left"
    else:
        raise UserError("give --spec FILE or --host HOST (the bindings to search for --from)")
    text = rotation_spec(targets, plan, origin, names)
    for line in rotation_report(plan):
        click.echo(shown(line), err=True)
    click.echo(f"certificate {plan.new}: {checked}", err=True)
    write_new(text, output)
