"""The `sslbind` command line: parses arguments, calls the library, prints. No logic lives here."""

from __future__ import annotations

from pathlib import Path

import click

from generator import __version__
from generator.doctor.cli import doctor_command
from generator.errors import EXIT_FAILED, UserError
from generator.importers.cli import import_command, rotate_command
from generator.lab.cli import lab
from generator.remote.cli import COMMANDS as REMOTE_COMMANDS
from generator.schema import schema_command


class SslbindGroup(click.Group):
    """Turns a UserError anywhere below into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except UserError as error:
            click.echo(f"sslbind: {error}", err=True)
            ctx.exit(error.exit_code)


@click.group(cls=SslbindGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sslbind")
def cli() -> None:
    """Reviewed, recorded, reversible HTTP.sys SSL binding changes."""


@cli.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("output"),
    show_default=True,
    help="Folder that receives the change record <change.id>/.",
)
def render(spec: Path, out_dir: Path) -> None:
    """Render SPEC into a reviewable change record (never overwrites one)."""
    from generator.workflow import render_record

    record = render_record(spec, out_dir)
    click.echo(f"wrote change record {record}")


@cli.group()
def record() -> None:
    """Work with change records."""


@record.command("check")
@click.argument("record_dir", metavar="RECORD", type=click.Path(exists=True, file_okay=False, path_type=Path))
def record_check(record_dir: Path) -> None:
    """Verify every hash in RECORD's manifests; exit 1 on any changed, missing or unexpected file."""
    from generator.record import by_hand_results, check_record

    problems = check_record(record_dir)
    for problem in problems:
        click.echo(problem)
    for result in by_hand_results(record_dir):
        click.echo(
            f"by hand: {result.relative_to(record_dir).as_posix()} (a saved run result, in no manifest)"
        )
    if problems:
        raise UserError(f"{record_dir}: {len(problems)} integrity problem(s); do not apply", EXIT_FAILED)
    click.echo(f"{record_dir}: intact")


cli.add_command(schema_command)
cli.add_command(import_command)
cli.add_command(rotate_command)
cli.add_command(doctor_command)
cli.add_command(lab)
for remote_command in REMOTE_COMMANDS:
    cli.add_command(remote_command)


def main() -> None:
    cli(prog_name="sslbind")
