"""`sslbind lab init|serve`: parse options and call the lab library; no logic of its own."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from generator.errors import UserError

PASSWORD_ENV = "SSLBIND_LAB_PASSWORD"


def _needs_posix() -> None:
    """The lab is imported only by its own commands: it needs fcntl and /proc, so it runs on Linux
    (and macOS), while the rest of sslbind also runs on a Windows client."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        raise UserError("the lab runs on Linux or macOS (it needs fcntl); use a WSL or Linux shell") from None


@click.group("lab")
def lab() -> None:
    """A local WinRM target running real PowerShell on a simulated Windows HTTP.sys."""


@lab.command("init")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def init(file: Path) -> None:
    """Write a sample lab state to FILE with real certificates (keys in FILE.keys/; refuses to overwrite)."""
    _needs_posix()
    from generator.lab.labcerts import issue_certificates, key_dir_for
    from generator.lab.sample import sample_state
    from generator.lab.state import StateFile

    store = StateFile(file)
    if store.path.exists():  # refused before any key is written
        store.create(sample_state())
    keys = key_dir_for(store.path)
    store.create(issue_certificates(sample_state(), keys))
    click.echo(f"wrote {file} (keys in {keys})")


@lab.command("serve")
@click.option("--state", "state", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to listen on.")
@click.option(
    "--port", default=5985, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port."
)
@click.option("--username", default=None, help="Basic auth user; without it any credentials are accepted.")
@click.option("--password", default=None, help=f"Basic auth password (or env {PASSWORD_ENV}).")
@click.option("--https", is_flag=True, help="Serve HTTPS with a generated self-signed certificate.")
@click.option(
    "--idle-timeout", default=600.0, show_default=True, help="Seconds before an idle shell is closed."
)
@click.option("--tls-front/--no-tls-front", default=True, show_default=True, help="Serve the bindings' TLS.")
def serve(
    state: Path,
    host: str,
    port: int,
    username: str | None,
    password: str | None,
    https: bool,
    idle_timeout: float,
    tls_front: bool,
) -> None:
    """Serve the lab's WinRM endpoint until Ctrl-C or SIGTERM."""
    _needs_posix()
    from generator.lab.server import LabError, LabServer, check_loopback

    check_loopback(host)
    password = password if password is not None else os.environ.get(PASSWORD_ENV)
    if username is not None and not password:
        raise LabError(f"--username {username} needs --password or env {PASSWORD_ENV}")
    if username is None and password:
        raise LabError("a password needs --username (without both, the lab accepts any credentials)")
    server = LabServer(
        state,
        username,
        password,
        host=host,
        port=port,
        https=https,
        idle_timeout=idle_timeout,
        keep_spare=True,
        tls_front=tls_front,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with server:
        if server.ca_cert is not None:
            click.echo(f"tls certificate {server.ca_cert} (pass it to the client as ca_cert)")
        click.echo(f"listening on {server.url}")
        if server.tls_front is not None:  # after the url: scripts read the first line for it
            click.echo(f"tls front: binding port P at loopback port {server.tls_front.port_base} + P")
        while not stop.wait(0.5):
            pass
    click.echo("stopped", err=True)
