"""The runner without a network: failure classification, the deadline, result parsing, counting."""

from __future__ import annotations

import errno
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
import urllib3
from pypsrp.complex_objects import PSInvocationState
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError

from generator.model import Connection
from generator.remote import runner
from generator.remote.connection import Password, resolve
from generator.remote.runner import (
    AUTHENTICATION,
    DROPPED,
    PROTOCOL,
    TIMEOUT,
    TLS,
    UNREACHABLE,
    ConnectionFailure,
    HostSession,
    RequestCounter,
    ScriptResult,
    classify,
    connect_failure,
)


def _wrapped(inner: Exception) -> requests.ConnectionError:
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/wsman", inner))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "opened", "kind"),
    [
        (requests.exceptions.SSLError("certificate verify failed"), False, TLS),
        (requests.exceptions.ConnectTimeout(), False, UNREACHABLE),
        (requests.exceptions.ReadTimeout(), True, TIMEOUT),
        (_wrapped(urllib3.exceptions.NewConnectionError(None, "refused")), False, UNREACHABLE),  # type: ignore[arg-type]
        (_wrapped(urllib3.exceptions.ProtocolError("Connection aborted.")), True, DROPPED),
        (AuthenticationError("Failed to authenticate the user u with basic"), False, AUTHENTICATION),
        (WSManFaultError(2150858793, "m", "timed out", None, None, None), True, TIMEOUT),
        (WSManFaultError(2150858843, "m", "shell gone", None, None, None), True, PROTOCOL),
        (WinRMTransportError("http", 500, "<html/>"), True, PROTOCOL),
        (ConnectionResetError(104, "Connection reset by peer"), True, DROPPED),
    ],
)
def test_classify_gives_one_line_per_kind(error: Exception, opened: bool, kind: str) -> None:
    failure = classify("web01", error, opened)
    assert failure.kind == kind
    assert str(failure).startswith(f"web01: {kind}: ")
    assert "\n" not in str(failure) and "Traceback" not in str(failure)


def test_classify_does_not_swallow_programming_errors() -> None:
    with pytest.raises(KeyError):
        classify("web01", KeyError("bug"), True)


class FakePowerShell:
    """Stands in for pypsrp's PowerShell: a pipeline that finishes after `polls_needed` receives."""

    polls_needed = 3
    instances: ClassVar[list[FakePowerShell]] = []

    def __init__(self, pool: Any) -> None:
        self.state = PSInvocationState.NOT_STARTED
        self.output: list[Any] = []
        self.streams = type("S", (), {"error": [], "information": [], "warning": []})()
        self.script = ""
        self.parameters: dict[str, Any] = {}
        self.poll_timeouts: list[int | None] = []
        self.stopped = False
        FakePowerShell.instances.append(self)

    def add_script(self, text: str) -> None:
        self.script = text

    def add_parameters(self, parameters: dict[str, Any]) -> None:
        self.parameters = parameters

    def begin_invoke(self) -> None:
        self.state = PSInvocationState.RUNNING

    def poll_invoke(self, timeout: int | None = None) -> None:
        self.poll_timeouts.append(timeout)
        if len(self.poll_timeouts) >= self.polls_needed:
            self.output.append('{"outcome":"applied","n":1}')
            self.state = PSInvocationState.COMPLETED

    def stop(self) -> None:
        self.stopped = True
        self.state = PSInvocationState.STOPPED


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostSession]:
    monkeypatch.setattr(runner, "PowerShell", FakePowerShell)
    FakePowerShell.instances = []
    endpoint = resolve("127.0.0.1", Connection(protocol="http", port=5985, auth="basic", username="u"))
    s = HostSession(endpoint, Password("x"))
    s._pool = object()  # type: ignore[assignment]
    yield s


def test_run_passes_values_as_parameters_not_text(session: HostSession) -> None:
    script = "param([string]$Name) $Name"
    result = session.run(script, {"Name": "'; Remove-Item C:\\ -Recurse; '"}, timeout=30)
    ps = FakePowerShell.instances[0]
    assert ps.script == script
    assert ps.parameters == {"Name": "'; Remove-Item C:\\ -Recurse; '"}
    assert result.state == "Completed" and result.succeeded
    assert result.json_object() == {"outcome": "applied", "n": 1}
    assert ps.poll_timeouts == [20, 20, 20]  # each receive bounded by operation_timeout


def test_deadline_stops_the_pipeline(session: HostSession, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakePowerShell, "polls_needed", 10**9)
    clock = iter(range(0, 1000, 7))
    monkeypatch.setattr(runner.time, "monotonic", lambda: float(next(clock)))
    result = session.run("Start-Sleep 999", {}, timeout=30)
    ps = FakePowerShell.instances[0]
    assert ps.stopped
    assert result.state == runner.TIMED_OUT and not result.succeeded
    # receives shrink to what is left before the deadline
    assert ps.poll_timeouts[-1] is not None and ps.poll_timeouts[-1] <= 20


def test_json_object_takes_the_last_object_and_skips_text() -> None:
    result = ScriptResult(['{"a":1}', "log line", 42, '{"b":2}', "[1]"], [], [], "Completed", 0.1)
    assert result.json_object() == {"b": 2}
    assert ScriptResult(["no json"], [], [], "Completed", 0.1).json_object() is None
    assert not ScriptResult([], ["boom"], [], "Completed", 0.1).succeeded


def test_request_counter_is_per_host_and_thread_safe() -> None:
    counter = RequestCounter()
    threads = [threading.Thread(target=lambda: [counter.add("a") for _ in range(1000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counter.add("b")
    assert counter.snapshot() == {"a": 4000, "b": 1}


def _listen() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server


def test_open_against_a_closed_port_is_unreachable() -> None:
    server = _listen()
    port = server.getsockname()[1]
    server.close()
    endpoint = resolve(
        "127.0.0.1", Connection(protocol="http", port=port, auth="basic", username="u", connection_timeout=3)
    )
    with pytest.raises(ConnectionFailure) as caught:
        HostSession(endpoint, Password("x"), RequestCounter()).open()
    assert caught.value.kind == UNREACHABLE
    text = str(caught.value)  # the endpoint tried, its transport and auth, and what to fix
    assert f" at http://127.0.0.1:{port}/wsman (http, auth basic); " in text
    assert f"nothing accepts connections on port {port}: WinRM is not listening there over http" in text
    assert "--port / --protocol" in text and "\n" not in text


def test_open_against_an_unresolvable_name_says_to_check_the_name() -> None:
    endpoint = resolve("nonexistent.invalid", Connection(auth="basic", username="u", connection_timeout=3))
    with pytest.raises(ConnectionFailure) as caught:
        HostSession(endpoint, Password("x")).open()
    assert caught.value.kind == UNREACHABLE
    text = str(caught.value)
    assert " at https://nonexistent.invalid:5986/wsman (https, auth basic); " in text
    assert "the name nonexistent.invalid does not resolve: check its spelling and DNS" in text


def _connect_error(inner: OSError) -> requests.ConnectionError:
    """The chain requests raises when the TCP connect fails: the socket error is the cause of
    urllib3's NewConnectionError, the reason of a MaxRetryError, wrapped by requests."""
    try:
        try:
            raise inner
        except OSError as socket_error:
            raise urllib3.exceptions.NewConnectionError(
                None, f"Failed to establish: {socket_error}"
            ) from socket_error  # type: ignore[arg-type]
    except urllib3.exceptions.NewConnectionError as new:
        return _wrapped(new)


@pytest.mark.parametrize("code", [errno.EHOSTUNREACH, errno.ENETUNREACH, 10065])  # 10065: Windows
def test_no_route_to_host_names_the_endpoint_and_the_firewall(code: int) -> None:
    endpoint = resolve("192.0.2.10", Connection())  # https 5986, negotiate
    failure = connect_failure(endpoint, _connect_error(OSError(code, "No route to host")))
    assert failure.kind == UNREACHABLE
    assert str(failure).startswith("192.0.2.10: unreachable: ")
    assert " at https://192.0.2.10:5986/wsman (https, auth negotiate); " in str(failure)
    assert "the host is down, or a firewall blocks port 5986 (https)" in str(failure)


def test_connect_failures_are_told_apart_by_their_errno() -> None:
    endpoint = resolve("192.0.2.10", Connection(protocol="http", port=5985))
    refused = connect_failure(endpoint, _connect_error(OSError(errno.ECONNREFUSED, "refused")))
    assert "WinRM is not listening there over http" in str(refused)
    assert "(--port / --protocol or the spec's connection:; WinRM's defaults: http 5985, https 5986)" in str(
        refused
    )
    timed_out = connect_failure(endpoint, requests.exceptions.ConnectTimeout())
    assert "a firewall blocks port 5985 (http)" in str(timed_out)
    tls = connect_failure(endpoint, requests.exceptions.SSLError("wrong version number"))
    assert tls.kind == TLS and "--ca-cert" in str(tls) and "firewall" not in str(tls)
    denied = connect_failure(endpoint, AuthenticationError("Failed to authenticate the user u with ntlm"))
    assert denied.kind == AUTHENTICATION and "check --username, --auth (negotiate)" in str(denied)


def test_open_against_an_untrusted_certificate_is_a_tls_failure(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server = _listen()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def serve() -> None:
        conn, _ = server.accept()
        try:
            context.wrap_socket(conn, server_side=True).recv(1)
        except (ssl.SSLError, OSError):
            pass
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    endpoint = resolve("127.0.0.1", Connection(port=server.getsockname()[1], auth="basic", username="u"))
    counter = RequestCounter()
    with pytest.raises(ConnectionFailure) as caught:
        HostSession(endpoint, Password("x"), counter).open()
    server.close()
    assert caught.value.kind == TLS
    assert counter.get("127.0.0.1") == 1  # the Create request was attempted (and counted) once


def _self_signed(tmp_path: Path) -> tuple[str, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "untrusted")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "c.pem", tmp_path / "k.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)
