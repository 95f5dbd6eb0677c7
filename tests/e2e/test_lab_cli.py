"""`sslbind lab init|serve` as a user runs them: output, exit codes and a clean shutdown."""

from __future__ import annotations

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
