"""The click commands `plan`, `apply`, `verify` and `rollback`: parse options, call operations, print.

Registered on the main group by generator/cli.py. Connection options override the spec's settings
for every host (names follow Ansible's psrp plugin); the password comes only from SSLBIND_PASSWORD
or a hidden prompt.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

from generator.remote.connection import Credentials, Extras, Overrides
from generator.remote.fleet import DEFAULT_FORKS
from generator.remote.signals import StopFlag, deferred

if TYPE_CHECKING:  # operations is imported when a command runs, not at start-up
    from generator.remote.operations import RunOptions

F = TypeVar("F", bound=Callable[..., Any])

CONNECTION_OPTIONS: list[Callable[[F], F]] = [
    click.option("--protocol", type=click.Choice(["https", "http"]), help="Override connection.protocol."),
    click.option("--port", type=click.IntRange(1, 65535), help="Override connection.port."),
    click.option("--path", "wsman_path", help="Override connection.path (default wsman)."),
    click.option(
        "--auth",
        type=click.Choice(["negotiate", "kerberos", "ntlm", "credssp", "basic", "certificate"]),
        help="Override connection.auth.",
    ),
    click.option(
        "--username", help="Override connection.username (password: env SSLBIND_PASSWORD or prompt)."
    ),
    click.option(
        "--cert-validation",
        type=click.Choice(["validate", "ignore"]),
        help="TLS certificate validation (ignore only for tests; a warning is shown).",
    ),
    click.option("--ca-cert", type=click.Path(exists=True, dir_okay=False), help="PEM CA bundle to trust."),
    click.option("--message-encryption", type=click.Choice(["auto", "always", "never"])),
    click.option("--connection-timeout", type=click.IntRange(1), help="TCP connect timeout, seconds."),
    click.option("--read-timeout", type=click.IntRange(1), help="HTTP read timeout, seconds."),
    click.option(
        "--operation-timeout", type=click.IntRange(1), help="WS-Management OperationTimeout, seconds."
    ),
    click.option("--certificate-pem", type=click.Path(exists=True, dir_okay=False)),
    click.option("--certificate-key-pem", type=click.Path(exists=True, dir_okay=False)),
    click.option("--reconnection-retries", type=click.IntRange(0), default=0, show_default=True),
    click.option("--reconnection-backoff", type=click.FloatRange(0), default=2.0, show_default=True),
    click.option("--proxy", help="Proxy URL for the WinRM endpoint."),
    click.option("--ignore-proxy", is_flag=True, help="Ignore proxy settings from the environment."),
    click.option("--negotiate-service", help="Kerberos SPN service (pypsrp default: host)."),
    click.option("--negotiate-hostname-override", help="Host name for the Kerberos SPN."),
    click.option("--negotiate-delegate", is_flag=True, help="Delegate Kerberos credentials."),
    click.option("--configuration-name", default="Microsoft.PowerShell", show_default=True),
    click.option("--max-envelope-size", type=click.IntRange(8192), default=153600, show_default=True),
]

RUN_OPTIONS: list[Callable[[F], F]] = [
    click.option("--host", "hosts", multiple=True, help="Only this host (repeatable); default every host."),
    click.option(
        "--forks",
        type=click.IntRange(1, 500),
        default=DEFAULT_FORKS,
        show_default=True,
        help="Hosts at once.",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(1),
        default=600.0,
        show_default=True,
        help="Deadline for one script on one host, seconds; then the pipeline is stopped.",
    ),
    click.option(
        "--json", "as_json", is_flag=True, help="One JSON document on stdout; human text on stderr."
    ),
    click.option(
        "--require-signer",
        "require_signer",
        multiple=True,
        metavar="THUMBPRINT",
        envvar="SSLBIND_REQUIRE_SIGNER",
        help="Refuse a record not signed by this certificate (SHA-1 thumbprint; repeatable, any one "
        "suffices; env SSLBIND_REQUIRE_SIGNER, space-separated). An unsigned record is refused too.",
    ),
    click.option(
        "--settle",
        type=click.FloatRange(0),
        default=30.0,
        show_default=True,
        help="Seconds a host that lost its connection mid-change may take to finish before sslbind acts.",
    ),
    click.option(
        "--lock-wait",
        type=click.IntRange(0, 3600),
        default=None,
        help="Seconds a host script waits while another sslbind run holds that host's lock, then refuses "
        "with nothing changed (default: the scripts' own, 60).",
    ),
]


def _apply_options(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def overrides_from(kw: dict[str, Any]) -> Overrides:
    extras = Extras(
        reconnection_retries=kw.pop("reconnection_retries"),
        reconnection_backoff=kw.pop("reconnection_backoff"),
        proxy=kw.pop("proxy"),
        ignore_proxy=kw.pop("ignore_proxy"),
        negotiate_service=kw.pop("negotiate_service"),
        negotiate_hostname_override=kw.pop("negotiate_hostname_override"),
        negotiate_delegate=kw.pop("negotiate_delegate"),
        configuration_name=kw.pop("configuration_name"),
        max_envelope_size=kw.pop("max_envelope_size"),
    )
    names = [
        "protocol",
        "port",
        "auth",
        "username",
        "cert_validation",
        "ca_cert",
        "message_encryption",
        "connection_timeout",
        "read_timeout",
        "operation_timeout",
        "certificate_pem",
        "certificate_key_pem",
    ]
    return Overrides(path=kw.pop("wsman_path"), extras=extras, **{n: kw.pop(n) for n in names})


def _signers(kw: dict[str, Any]) -> tuple[str, ...]:
    from generator.signing import required_signers

    return required_signers(kw.pop("require_signer"))


def _credentials() -> Credentials:
    # Prompt only where a person can answer; otherwise the message says to set SSLBIND_PASSWORD.
    if sys.stdin.isatty():
        return Credentials()
    return Credentials(prompt=None)


def _consoles(as_json: bool) -> tuple[Console, Console]:
    """(human, progress) consoles: with --json all human text goes to stderr."""
    err = Console(stderr=True)
    return (err if as_json else Console()), err


def _confirm(text: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return click.confirm(text, default=False, err=True)


def _finish(document: dict[str, Any], exit_code: int, as_json: bool) -> None:
    # The outcome is decided and recorded: a late Ctrl-C must not turn it into "Aborted!" (130).
    with deferred(StopFlag()):
        if as_json:
            click.echo(json.dumps(document, indent=2, sort_keys=True, default=str))
    click.get_current_context().exit(exit_code)


def _run_options(
    kw: dict[str, Any],
    forks: int,
    timeout: float,
    hosts: tuple[str, ...],
    settle: float,
    lock_wait: int | None,
    tls: bool = False,
) -> RunOptions:
    """The RunOptions every command that runs a record's scripts builds from its parsed options."""
    from generator.remote import operations

    return operations.RunOptions(
        overrides_from(kw),
        forks,
        timeout,
        hosts,
        settle=settle,
        tls=tls,
        lock_wait=lock_wait,
        require_signers=_signers(kw),
    )


@click.command()
@click.argument("source", metavar="SPEC_OR_RECORD", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("output"),
    show_default=True,
    help="Where a SPEC's change record is rendered (reused if it holds the same spec).",
)
@_apply_options(RUN_OPTIONS)
@_apply_options(CONNECTION_OPTIONS)
def plan(
    source: Path,
    out_dir: Path,
    hosts: tuple[str, ...],
    forks: int,
    timeout: float,
    as_json: bool,
    settle: float,
    lock_wait: int | None,
    **kw: Any,
) -> None:
    """Read-only: capture each binding, prepare the add command, show the difference; store the plan.

    Exit 0 no change needed, 3 changes pending, 1 error, 2 bad input.
    """
    from generator.remote import operations

    human, progress = _consoles(as_json)
    options = _run_options(kw, forks, timeout, hosts, settle, lock_wait)
    credentials = _credentials()
    operations.preflight(source, options, credentials)
    record = operations.record_for(source, out_dir, human)
    report = operations.plan(record, options, credentials, human, progress)
    _finish(report.document, report.exit_code, as_json)


@click.command()
@click.argument("record_dir", metavar="RECORD", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--accept-no-undo",
    is_flag=True,
    help="Let apply change bindings it has proven it cannot restore, e.g. the old certificate is gone "
    "from the store for good; without it such a host is refused with nothing touched.",
)
@click.option(
    "--tls",
    is_flag=True,
    help="Also handshake from this machine to every binding (its address, or the target's tls_address, "
    "with the binding's SNI) and compare the certificate served with the binding's certhash.",
)
@_apply_options(RUN_OPTIONS)
@_apply_options(CONNECTION_OPTIONS)
def apply(
    record_dir: Path,
    yes: bool,
    accept_no_undo: bool,
    tls: bool,
    hosts: tuple[str, ...],
    forks: int,
    timeout: float,
    as_json: bool,
    settle: float,
    lock_wait: int | None,
    **kw: Any,
) -> None:
    """Run the recorded change on every host; roll back on the target on any failure.

    Needs a plan (`sslbind plan`); refuses tampered scripts and hosts changed since the plan.
    Exit 0 applied, 1 failed and rolled back, 4 not safely restored (manual action) or, with --tls,
    applied but a client gets another certificate (not verified, nothing undone), 2 bad input.
    """
    from generator.remote import operations

    human, progress = _consoles(as_json)
    options = _run_options(kw, forks, timeout, hosts, settle, lock_wait, tls=tls)
    confirm = None if yes else _confirm
    report = operations.apply(record_dir, options, _credentials(), human, progress, confirm, accept_no_undo)
    _finish(report.document, report.exit_code, as_json)


@click.command()
@click.argument("source", metavar="SPEC_OR_RECORD", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--tls",
    is_flag=True,
    help="Also handshake from this machine to every binding (its address, or the target's tls_address, "
    "with the binding's SNI) and compare the certificate served with the binding's certhash.",
)
@_apply_options(RUN_OPTIONS)
@_apply_options(CONNECTION_OPTIONS)
def verify(
    source: Path,
    tls: bool,
    hosts: tuple[str, ...],
    forks: int,
    timeout: float,
    as_json: bool,
    settle: float,
    lock_wait: int | None,
    **kw: Any,
) -> None:
    """Read-only drift check against the desired state, including a TLS handshake on the host to
    each binding; --tls also from here. Exit 0 compliant, 3 drift (a client getting another
    certificate is drift), 1 error."""
    from generator.remote import operations

    human, progress = _consoles(as_json)
    options = _run_options(kw, forks, timeout, hosts, settle, lock_wait, tls=tls)
    credentials = _credentials()
    operations.preflight(source, options, credentials)
    with operations.readable_record(source) as record:
        report = operations.verify(record, options, credentials, human, progress)
    _finish(report.document, report.exit_code, as_json)


@click.command()
@click.argument("record_dir", metavar="RECORD", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--run",
    "run_stamp",
    metavar="STAMP",
    help="Roll back from this apply run (a folder name under RECORD/runs); default per host the newest "
    "apply run that changed it.",
)
@_apply_options(RUN_OPTIONS)
@_apply_options(CONNECTION_OPTIONS)
def rollback(
    record_dir: Path,
    yes: bool,
    run_stamp: str | None,
    hosts: tuple[str, ...],
    forks: int,
    timeout: float,
    as_json: bool,
    settle: float,
    lock_wait: int | None,
    **kw: Any,
) -> None:
    """Restore on each host the prior bindings of the apply run that changed it (checked against the
    plan); resumes a rollback that stopped half-way. Exit 0, 1 or 4 as apply."""
    from generator.remote import operations

    human, progress = _consoles(as_json)
    options = _run_options(kw, forks, timeout, hosts, settle, lock_wait)
    report = operations.rollback(
        record_dir, options, _credentials(), human, progress, None if yes else _confirm, run_stamp
    )
    _finish(report.document, report.exit_code, as_json)


COMMANDS = (plan, apply, verify, rollback)


@click.command("resolve")
@click.argument("record_dir", metavar="RECORD", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_apply_options(RUN_OPTIONS)
@_apply_options(CONNECTION_OPTIONS)
def record_resolve(
    record_dir: Path,
    hosts: tuple[str, ...],
    forks: int,
    timeout: float,
    as_json: bool,
    settle: float,
    lock_wait: int | None,
    **kw: Any,
) -> None:
    """Close what an interrupted apply, rollback or plan left open: re-capture each host whose
    outcome is unknown, write it into its run and seal the run. Exit 0 resolved, 4 a host is in
    neither the desired nor the prior state, 1 a host could not be re-captured (run left open)."""
    from generator.remote.resolve import resolve

    human, progress = _consoles(as_json)
    options = _run_options(kw, forks, timeout, hosts, settle, lock_wait)
    report = resolve(record_dir, options, _credentials(), human, progress)
    _finish(report.document, report.exit_code, as_json)


# Subcommands of `sslbind record` (generator/cli.py adds them to its `record` group).
RECORD_COMMANDS = (record_resolve,)
