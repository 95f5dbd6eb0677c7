"""The `sslbind` command line: parses arguments, calls the library, prints. No logic lives here."""

from __future__ import annotations

import sys

import click

from generator import __version__
from generator.errors import UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sslbind")
def cli() -> None:
    """Reviewed, recorded, reversible HTTP.sys SSL binding changes."""


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except UserError as error:
        click.echo(f"sslbind: {error}", err=True)
        sys.exit(error.exit_code)
