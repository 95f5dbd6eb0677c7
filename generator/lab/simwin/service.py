"""The simulated Windows' data side as one service per lab, on a Unix socket the shims ask.

Every lab pwsh finds the socket in SSLBIND_LAB_SERVICE (env.py). A request is one JSON line,
`{"call": "query" | "netsh", "argv": [...], "pid": <the asking pwsh>, "shell": <its token>}`;
the answer is one JSON document, then the service closes the connection:
`query` answers as `query.answer` does, `netsh` with `{"code": N, "text": "..."}`, and a call the
state cannot answer with `{"failed": "<why>"}`.

One interpreter serves the whole lab: a registry read used to start a Python of its own (57 of
them per apply, about 0.1 CPU s each), so the lab and every test against it paid for interpreters,
not for the simulation. Faults that kill the asking pwsh or drop its connection act on the caller
the request names (`faults.Caller`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.lab.faults import Caller
from generator.lab.simwin import netsh, query
from generator.lab.state import LabStateError, StateFile

REQUEST_MAX_BYTES = 1 << 20  # a request is an argument list; a megabyte is far more than any
log = logging.getLogger("sslbind.lab")


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        line = self.rfile.readline(REQUEST_MAX_BYTES)
        try:
            answer = self.server.answer(json.loads(line), self._waiting)
        except (ValueError, KeyError, TypeError) as error:
            answer = {"failed": f"malformed request to the lab service: {error}"}
        except LabStateError as error:
            answer = {"failed": str(error)}
        with contextlib.suppress(OSError):  # the caller may have been killed by a fault meanwhile
            self.wfile.write(json.dumps(answer).encode("utf-8"))

    def _waiting(self) -> bool:
        """True while the caller keeps its end open (it sends one line and then only reads)."""
        try:
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        except OSError:
            return False
        return peeked != b""


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, store: StateFile, control_dir: Path) -> None:
        self.store, self.control_dir = store, control_dir
        super().__init__(str(path), _Handler)

    def answer(self, request: dict[str, Any], waiting: Callable[[], bool]) -> dict[str, Any]:
        argv = [str(a) for a in request["argv"]]
        caller = Caller(int(request["pid"]), str(request.get("shell") or ""), self.control_dir, waiting)
        if request["call"] == "query":
            return query.answer(argv, self.store, caller)
        if request["call"] == "netsh":
            code, text = netsh.run(argv, self.store, caller)
            return {"code": code, "text": text}
        raise ValueError(f"unknown call {request['call']!r}")


class SimWindowsService:
    """The service of one lab: `start()` listens on `path`, `stop()` closes it and removes it."""

    def __init__(self, path: Path, store: StateFile, control_dir: Path) -> None:
        self.path = path
        self._server = _Server(path, store, control_dir)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sslbind-lab-simwin", daemon=True
        )

    def start(self) -> SimWindowsService:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self.path.unlink(missing_ok=True)
