"""The `sslbind` command line: parses arguments, calls the library, prints. No logic lives here."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn, TextIO, cast

import click

from generator import __version__
from generator.doctor.cli import doctor_command
from generator.errors import (
    EXIT_FAILED,
    EXIT_MANUAL,
    UserError,
    error_document,
    local_fault,
    shown_path,
)
from generator.importers.cli import import_command, rotate_command
from generator.lab.cli import lab
from generator.remote.cli import COMMANDS as REMOTE_COMMANDS
from generator.remote.cli import RECORD_COMMANDS
from generator.report.cli import report_command
from generator.safetext import shown
from generator.schema import schema_command

# Commands that change hosts: an OS error escaping them may come after a host changed, so it is
# never reported as "failed, hosts as before" (1) or "nothing changed" (2).
_CHANGING = frozenset({"apply", "rollback"})
_ARGS = "sslbind.args"


class _Watched:
    """A text stream that notes whether anything was written to it (a command's own JSON)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.used = False

    def write(self, text: str) -> int:
        self.used = self.used or bool(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class SslbindGroup(click.Group):
    """Every failure below becomes one line on stderr and its exit code, never a traceback; with
    `--json`, also one JSON document on stdout unless the command already printed its own."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_ARGS] = list(args)  # the raw words, to see --json even when parsing them fails
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        command = _command_name(ctx.meta.get(_ARGS, []))
        watched = _Watched(sys.stdout) if self._wants_json(ctx, command) else None
        try:
            if watched is not None:
                sys.stdout = cast(TextIO, watched)
            _check_utf8(ctx.meta.get(_ARGS, []))
            return super().invoke(ctx)
        except UserError as error:
            _restore(watched)
            self._fail(ctx, watched, str(error), error.exit_code)
        except (OSError, UnicodeEncodeError) as error:
            _restore(watched)
            fault = _fault(error, command)
            self._fail(ctx, watched, str(fault), fault.exit_code)
        except click.ClickException as error:  # usage: click prints it; JSON gets the same words
            _restore(watched)
            _json_error(watched, error.format_message(), error.exit_code)
            raise
        except click.Abort:
            _restore(watched)
            _json_error(watched, "aborted", EXIT_FAILED)
            raise
        finally:
            _restore(watched)

    def _wants_json(self, ctx: click.Context, name: str | None) -> bool:
        command = self.get_command(ctx, name) if name else None
        if command is None or not any("--json" in getattr(p, "opts", ()) for p in command.params):
            return False
        words: list[str] = ctx.meta.get(_ARGS, [])
        return "--json" in (words[: words.index("--")] if "--" in words else words)

    @staticmethod
    def _fail(ctx: click.Context, watched: _Watched | None, message: str, exit_code: int) -> NoReturn:
        click.echo(f"sslbind: {shown(message)}", err=True)  # may quote a host or a record
        _json_error(watched, message, exit_code)
        ctx.exit(exit_code)


def _command_name(words: list[str]) -> str | None:
    """The subcommand among the group's words: the first that is not an option (the group's own
    options, --version and --help, take no value)."""
    return next((word for word in words if not word.startswith("-")), None)


def _restore(watched: _Watched | None) -> None:
    if watched is not None and sys.stdout is cast(TextIO, watched):
        sys.stdout = watched._stream


def _json_error(watched: _Watched | None, message: str, exit_code: int) -> None:
    if watched is not None and not watched.used:
        click.echo(json.dumps(error_document(message, exit_code), indent=2, sort_keys=True))
        watched.used = True


def _check_utf8(words: list[str]) -> None:
    """Records, specs and scripts carry their paths and names as UTF-8 text: refuse anything else
    up front rather than fail half-way (a record path with a Latin-1 byte broke apply's lock)."""
    for word in words:
        try:
            word.encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(
                f"{shown_path(word)}: holds bytes that are not UTF-8; rename it or give another path"
            ) from None


def _fault(error: OSError | UnicodeEncodeError, command: str | None) -> UserError:
    """The one line for an OS error no layer below turned into one."""
    if isinstance(error, UnicodeEncodeError):
        text = shown_path(error.object) if isinstance(error.object, str) else "a path"
        fault = UserError(f"{text}: holds bytes that are not UTF-8; rename it or give another path")
    else:
        fault = local_fault(error)
    if command in _CHANGING:
        return UserError(
            f"{fault}; a host may have been changed: check with `sslbind verify RECORD`", EXIT_MANUAL
        )
    return fault


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
@click.option(
    "--sign",
    "pfx",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Authenticode-sign the library and every script with this code-signing PFX "
    "(password from SSLBIND_SIGN_PASSWORD, else asked; needs osslsigncode).",
)
@click.option(
    "--timestamp-url",
    default=None,
    metavar="URL",
    help="RFC 3161 timestamp server for --sign (keeps signatures valid after the certificate expires).",
)
def render(spec: Path, out_dir: Path, pfx: Path | None, timestamp_url: str | None) -> None:
    """Render SPEC into a reviewable change record (never overwrites one)."""
    from generator.workflow import SignRequest, render_record

    if timestamp_url is not None and pfx is None:
        raise UserError("--timestamp-url needs --sign PFX")
    sign = SignRequest(pfx, _sign_password(), timestamp_url) if pfx is not None else None
    record = render_record(spec, out_dir, sign)
    click.echo(f"wrote change record {record}" + (" (signed)" if sign else ""))


def _sign_password() -> str:
    """The PFX password: SSLBIND_SIGN_PASSWORD, else a hidden prompt; never an argument."""
    from generator.signing import PASSWORD_ENV

    password = os.environ.get(PASSWORD_ENV)
    if password is not None:
        return password
    try:
        return str(click.prompt("PFX password", hide_input=True, default="", show_default=False, err=True))
    except click.Abort:  # end of input, no terminal: nothing was written
        raise UserError(f"no PFX password: set {PASSWORD_ENV} or run in a terminal") from None


@cli.group()
def record() -> None:
    """Work with change records."""


@record.command("check")
@click.argument("record_dir", metavar="RECORD", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--require-signer",
    "require_signer",
    multiple=True,
    metavar="THUMBPRINT",
    envvar="SSLBIND_REQUIRE_SIGNER",
    help="Also fail unless the record is signed by this certificate (repeatable; SSLBIND_REQUIRE_SIGNER).",
)
def record_check(record_dir: Path, require_signer: tuple[str, ...]) -> None:
    """Verify every hash in RECORD's manifests and every signature; exit 1 on any changed, missing
    or unexpected file and any broken, missing, second or foreign signature."""
    from generator.record import by_hand_results, check_record
    from generator.signing import required_signers

    signers = required_signers(require_signer)

    problems = check_record(record_dir)
    for problem in problems:
        click.echo(shown(problem))  # file names are the record's, whoever wrote it
    for result in by_hand_results(record_dir):
        name = shown(result.relative_to(record_dir).as_posix())
        click.echo(f"by hand: {name} (a saved run result, in no manifest)")
    problems += _check_signatures(record_dir, signers)
    if problems:
        raise UserError(f"{record_dir}: {len(problems)} integrity problem(s); do not apply", EXIT_FAILED)
    click.echo(f"{record_dir}: intact")


def _check_signatures(record_dir: Path, signers: tuple[str, ...]) -> list[str]:
    """Print the record's signature status; return its signature problems (already printed)."""
    from generator.record import read_manifest
    from generator.signing import signature_problems

    report, problems = signature_problems(record_dir, read_manifest(record_dir), signers)
    for problem in problems:
        click.echo(shown(problem))
    if not report.signed:
        click.echo("signatures: unsigned (rendered without --sign)")
        return problems
    if report.subject:
        click.echo(
            f"signatures: {report.files} file(s) signed by {shown(report.subject)}, "
            f"thumbprint {report.thumbprint}" + (" (problems above)" if problems else ", all valid")
        )
    if report.library:
        click.echo(f"library: {report.library} (signature aside)")
    if report.expired_on:
        click.echo(
            f"note: the signer's certificate expired on {report.expired_on}; Windows refuses these "
            "signatures under AllSigned unless they carry a timestamp"
        )
    return problems


cli.add_command(schema_command)
cli.add_command(import_command)
cli.add_command(rotate_command)
cli.add_command(doctor_command)
cli.add_command(lab)
cli.add_command(report_command)
for record_command in RECORD_COMMANDS:
    record.add_command(record_command)
for remote_command in REMOTE_COMMANDS:
    cli.add_command(remote_command)


def _console_safe() -> None:
    """A console or pipe whose encoding cannot show a character (cp1252 on Windows, a C locale)
    shows it as an escape instead of failing the command after its work is done."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if encoding != "utf8" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main() -> None:
    _console_safe()
    cli(prog_name="sslbind")
