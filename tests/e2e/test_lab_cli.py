"""`sslbind lab init|serve` as a user runs them: output, exit codes and a clean shutdown."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from generator.cli import cli
from generator.lab.state import StateFile

ROOT = Path(__file__).resolve().parents[2]


def test_init_writes_the_sample_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "lab.json"
    runner = CliRunner()
    first = runner.invoke(cli, ["lab", "init", str(target)])
    assert first.exit_code == 0, first.output
    state = StateFile(target).read()
    assert {"ipport": "0.0.0.0:443"}.items() <= state["bindings"][0].items()
    assert state["bindings"][0]["verifyclientcertrevocation"] == "disable"
    second = runner.invoke(cli, ["lab", "init", str(target)])
    assert second.exit_code == 2
    assert "already exists" in second.output
    assert StateFile(target).read() == state


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com"])
def test_serve_refuses_a_non_loopback_host(tmp_path: Path, host: str) -> None:
    state = tmp_path / "lab.json"
    CliRunner().invoke(cli, ["lab", "init", str(state)])
    result = CliRunner().invoke(cli, ["lab", "serve", "--state", str(state), "--host", host])
    assert result.exit_code == 2
    assert "loopback" in result.output


def test_serve_rejects_a_broken_state_file(tmp_path: Path) -> None:
    state = tmp_path / "lab.json"
    state.write_text('{"bindings": [{"certhash": "00"}]}', encoding="utf-8")
    result = CliRunner().invoke(cli, ["lab", "serve", "--state", str(state), "--port", "0"])
    assert result.exit_code == 2
    assert "bindings[0]" in result.output


@pytest.mark.lab
@pytest.mark.pwsh
def test_serve_prints_its_url_and_leaves_no_pwsh_after_sigterm(tmp_path: Path, pwsh: str) -> None:
    state = tmp_path / "lab.json"
    CliRunner().invoke(cli, ["lab", "init", str(state)])
    env = {**os.environ, "SSLBIND_LAB_PASSWORD": "s3cret-Pw", "SSLBIND_PWSH": pwsh}
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from generator.cli import main; main()",
            "lab",
            "serve",
            "--state",
            str(state),
            "--port",
            "0",
            "--username",
            "lab",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline().rstrip("\n")
        match = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)/wsman", line)
        assert match, line
        port = int(match.group(1))
        wsman = WSMan(
            "127.0.0.1",
            port=port,
            ssl=False,
            auth="basic",
            encryption="never",
            username="lab",
            password="s3cret-Pw",
            operation_timeout=5,
            read_timeout=30,
            no_proxy=True,
        )
        pool = RunspacePool(wsman)
        pool.open()
        ps = PowerShell(pool)
        ps.add_script("Start-Sleep -Seconds 60")
        ps.begin_invoke()  # a client that never comes back
        children = psutil.Process(server.pid).children(recursive=True)
        assert any("pwsh" in c.name() or "dotnet" in c.name() for c in children)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(
            c.is_running() and c.status() != "zombie" for c in children
        ):
            time.sleep(0.1)
        assert [c.pid for c in children if c.is_running() and c.status() != "zombie"] == []
        _, errors = server.communicate(timeout=5)
        assert "s3cret-Pw" not in line + errors
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.mark.lab
@pytest.mark.pwsh
def test_serve_https_names_the_certificate_to_trust(tmp_path: Path, pwsh: str) -> None:
    state = tmp_path / "lab.json"
    CliRunner().invoke(cli, ["lab", "init", str(state)])
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from generator.cli import main; main()",
            "lab",
            "serve",
            "--state",
            str(state),
            "--port",
            "0",
            "--https",
        ],
        cwd=ROOT,
        env={**os.environ, "SSLBIND_PWSH": pwsh},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first, second = server.stdout.readline(), server.stdout.readline()
        match = re.fullmatch(r"tls certificate (\S+) \(pass it to the client as ca_cert\)\n", first)
        assert match, first
        assert Path(match.group(1)).read_text(encoding="ascii").startswith("-----BEGIN CERTIFICATE-----")
        assert re.fullmatch(r"listening on https://127\.0\.0\.1:\d+/wsman\n", second), second
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
        assert not Path(match.group(1)).exists()  # the lab's work folder goes with it
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\xff\xfe garbage", ":1: not UTF-8 text; is this a lab state file?"),
        (b'{"bindings": [{"ipport": "0.0.0.0:99999"}]}', "bindings[0].ipport: port '99999' is not"),
        (b'{"bindings": [{"ipport": 443}]}', "bindings[0].ipport: must be a string"),
        (
            b'{"bindings": [{"ipport": "0.0.0.0:443", "revocationfreshnesstime": "x"}]}',
            "bindings[0].revocationfreshnesstime: must be a number from 0 to 4294967295",
        ),
        (
            b'{"bindings": [{"ipport": "0.0.0.0:443", "certhash": 5}]}',
            "bindings[0].certhash: must be a string",
        ),
        (b'{"faults": [{"on": "explode"}]}', "faults[0].on: must be one of add, update, delete, show, set"),
        (b'{"faults": [{"on": "add", "error": "5"}]}', "faults[0].error: must be a win32 error code"),
        (b'{"faults": [{"on": "add", "hang": "1"}]}', "faults[0].hang: must be a number of seconds"),
        (b'{"faults": [{"on": "add", "kill_pwsh": 1}]}', "faults[0].kill_pwsh: must be true or false"),
        (b'{"faults": [{"on": "add", "when": "later"}]}', 'faults[0].when: must be "before" or "after"'),
        (
            b'{"certificates": [{"thumbprint": "ab", "not_after": "soon"}]}',
            "certificates[0].not_after: must be a time like",
        ),
        (b'{"certificates": [{"thumbprint": 7}]}', "certificates[0].thumbprint: must be a string"),
    ],
)
def test_serve_refuses_garbage_or_wrong_typed_state_in_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    state = tmp_path / "lab.json"
    state.write_bytes(content)
    result = CliRunner().invoke(cli, ["lab", "serve", "--state", str(state), "--port", "0"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (line,) = result.output.splitlines()
    assert line.startswith(f"sslbind: {state.resolve()}") and message in line, line


def test_serve_refuses_a_device_as_state_without_reading_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["lab", "serve", "--state", "/dev/zero", "--port", "0"])
    assert result.exit_code == 2
    assert result.output == (
        "sslbind: /dev/zero: is a character device, not a regular file; a lab state must be a regular file\n"
    )


@pytest.mark.lab
@pytest.mark.pwsh
def test_the_lab_password_is_in_no_environment_or_command_line_its_shells_can_read(
    tmp_path: Path, pwsh: str
) -> None:
    """A lab shell runs as the lab's user: it can read /proc of its own pwsh and of the server."""
    secret = "Env-s3cret-Pw"
    state = tmp_path / "lab.json"
    CliRunner().invoke(cli, ["lab", "init", str(state)])
    argv = [sys.executable, "-c", "from generator.cli import main; main()", "lab", "serve"]
    argv += ["--state", str(state), "--port", "0", "--username", "lab"]
    env = {**os.environ, "SSLBIND_LAB_PASSWORD": secret, "SSLBIND_PWSH": pwsh}
    server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)/wsman\n", line)
        assert match, line
        wsman = WSMan(
            "127.0.0.1",
            port=int(match.group(1)),
            ssl=False,
            auth="basic",
            encryption="never",
            username="lab",
            password=secret,
            operation_timeout=5,
            read_timeout=30,
            no_proxy=True,
        )
        with RunspacePool(wsman) as pool:
            ps = PowerShell(pool)
            ps.add_script(f"Get-Content -Raw -LiteralPath /proc/{server.pid}/environ; $PID")
            output = ps.invoke()
            assert not ps.had_errors, ps.streams.error
            assert output and secret not in str(output[0])  # read from inside a lab shell
            children = psutil.Process(server.pid).children(recursive=True)
            assert any("pwsh" in c.name() or "dotnet" in c.name() for c in children)
            for pid in [server.pid, *(c.pid for c in children)]:
                for entry in ("environ", "cmdline"):
                    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                        assert secret.encode() not in Path(f"/proc/{pid}/{entry}").read_bytes(), (pid, entry)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
