"""The lab's simulated-Windows service (generator/lab/simwin/service.py) over its real Unix socket,
without pwsh: answers, failures, and a call whose caller gave up during a fault's hang."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.lab.sample import sample_state
from generator.lab.simwin.service import SimWindowsService
from generator.lab.state import StateFile

CLIENT = Path(__file__).resolve().parents[2] / "generator" / "lab" / "simwin" / "client.py"
MAIN = "0.0.0.0:443"
KEY = r"HKLM:\SYSTEM\CurrentControlSet\Services\HTTP\Parameters\SslBindingInfo\0.0.0.0:443"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[SimWindowsService]:
    store = StateFile(tmp_path / "state.json")
    store.create(sample_state())
    started = SimWindowsService(tmp_path / "simwin.sock", store, tmp_path).start()
    try:
        yield started
    finally:
        started.stop()


def connect(service: SimWindowsService, request: dict[str, Any]) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(service.path))
    sock.sendall(json.dumps(request).encode() + b"\n")
    return sock


def ask(service: SimWindowsService, call: str, *argv: str) -> dict[str, Any]:
    with connect(service, {"call": call, "argv": list(argv), "pid": os.getpid(), "shell": ""}) as sock:
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer: dict[str, Any] = json.loads(b"".join(chunks))
    return answer


def bindings(service: SimWindowsService) -> list[str]:
    state = StateFile(service.path.parent / "state.json").read()
    return [str(b.get("ipport") or b.get("hostnameport")) for b in state["bindings"]]


def test_a_registry_read_is_answered_from_the_state(service: SimWindowsService) -> None:
    answer = ask(service, "query", "get", KEY)
    assert answer["exists"] is True
    names = {value["name"] for value in answer["item"]["values"]}
    assert {"SslCertHash", "AppId", "DefaultSslCertCheckMode"} <= names


def test_netsh_through_the_service_prints_and_exits_as_netsh(service: SimWindowsService) -> None:
    answer = ask(service, "netsh", "http", "show", "sslcert", f"ipport={MAIN}")
    assert answer["code"] == 0 and f"IP:port                      : {MAIN}" in answer["text"]
    missing = ask(service, "netsh", "http", "show", "sslcert", "ipport=10.9.9.9:443")
    assert missing["code"] == 1 and "The system cannot find the file specified." in missing["text"]


def test_the_netsh_client_gives_netsh_s_exit_code_and_output(service: SimWindowsService) -> None:
    env = {**os.environ, "SSLBIND_LAB_SERVICE": str(service.path)}
    shown = subprocess.run(
        [sys.executable, "-S", str(CLIENT), "http", "show", "sslcert", f"ipport={MAIN}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert shown.returncode == 0 and MAIN in shown.stdout
    deleted = subprocess.run(
        [sys.executable, "-S", str(CLIENT), "http", "delete", "sslcert", "ipport=10.9.9.9:443"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert deleted.returncode == 1 and "Error: 2" in deleted.stdout


def test_a_malformed_request_or_unknown_call_fails_in_words(service: SimWindowsService) -> None:
    assert "unknown call" in ask(service, "format-c")["failed"]
    assert "usage:" in ask(service, "query", "get")["failed"]


def test_a_call_whose_caller_gave_up_during_the_hang_never_runs(service: SimWindowsService) -> None:
    with StateFile(service.path.parent / "state.json").transaction() as state:
        state["faults"].append({"on": "delete", "hang": 1, "target": MAIN})
    request = {"call": "netsh", "argv": ["http", "delete", "sslcert", f"ipport={MAIN}"], "pid": os.getpid()}
    connect(service, request).close()  # as a stopped pipeline does: the caller is gone mid-hang
    time.sleep(2)
    assert MAIN in bindings(service)  # the delete never ran
    answer = ask(service, "netsh", "http", "delete", "sslcert", f"ipport={MAIN}")  # the fault fired once
    assert answer["code"] == 0 and MAIN not in bindings(service)


def test_a_caller_that_waits_out_the_hang_gets_its_call_run(service: SimWindowsService) -> None:
    with StateFile(service.path.parent / "state.json").transaction() as state:
        state["faults"].append({"on": "delete", "hang": 1, "target": MAIN})
    answer = ask(service, "netsh", "http", "delete", "sslcert", f"ipport={MAIN}")
    assert answer["code"] == 0 and MAIN not in bindings(service)
