"""Run one script text with parameters as one PowerShell pipeline on one host, with a deadline.

Values travel as pipeline parameters (`add_parameters`), never spliced into the script text.
pypsrp has no overall timeout, so `run` polls the pipeline itself and stops it at the deadline.
Connection problems become a `ConnectionFailure` whose text is one clear line, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import requests
from pypsrp.complex_objects import PSInvocationState
from pypsrp.exceptions import (
    AuthenticationError,
    InvalidPSRPOperation,
    WinRMError,
    WinRMTransportError,
    WSManFaultError,
)
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from generator.remote.connection import (
    DEFAULT_PORTS,
    PASSWORD_ENV,
    Endpoint,
    Password,
    pool_kwargs,
    wsman_kwargs,
)

# Failure kinds, each shown to the user as one phrase.
UNREACHABLE = "unreachable"
AUTHENTICATION = "authentication failed"
TLS = "TLS failure"
TIMEOUT = "timeout"
DROPPED = "connection dropped"
PROTOCOL = "remoting error"
SETUP = "client set-up error"

WSMAN_TIMEOUT_FAULT = 2150858793  # 0x80338029 OperationTimeout
STATE_NAMES = {
    PSInvocationState.NOT_STARTED: "NotStarted",
    PSInvocationState.RUNNING: "Running",
    PSInvocationState.STOPPING: "Stopping",
    PSInvocationState.STOPPED: "Stopped",
    PSInvocationState.COMPLETED: "Completed",
    PSInvocationState.FAILED: "Failed",
    PSInvocationState.DISCONNECTED: "Disconnected",
}
TIMED_OUT = "TimedOut"


# Why a connection could not be made, read from the socket error (errno, Linux/macOS and Windows).
REFUSED = "refused"
UNRESOLVABLE = "unresolvable"
NO_ROUTE = "no route"
NO_ANSWER = "no answer"
_REFUSED_ERRNOS = frozenset({errno.ECONNREFUSED, 10061})
_NO_ROUTE_ERRNOS = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, 10065, 10051, 10064})
_NO_ANSWER_ERRNOS = frozenset({errno.ETIMEDOUT, 10060})


class ConnectionFailure(Exception):
    """Talking to a host failed; `str()` is one line: `<host>: <kind>: <detail>`, then, for a
    connection that could not be made, the endpoint tried (`at URL (transport, auth)`) and the fix."""

    def __init__(self, host: str, kind: str, detail: str, where: str = "", hint: str = "") -> None:
        detail = " ".join(detail.split())[:300]
        text = f"{host}: {kind}: {detail}" + (f" at {where}" if where else "") + (f"; {hint}" if hint else "")
        super().__init__(text)
        self.host, self.kind, self.detail, self.where, self.hint = host, kind, detail, where, hint


class RequestCounter:
    """WS-Management requests sent, per host and per action (thread-safe; one serves a whole fleet)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._actions: dict[str, dict[str, int]] = {}

    def add(self, host: str, action: str = "") -> None:
        with self._lock:
            self._counts[host] = self._counts.get(host, 0) + 1
            per_host = self._actions.setdefault(host, {})
            per_host[action] = per_host.get(action, 0) + 1

    def get(self, host: str) -> int:
        with self._lock:
            return self._counts.get(host, 0)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def actions(self, host: str) -> dict[str, int]:
        """Requests of one host by WS-Management action (Create, Receive, Command, Signal, Delete...)."""
        with self._lock:
            return dict(self._actions.get(host, {}))


_ACTION = re.compile(rb"<(?:\w+:)?Action[^>]*>[^<]*/([A-Za-z]+)</(?:\w+:)?Action>")


def _action_of(message: bytes) -> str:
    found = _ACTION.search(message)
    return found.group(1).decode() if found else "?"


def _root_causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        reason = getattr(current, "reason", None)
        nested = [a for a in current.args if isinstance(a, BaseException)]
        if isinstance(reason, BaseException):
            current = reason
        elif nested:  # urllib3 puts the socket error in args, e.g. ProtocolError(text, OSError)
            current = nested[-1]
        else:
            current = current.__cause__ or current.__context__
    return chain


def _connection_error_kind(error: requests.ConnectionError, opened: bool) -> str:
    names = {type(e).__name__ for e in _root_causes(error)}
    refused = {"NewConnectionError", "NameResolutionError", "ConnectionRefusedError", "gaierror"}
    if names & refused and not opened:
        return UNREACHABLE
    return DROPPED if opened else UNREACHABLE


def unreachable_reason(error: BaseException) -> str:
    """refused, unresolvable, no route or no answer, from the error's socket errno ("" if none)."""
    for cause in _root_causes(error):
        if type(cause).__name__ in ("gaierror", "NameResolutionError"):
            return UNRESOLVABLE
        if isinstance(cause, requests.exceptions.ConnectTimeout | TimeoutError):
            return NO_ANSWER
        code = cause.errno if isinstance(cause, OSError) else None
        if isinstance(cause, ConnectionRefusedError) or code in _REFUSED_ERRNOS:
            return REFUSED
        if code in _NO_ROUTE_ERRNOS:
            return NO_ROUTE
        if code in _NO_ANSWER_ERRNOS:
            return NO_ANSWER
    return ""


def connect_hint(endpoint: Endpoint, kind: str, reason: str) -> str:
    """The likely fix for a connection to `endpoint` that could not be made."""
    c = endpoint.connection
    port, other = c.port, "http 5985" if c.protocol == "https" else "https 5986"
    if reason == REFUSED:
        return (
            f"nothing accepts connections on port {port}: WinRM is not listening there over {c.protocol} "
            f"(on the host: Enable-PSRemoting / winrm quickconfig), or the port or protocol is wrong "
            f"(--port / --protocol or the spec's connection:; WinRM's defaults: {c.protocol} "
            f"{DEFAULT_PORTS[c.protocol]}, {other})"
        )
    if reason == UNRESOLVABLE:
        return (
            f"the name {endpoint.host} does not resolve: check its spelling and DNS, or give its IP address"
        )
    if reason in (NO_ROUTE, NO_ANSWER) or kind == UNREACHABLE:
        return (
            f"the host is down, or a firewall blocks port {port} ({c.protocol}) between here and the host: "
            f"check the host is up and WinRM's port is open from this machine (WinRM: 5985 http, 5986 https)"
        )
    if kind == TLS:
        return (
            "if the host's WinRM certificate is not trusted here or names another host, give its CA with "
            "--ca-cert or connect by the name it carries; if that port serves plain http, use --protocol http"
        )
    if kind == AUTHENTICATION:
        return f"check --username, --auth ({c.auth}) and the password ({PASSWORD_ENV})"
    return ""


def connect_failure(endpoint: Endpoint, error: BaseException) -> ConnectionFailure:
    """A failure to open a session on `endpoint`, naming the endpoint tried and the likely fix."""
    failure = classify(endpoint.host, error, opened=False)
    c = endpoint.connection
    where = f"{endpoint.url} ({c.protocol}, auth {c.auth})"
    hint = connect_hint(endpoint, failure.kind, unreachable_reason(error))
    return ConnectionFailure(failure.host, failure.kind, failure.detail, where, hint)


def _detail(error: BaseException) -> str:
    causes = _root_causes(error)
    text = str(causes[-1]) or type(causes[-1]).__name__
    return text.split(" (Caused by")[0]


def classify(host: str, error: BaseException, opened: bool) -> ConnectionFailure:
    """One clear line for a failure while connecting (`opened` False) or after the pool opened."""
    if isinstance(error, ConnectionFailure):
        return error
    if isinstance(error, requests.exceptions.SSLError):
        return ConnectionFailure(host, TLS, _detail(error))
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return ConnectionFailure(host, UNREACHABLE, "no answer to the TCP connect (connection_timeout)")
    if isinstance(error, requests.exceptions.ReadTimeout):
        return ConnectionFailure(host, TIMEOUT, "no reply within read_timeout")
    if isinstance(error, requests.ConnectionError):
        return ConnectionFailure(host, _connection_error_kind(error, opened), _detail(error))
    if isinstance(error, AuthenticationError):
        return ConnectionFailure(host, AUTHENTICATION, "the server rejected the credentials (HTTP 401)")
    if type(error).__module__.startswith("spnego"):
        return ConnectionFailure(host, AUTHENTICATION, _detail(error))
    if isinstance(error, WSManFaultError):
        kind = TIMEOUT if error.code == WSMAN_TIMEOUT_FAULT else PROTOCOL
        return ConnectionFailure(host, kind, f"WS-Management fault {error.code}: {error.reason}")
    if isinstance(error, WinRMTransportError):
        return ConnectionFailure(host, PROTOCOL, f"HTTP {error.code} from the WinRM endpoint")
    if isinstance(error, InvalidPSRPOperation | WinRMError):
        return ConnectionFailure(host, DROPPED if opened else PROTOCOL, _detail(error))
    if isinstance(error, ImportError):
        return ConnectionFailure(host, SETUP, f"{error}; install the sslbind extra for this auth")
    if isinstance(error, ValueError):
        return ConnectionFailure(host, SETUP, str(error))
    if isinstance(error, OSError):
        return ConnectionFailure(host, DROPPED if opened else UNREACHABLE, _detail(error))
    raise error


@dataclass
class ScriptResult:
    """What one pipeline produced. `state` is the PowerShell state name, or TimedOut."""

    output: list[Any]
    errors: list[str]
    messages: list[str]
    state: str
    duration: float
    stop_failed: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.state == "Completed" and not self.errors

    def json_object(self) -> dict[str, Any] | None:
        """The script's one JSON result object: the last output string that parses as an object."""
        for item in reversed(self.output):
            if not isinstance(item, str):
                continue
            try:
                value = json.loads(item)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
        return None


def _error_text(record: Any) -> str:
    text = str(record)
    if not text or text == "None":
        text = str(getattr(record, "message", "") or type(record).__name__)
    return text


def _message_text(record: Any) -> str:
    for attr in ("message_data", "message"):
        value = getattr(record, attr, None)
        if value is not None:
            return str(value)
    return str(record)


def _count_requests(wsman: WSMan, host: str, counter: RequestCounter) -> None:
    """Wrap the transport's send so every WS-Management request is counted."""
    send = wsman.transport.send

    def counted(message: bytes, **kwargs: Any) -> Any:
        counter.add(host, _action_of(message))
        return send(message, **kwargs)

    wsman.transport.send = counted  # type: ignore[method-assign]


class HostSession:
    """One host: a WSMan connection and one runspace pool, opened on enter, closed on exit."""

    def __init__(
        self,
        endpoint: Endpoint,
        password: Password | None,
        counter: RequestCounter | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._password = password
        self._counter = counter
        self._wsman: WSMan | None = None
        self._pool: RunspacePool | None = None

    def __repr__(self) -> str:
        return f"HostSession({self.endpoint.host!r})"

    @property
    def host(self) -> str:
        return self.endpoint.host

    def open(self) -> None:
        try:
            self._wsman = WSMan(**wsman_kwargs(self.endpoint, self._password))
            if self._counter is not None:
                _count_requests(self._wsman, self.host, self._counter)
            self._pool = RunspacePool(self._wsman, **pool_kwargs(self.endpoint))
            self._pool.open()
        except Exception as error:
            self.close()
            raise connect_failure(self.endpoint, error) from None

    def close(self) -> None:
        """Release the pool and socket; a broken connection is not worth another error here."""
        pool, wsman = self._pool, self._wsman
        self._pool = self._wsman = None
        if pool is not None:
            # The shell may be gone or unreachable; then there is nothing left to release.
            with contextlib.suppress(Exception):
                pool.close()
        if wsman is not None:
            wsman.close()

    def __enter__(self) -> HostSession:
        self.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def run(
        self, script: str | tuple[str, ...], parameters: Mapping[str, Any], timeout: float
    ) -> ScriptResult:
        """Run `script` as one pipeline with `parameters`; stop it after `timeout` seconds.

        A tuple is several statements of that one pipeline (the library, then the host script);
        `parameters` go to the last."""
        if self._pool is None:
            raise RuntimeError("HostSession.run before open")
        ps = PowerShell(self._pool)
        statements = (script,) if isinstance(script, str) else script
        for index, statement in enumerate(statements):
            if index:
                ps.add_statement()
            ps.add_script(statement)
        if parameters:
            ps.add_parameters(dict(parameters))
        started = time.monotonic()
        try:
            ps.begin_invoke()
            timed_out = self._poll_until(ps, started + timeout)
        except Exception as error:
            raise classify(self.host, error, opened=True) from None
        stop_failed = self._stop(ps) if timed_out else ""
        return ScriptResult(
            output=list(ps.output),
            errors=[_error_text(e) for e in ps.streams.error],
            messages=[_message_text(m) for m in [*ps.streams.information, *ps.streams.warning]],
            state=TIMED_OUT if timed_out else STATE_NAMES.get(ps.state, str(ps.state)),
            duration=time.monotonic() - started,
            stop_failed=stop_failed,
        )

    def _poll_until(self, ps: PowerShell, deadline: float) -> bool:
        """Receive until the pipeline ends; True when the deadline passed first."""
        operation_timeout = self.endpoint.connection.operation_timeout
        while ps.state == PSInvocationState.RUNNING:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            ps.poll_invoke(timeout=max(1, min(operation_timeout, math.ceil(remaining))))
        return False

    def _stop(self, ps: PowerShell) -> str:
        try:
            ps.stop()
        except Exception as error:
            return classify(self.host, error, opened=True).detail
        return ""
