"""The lab's WinRM endpoint: an HTTP/1.1 server on loopback, Basic auth, one pwsh per shell.

`LabServer` runs it in background threads of the calling process (for tests and the CLI alike);
`ShellRegistry` maps WS-Management shells to `PwshShell`s and reaps idle or abandoned ones.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import ipaddress
import logging
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from generator.errors import UserError
from generator.lab import wsman
from generator.lab.bridge import SESSION, ShellConfig, ShellGone, find_pwsh
from generator.lab.front import TlsFront
from generator.lab.shells import ConnectionDropped, ShellRecord, ShellRegistry
from generator.lab.simwin.service import SimWindowsService
from generator.lab.state import StateFile
from generator.lab.tls import make_certificate
from generator.lab.wsman import NS, Request, WsmanFault

log = logging.getLogger("sslbind.lab")
POWERSHELL_URI = "http://schemas.microsoft.com/powershell/"
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
ENVELOPE_OVERHEAD = 4096  # bytes kept free for the SOAP around a Receive's base64 payload
POLL_SLICE = 0.25  # how often a waiting Receive looks for a drop request


class LabError(UserError):
    """The lab cannot start as asked."""


def check_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise LabError(f"--host {host}: the lab listens on loopback only (127.0.0.1, ::1 or localhost)")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, lab: LabServer, address: tuple[str, int], tls: ssl.SSLContext | None) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        self.lab = lab
        self.tls = tls
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake happens here, in the connection's own thread, not in accept().
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        with self.connections_lock:
            self.connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self.connections_lock:
                self.connections.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s failed", client_address, exc_info=True)

    def drop_connections(self) -> None:
        with self.connections_lock:
            open_sockets = list(self.connections)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # never the Authorization header
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting; nothing to tell
            self.close_connection = True

    def _authorized(self) -> str | None:
        """The user name when the Basic credentials match (or any when the lab has none set)."""
        lab = self.server.lab
        header = self.headers.get("Authorization", "")
        user, password = "", ""
        if header.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
        if lab.username is None:
            return user or "lab"
        good_user = hmac.compare_digest(user.encode(), lab.username.encode())
        good_password = hmac.compare_digest(password.encode(), (lab.password or "").encode())
        return user if good_user and good_password else None

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        if self.path.rstrip("/").lower() != "/wsman":
            self._send(404, b"")
            return
        user = self._authorized()
        if user is None:
            self._send(401, b"", {"WWW-Authenticate": 'Basic realm="WSMAN"'})
            return
        if not data:  # pypsrp's probe before message encryption; nothing to do in plaintext
            self._send(200, b"")
            return
        request: Request | None = None
        try:
            request = wsman.parse_request(data)
            body = self.server.lab.dispatch(request, user, self.client_address[0])
            self._send(200, body)
        except ConnectionDropped:
            self.close_connection = True
        except WsmanFault as error:
            relates = request.message_id if request else ""
            self._send(error.status, wsman.fault(error, relates, self.server.lab.machine))


class LabServer:
    """The lab endpoint in background threads.

        with LabServer("state.json", "lab", "secret") as lab:
            WSMan("127.0.0.1", port=lab.port, ssl=False, auth="basic", encryption="never", ...)

    `url` is `http://127.0.0.1:PORT/wsman` (https with `https=True`; then `ca_cert` is the PEM to
    trust). Shells idle for `idle_timeout` seconds are closed, as are dropped ones once their
    pipelines end; `stop()` closes every shell and leaves no pwsh behind. `keep_spare` keeps one
    pwsh started ahead for the next Create: faster for one busy server, wasted CPU for many
    servers that see a shell or two each (a fleet of lab hosts), hence off by default.
    """

    def __init__(
        self,
        state_path: str | Path,
        username: str | None = None,
        password: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        https: bool = False,
        pwsh: str | None = None,
        idle_timeout: float = 600.0,
        tls_dir: str | Path | None = None,
        keep_spare: bool = False,
        tls_front: bool = False,
        tls_port_base: int | None = None,
    ) -> None:
        check_loopback(host)
        self.state = StateFile(state_path)
        self.state.read()  # a broken state file is a usage error before anything starts
        pwsh_path = pwsh or find_pwsh()
        if pwsh_path is None:
            raise LabError("pwsh not found: run scripts/setup.sh or set SSLBIND_PWSH to PowerShell 7's pwsh")
        self.username, self.password = username, password
        self.host, self.https, self.machine = host, https, "localhost"
        self._work = Path(tempfile.mkdtemp(prefix="sslbind-lab-"))
        self.ca_cert: Path | None = None
        try:
            tls = self._tls_context(Path(tls_dir) if tls_dir else self._work / "tls") if https else None
            self._http = _HTTPServer(self, (host, port), tls)
        except OSError as error:
            shutil.rmtree(self._work, ignore_errors=True)
            raise LabError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
        self.port: int = self._http.server_address[1]
        self.simwin = SimWindowsService(self._work / "simwin.sock", self.state, self._work)
        config = ShellConfig(pwsh_path, self.state.path, self._work, sys.executable, self.simwin.path)
        self.shells = ShellRegistry(config, idle_timeout, keep_spare)
        self._thread: threading.Thread | None = None
        # The simulated HTTP.sys's TLS side (front.py); None unless asked for.
        self.tls_front: TlsFront | None = TlsFront(self.state, tls_port_base) if tls_front else None

    def _tls_context(self, directory: Path) -> ssl.SSLContext:
        cert, key = make_certificate(directory, self.host)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.ca_cert = cert
        return context

    @property
    def url(self) -> str:
        scheme = "https" if self.https else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/wsman"

    def start(self) -> LabServer:
        self.simwin.start()
        if self.tls_front is not None:
            try:
                self.tls_front.start()
            except BaseException:
                self._http.server_close()
                self.simwin.stop()
                shutil.rmtree(self._work, ignore_errors=True)
                raise
        self._thread = threading.Thread(target=self._http.serve_forever, name="sslbind-lab-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._http.shutdown()  # waits for serve_forever, so only once it has run
        self.shells.close_all()
        self.simwin.stop()
        if self.tls_front is not None:
            self.tls_front.stop()
        self._http.drop_connections()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        shutil.rmtree(self._work, ignore_errors=True)

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- WS-Management operations

    def dispatch(self, request: Request, user: str, client_ip: str) -> bytes:
        handlers = {
            wsman.CREATE: self._create,
            wsman.RECEIVE: self._receive,
            wsman.COMMAND: self._command,
            wsman.SEND: self._send_input,
            wsman.SIGNAL: self._signal,
            wsman.DELETE: self._delete,
            wsman.GET: self._get,
        }
        handler = handlers.get(request.action)
        if handler is None:
            raise WsmanFault(
                "a:ActionNotSupported",
                wsman.ACTION_NOT_SUPPORTED,
                f"the lab does not support {request.action}",
                400,
                True,
            )
        body: list[ET.Element] = handler(request, user, client_ip)
        return wsman.envelope(request.action + "Response", request.message_id, body)

    def _shell(self, request: Request) -> ShellRecord:
        record = self.shells.get(request.shell_id)
        record.check_dropped()
        return record

    def _create(self, request: Request, user: str, client_ip: str) -> list[ET.Element]:
        if not request.resource_uri.startswith(POWERSHELL_URI):
            raise WsmanFault(
                "w:InvalidParameter", wsman.INTERNAL_ERROR, "the lab hosts PowerShell shells only", 400, True
            )
        shell = request.body.find("rsp:Shell", NS)
        creation = request.body.find("rsp:Shell/pwsh:creationXml", NS)
        if shell is None or creation is None or not creation.text:
            raise WsmanFault(
                "w:InvalidParameter",
                wsman.INTERNAL_ERROR,
                "Create needs rsp:Shell with creationXml",
                400,
                True,
            )
        shell_id = shell.get("ShellId") or str(uuid.uuid4()).upper()
        record = self.shells.create(
            shell_id, request.resource_uri, user, client_ip, base64.b64decode(creation.text)
        )
        asked = _text(request.body, "rsp:Shell/rsp:IdleTimeOut")
        if asked:  # the client's rsp:IdleTimeOut, capped by the lab's own
            record.idle_timeout = min(record.idle_timeout, wsman.parse_duration(asked, record.idle_timeout))
        element = wsman.shell_element(shell_id, request.resource_uri, user, client_ip, record.idle_timeout)
        return wsman.create_response(self.url, element, request.resource_uri, shell_id)

    def _receive(self, request: Request, user: str, client_ip: str) -> list[ET.Element]:
        record = self._shell(request)
        stream = request.body.find("rsp:Receive/rsp:DesiredStream", NS)
        command_id = stream.get("CommandId") if stream is not None else None
        guid = uuid.UUID(command_id) if command_id else SESSION
        budget = max(1024, (request.max_envelope - ENVELOPE_OVERHEAD) * 3 // 4)
        deadline = time.monotonic() + max(0.1, request.operation_timeout - 0.5)
        while True:
            record.check_dropped()
            remaining = deadline - time.monotonic()
            try:
                chunks, done = record.pwsh.receive(guid, min(POLL_SLICE, max(remaining, 0)), budget)
            except ShellGone as error:
                raise WsmanFault(
                    "w:InternalError", wsman.SHELL_NOT_FOUND, f"The shell process ended: {error}"
                ) from None
            if chunks:
                record.check_dropped()
                record.last_seen = time.monotonic()
                return wsman.receive_response(chunks, command_id, done)
            if remaining <= 0:
                break
        if command_id is None:
            # RunspacePool.open() does not tolerate the timeout fault; an empty answer makes it ask again.
            return wsman.receive_response([], None, False)
        raise WsmanFault("w:TimedOut", wsman.TIMED_OUT, wsman.TIMED_OUT_TEXT)

    def _command(self, request: Request, user: str, client_ip: str) -> list[ET.Element]:
        record = self._shell(request)
        line = request.body.find("rsp:CommandLine", NS)
        arguments = request.body.find("rsp:CommandLine/rsp:Arguments", NS)
        if line is None or arguments is None or not arguments.text:
            raise WsmanFault(
                "w:InvalidParameter", wsman.INTERNAL_ERROR, "Command needs rsp:Arguments", 400, True
            )
        command_id = line.get("CommandId") or str(uuid.uuid4()).upper()
        guid = uuid.UUID(command_id)
        self._bridge(lambda: record.pwsh.command(guid, base64.b64decode(arguments.text or "")))
        return wsman.command_response(command_id)

    def _send_input(self, request: Request, user: str, client_ip: str) -> list[ET.Element]:
        record = self._shell(request)
        for stream in request.body.findall("rsp:Send/rsp:Stream", NS):
            command_id = stream.get("CommandId")
            guid = uuid.UUID(command_id) if command_id else SESSION
            name = "PromptResponse" if stream.get("Name") == "pr" else "Default"
            data = base64.b64decode(stream.text or "")
            self._bridge(lambda g=guid, d=data, n=name: record.pwsh.send(g, d, n))
        return wsman.simple("SendResponse")

    def _signal(self, request: Request, user: str, client_ip: str) -> list[ET.Element]:
        record = self._shell(request)
        signal_node = request.body.find("rsp:Signal", NS)
        code = _text(request.body, "rsp:Signal/rsp:Code") or ""
        command_id = signal_node.get("CommandId") if signal_node is not None else None
        if not command_id:
            raise WsmanFault(
                "w:InvalidParameter", wsman.INTERNAL_ERROR, "Signal needs a CommandId", 400, True
            )
        guid = uuid.UUID(command_id)
        if code.endswith(wsman.SIGNAL_CTRL_C):
            self._bridge(lambda: record.pwsh.signal(guid))
        elif code == wsman.SIGNAL_TERMINATE:
            self._bridge(lambda: record.pwsh.close_command(guid))
        else:
            raise WsmanFault("w:InvalidParameter", wsman.INTERNAL_ERROR, f"unknown signal {code}", 400, True)
        return wsman.simple("SignalResponse")

    def _delete(self, request: Request, user: str, client_ip: str) -> list[ET.Element]:
        record = self._shell(request)
        self.shells.delete(record.shell_id)
        return []

    def _get(self, request: Request, user: str, client_ip: str) -> list[ET.Element]:
        if request.resource_uri == wsman.CONFIG_URI:
            return wsman.config_response(500)
        record = self._shell(request)
        if not record.pwsh.alive:
            raise WsmanFault(
                "w:InvalidSelectors", wsman.SHELL_NOT_FOUND, "the shell process has ended", 400, True
            )
        return [
            wsman.shell_element(
                record.shell_id, record.resource_uri, record.owner, record.client_ip, record.idle_timeout
            )
        ]

    @staticmethod
    def _bridge(action: Any) -> None:
        try:
            action()
        except ShellGone as error:
            raise WsmanFault(
                "w:InternalError", wsman.SHELL_NOT_FOUND, f"The shell process ended: {error}"
            ) from None


def _text(root: ET.Element, path: str) -> str | None:
    node = root.find(path, NS)
    return node.text.strip() if node is not None and node.text else None
