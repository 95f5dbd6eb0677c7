"""One `pwsh -s` process per WinRM shell, spoken to through PowerShell's out-of-process packets.

Packets are single lines: `<Data Stream='Default' PSGuid='g'>BASE64</Data>`, `<Command PSGuid='g' />`,
`<Signal …/>`, `<Close …/>` and their `…Ack` answers (reference psrp-winrm.md §4). pwsh handles each
line on a thread-pool thread, so the bridge keeps at most one packet outstanding per target and
waits for its ack: a Command is acknowledged before its data goes out, commands are closed before
the session. Every pwsh is its own process group and gets SIGKILL when the thread that spawned it
dies (PR_SET_PDEATHSIG), so no pwsh outlives the lab, even on SIGKILL of the server.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import ctypes
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from generator.lab import fragments
from generator.lab.faults import ENV_SHELL_ID
from generator.lab.simwin.env import ENV_SERVICE, ENV_STATE

SESSION = uuid.UUID(int=0)
SIMWIN = Path(__file__).resolve().parent / "simwin"
INIT_SCRIPT = SIMWIN / "SimWindows.ps1"
SHIM_BIN = SIMWIN / "bin"
PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # holds the `generator` package
SECRET_ENV = ("SSLBIND_LAB_PASSWORD", "SSLBIND_PASSWORD")
# PowerShell's Enter-PSHostProcess socket, created in the temp directory when a runspace opens and
# never removed when the process is killed: CoreFxPipe_PSHost.<start time hex>.<pid>.<appdomain>.<name>.
# The pid is the real PowerShell process (the launcher's child), not the launcher.
HOST_PIPE_PREFIX = "CoreFxPipe_PSHost."
ACK_TIMEOUT = 60.0  # a session Data, Command, Signal or Close: milliseconds, unless the machine is swamped
START_TIMEOUT = 180.0  # creationXml: pwsh must start .NET and open the runspace first
COMMAND_DATA_TIMEOUT = 5.0  # pwsh may hold a command's DataAck for input flow control
CLOSE_TIMEOUT = 3.0
_PACKET = re.compile(r"^<(\w+) (?:Stream='(\w+)' )?PSGuid='([0-9a-fA-F-]+)'\s*/?>(?:([^<]*)</Data>)?\s*$")
_PR_SET_PDEATHSIG = 1


class ShellGone(Exception):
    """The pwsh behind a shell has exited; the message says how, with its stderr tail."""


def find_pwsh() -> str | None:
    """pwsh from SSLBIND_PWSH, the repository's .tools, or PATH."""
    candidates = [os.environ.get("SSLBIND_PWSH"), str(PACKAGE_PARENT / ".tools" / "pwsh" / "pwsh")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("pwsh")


# --- spawning: one long-lived thread, because PR_SET_PDEATHSIG fires when the spawning *thread* ends


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_SpawnRequest = tuple[list[str], dict[str, str], "Future[subprocess.Popen[bytes]]"]


class _Spawner:
    def __init__(self) -> None:
        self._requests: queue.Queue[_SpawnRequest] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sslbind-lab-spawner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            argv, env, future = self._requests.get()
            try:
                future.set_result(
                    subprocess.Popen(
                        argv,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        env=env,
                        start_new_session=True,
                        preexec_fn=_die_with_parent,
                    )
                )
            except BaseException as error:  # handed to the caller's thread
                future.set_exception(error)

    def spawn(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        future: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((argv, env, future))
        return future.result()


_spawner: _Spawner | None = None
_spawner_lock = threading.Lock()
_spawned: dict[int, float] = {}  # pid -> create_time, for the no-orphan check


def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            scrub_own_secrets()  # before the first pwsh exists, so none ever sees them
            _spawner = _Spawner()
    process = _spawner.spawn(argv, env)
    with contextlib.suppress(psutil.Error):
        _spawned[process.pid] = psutil.Process(process.pid).create_time()
    return process


def surviving_processes() -> list[psutil.Process]:
    """Processes of the pwsh process groups this Python process started that are still running.

    The pwsh launcher starts the real PowerShell as a child, so the whole group counts.
    """
    alive = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) in _spawned and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
    return alive


# --- secrets in this process's own /proc entries


def _blocks() -> tuple[tuple[int, int], tuple[int, int]] | None:
    """(start, end) of this process's argument and environment blocks (/proc/self/stat 48-51)."""
    try:
        fields = Path("/proc/self/stat").read_text().rpartition(")")[2].split()
        arg_start, arg_end, env_start, env_end = (int(f) for f in fields[45:49])
    except (OSError, ValueError):
        return None
    return (arg_start, arg_end), (env_start, env_end)


def _zero(address: int, block: bytes, spans: list[tuple[int, int]]) -> None:
    for start, end in spans:
        if 0 <= start < end <= len(block):
            ctypes.memset(address + start, 0, end - start)


def _secret_spans(block: bytes) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Byte spans to blank in the environment block and in the argument block (`block` is either;
    the caller picks). Environment: the values of SECRET_ENV. Arguments: the value of --password."""
    env_spans: list[tuple[int, int]] = []
    arg_spans: list[tuple[int, int]] = []
    offset, previous = 0, b""
    for entry in block.split(b"\0"):
        name, sep, _value = entry.partition(b"=")
        if sep and name.decode("utf-8", "replace") in SECRET_ENV:
            env_spans.append((offset + len(name) + 1, offset + len(entry)))
        if previous == b"--password":
            arg_spans.append((offset, offset + len(entry)))
        elif entry.startswith(b"--password="):
            arg_spans.append((offset + len(b"--password="), offset + len(entry)))
        offset, previous = offset + len(entry) + 1, entry
    return env_spans, arg_spans


def scrub_own_secrets() -> None:
    """Blank the lab password in this process's initial environment and argument blocks.

    A script in a lab shell runs as the same user and can read /proc/<lab pid>/environ and
    /proc/<lab pid>/cmdline; those show the blocks the kernel set up at exec, which removing the
    variable from os.environ does not touch. The blocks live in this process's memory, so they are
    overwritten in place. Python keeps its own copies (os.environ, sys.argv): nothing here reads
    the blocks again. Linux only; elsewhere there is no /proc to read them from.
    """
    blocks = _blocks()
    if blocks is None:
        return
    for (start, end), pick in zip(blocks, (1, 0), strict=True):
        with contextlib.suppress(OSError):
            with open("/proc/self/mem", "rb") as mem:  # the block as the kernel shows it
                mem.seek(start)
                block = mem.read(end - start)
            _zero(start, block, _secret_spans(block)[pick])


# --- one pwsh


@dataclass
class _Target:
    """A PSGuid: the session (all zeros) or one command."""

    expected: str | None = None  # the ack the outstanding packet waits for
    output: collections.deque[bytes] = field(default_factory=collections.deque)
    finished: bool = False  # a terminal PIPELINE_STATE went out to the client
    ended: bool = False  # pwsh has sent a terminal PIPELINE_STATE (delivered or not)
    open: bool = True


@dataclass(frozen=True)
class ShellConfig:
    pwsh: str
    state_path: Path
    control_dir: Path
    python: str
    service: Path  # the socket of the lab's simulated Windows (simwin/service.py)


class PwshShell:
    """The pwsh process serving one WinRM shell."""

    def __init__(self, config: ShellConfig) -> None:
        # The shims name this process by its token (drop requests); a spare has no WinRM shell yet.
        self.token = uuid.uuid4().hex
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._targets: dict[uuid.UUID, _Target] = {SESSION: _Target()}
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._exit: str | None = None
        self._closed = False
        argv = [config.pwsh, "-NoLogo", "-NoProfile", "-s", "-Command", ". " + _quote(str(INIT_SCRIPT))]
        self._process = _spawn(argv, _child_env(self.token, config))
        self.pid = self._process.pid
        self._spawned_at = time.time()
        self._pids = {self.pid}  # the launcher and the PowerShell process(es) it started
        self._temp_dir = Path(_child_temp_dir())
        self._threads = [
            threading.Thread(target=self._read_stdout, name=f"pwsh-out-{self.pid}", daemon=True),
            threading.Thread(target=self._read_stderr, name=f"pwsh-err-{self.pid}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # -- reading

    def _read_stdout(self) -> None:
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            self._handle_line(raw.decode("utf-8", "replace").strip())
        code = self._process.wait()
        with self._cond:
            if self._exit is None:
                self._exit = f"pwsh (pid {self.pid}) exited with code {code}"
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self._process.stderr is not None
        for raw in self._process.stderr:
            self._stderr.append(raw.decode("utf-8", "replace").rstrip())

    def _handle_line(self, line: str) -> None:
        match = _PACKET.match(line)
        if match is None:
            if line:
                self._stderr.append(line)
            return
        kind, _stream, guid_text, payload = match.groups()
        guid = uuid.UUID(guid_text)
        with self._cond:
            target = self._targets.setdefault(guid, _Target())
            if kind == "Data":
                for piece in fragments.split(base64.b64decode(payload or "")):
                    target.output.append(piece)
                    if fragments.pipeline_state(piece) in fragments.TERMINAL_STATES:
                        target.ended = True
            elif target.expected == kind:
                target.expected = None
            self._cond.notify_all()

    # -- writing

    def _write(self, line: str) -> None:
        assert self._process.stdin is not None
        with self._write_lock:
            self._process.stdin.write(line.encode("utf-8") + b"\n")
            self._process.stdin.flush()

    def _exchange(
        self, guid: uuid.UUID, packet: str, ack: str, timeout: float, required: bool = True
    ) -> None:
        """Sends one packet once the target has none outstanding, then waits for its ack."""
        with self._cond:
            target = self._targets.setdefault(guid, _Target())
            prior = time.monotonic() + max(timeout, ACK_TIMEOUT)  # an ack held back for flow control
            self._wait(lambda: target.expected is None, prior, f"{packet} (previous packet unanswered)")
            target.expected = ack
        deadline = time.monotonic() + timeout
        try:
            self._write(packet)
        except OSError:
            self._raise_gone()
        with self._cond:
            answered = self._wait(lambda: target.expected != ack, deadline, packet, raise_timeout=required)
            if not answered and not required:
                return  # stays outstanding: the next packet for this target waits for the ack

    def _wait(self, done: Callable[[], bool], deadline: float, what: str, raise_timeout: bool = True) -> bool:
        while not done():
            if self._exit is not None:
                self._raise_gone()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if raise_timeout:
                    raise ShellGone(f"pwsh (pid {self.pid}) did not acknowledge {what} in time")
                return False
            self._cond.wait(remaining)
        return True

    def _raise_gone(self) -> None:
        tail = " | ".join(line for line in self._stderr if line)[-1500:]
        raise ShellGone(f"{self._exit or 'pwsh is not running'}{': ' + tail if tail else ''}")

    @staticmethod
    def _data(guid: uuid.UUID, data: bytes, stream: str) -> str:
        encoded = base64.b64encode(data).decode("ascii")
        return f"<Data Stream='{stream}' PSGuid='{guid}'>{encoded}</Data>"

    # -- operations

    def send(
        self, guid: uuid.UUID, data: bytes, stream: str = "Default", timeout: float | None = None
    ) -> None:
        """A Data packet for the session or a command (stream Default or PromptResponse)."""
        if timeout is None:
            timeout = ACK_TIMEOUT if guid == SESSION else COMMAND_DATA_TIMEOUT
        self._exchange(guid, self._data(guid, data, stream), "DataAck", timeout, required=guid == SESSION)

    def command(self, guid: uuid.UUID, create_pipeline: bytes) -> None:
        """A new pipeline: Command, wait for CommandAck, then its CREATE_PIPELINE data."""
        with self._cond:
            self._targets[guid] = _Target()  # a re-used CommandId starts afresh
        self._note_pids()  # the runspace is open by now, and with it the host pipe
        self._exchange(guid, f"<Command PSGuid='{guid}' />", "CommandAck", ACK_TIMEOUT)
        self.send(guid, create_pipeline)

    def signal(self, guid: uuid.UUID) -> None:
        """Ctrl+C: stop the pipeline. The command still counts as open: pwsh closes the session
        only after a Close for every command, signalled or not."""
        self._exchange(guid, f"<Signal PSGuid='{guid}' />", "SignalAck", ACK_TIMEOUT)

    def close_command(self, guid: uuid.UUID) -> None:
        with self._cond:
            target = self._targets.get(guid)
            if target is None or not target.open:
                return
            target.open = False
        self._exchange(guid, f"<Close PSGuid='{guid}' />", "CloseAck", CLOSE_TIMEOUT, required=False)

    def receive(self, guid: uuid.UUID, timeout: float, budget: int) -> tuple[list[bytes], bool]:
        """Waits up to `timeout` for output; returns fragments (about `budget` bytes) and whether
        the pipeline has now sent its final state."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._targets.setdefault(guid, _Target())
            while not target.output and self._exit is None and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return [], False
                self._cond.wait(min(remaining, 0.25))
            if not target.output:
                self._raise_gone()
            out: list[bytes] = []
            size = 0
            while target.output and (not out or size + len(target.output[0]) <= budget):
                piece = target.output.popleft()
                out.append(piece)
                size += len(piece)
                state = fragments.pipeline_state(piece)
                if state in fragments.TERMINAL_STATES:
                    target.finished = True
            return out, target.finished

    @property
    def alive(self) -> bool:
        return self._exit is None and not self._closed

    def running_commands(self) -> int:
        with self._cond:
            return sum(1 for g, t in self._targets.items() if g != SESSION and t.open and not t.ended)

    def close(self) -> None:
        """Closes every command, then the session, then makes sure the process group is gone."""
        with self._cond:
            if self._closed:
                return
            commands = [g for g, t in self._targets.items() if g != SESSION and t.open]
        try:
            if self._exit is None:
                for guid in commands:
                    self.close_command(guid)
                self._exchange(
                    SESSION, f"<Close PSGuid='{SESSION}' />", "CloseAck", CLOSE_TIMEOUT, required=False
                )
        except ShellGone:
            pass
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.kill()

    def _note_pids(self) -> None:
        """Remembers the process group's pids while they can still be listed (for the pipe cleanup)."""
        with contextlib.suppress(psutil.Error):
            self._pids.update(child.pid for child in psutil.Process(self.pid).children(recursive=True))

    def host_pipes(self) -> list[Path]:
        """The CoreFxPipe_PSHost sockets this shell's processes created (and may have left)."""
        found: list[Path] = []
        for pid in sorted(self._pids):
            for path in self._temp_dir.glob(f"{HOST_PIPE_PREFIX}*.{pid}.*"):
                with contextlib.suppress(OSError):  # a pid reused since: older files are not ours
                    if path.name.split(".")[2] == str(pid) and path.lstat().st_mtime >= self._spawned_at - 1:
                        found.append(path)
        return found

    def kill(self) -> None:
        self._note_pids()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=10)
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        for path in self.host_pipes():  # a killed PowerShell leaves its socket behind
            with contextlib.suppress(OSError):
                path.unlink()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _child_temp_dir() -> str:
    """Where .NET's Path.GetTempPath() points a lab pwsh: $TMPDIR (inherited), else /tmp."""
    return os.environ.get("TMPDIR") or "/tmp"


def _child_env(token: str, config: ShellConfig) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    env["PATH"] = str(SHIM_BIN) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(PACKAGE_PARENT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env[ENV_STATE] = str(config.state_path)
    env[ENV_SHELL_ID] = token
    env[ENV_SERVICE] = str(config.service)
    env["SSLBIND_LAB_PYTHON"] = config.python
    env["POWERSHELL_TELEMETRY_OPTOUT"] = "1"
    env["POWERSHELL_UPDATECHECK"] = "Off"
    # No debugger/diagnostics IPC: each pwsh would leave two sockets in /tmp when its process group
    # is killed, thousands over a test run, which slows every later file creation in /tmp.
    env["DOTNET_EnableDiagnostics"] = "0"
    return env
