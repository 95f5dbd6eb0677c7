"""The lab's WinRM shells: one `PwshShell` each, created, looked up, dropped, reaped and closed."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from generator.lab import wsman
from generator.lab.bridge import SESSION, START_TIMEOUT, PwshShell, ShellConfig, ShellGone
from generator.lab.faults import drop_marker_name
from generator.lab.wsman import WsmanFault

log = logging.getLogger("sslbind.lab")
MAX_SHELLS = 64


class ConnectionDropped(Exception):
    """The shell's WinRM connection is to drop: close the socket without answering."""


@dataclass
class ShellRecord:
    shell_id: str
    pwsh: PwshShell
    resource_uri: str
    owner: str
    client_ip: str
    idle_timeout: float
    marker: Path
    last_seen: float = field(default_factory=time.monotonic)
    dropped: bool = False

    def check_dropped(self) -> None:
        if not self.dropped and self.marker.exists():
            self.dropped = True
        if self.dropped:
            raise ConnectionDropped()


class ShellRegistry:
    """Every open shell; closes idle ones and dropped ones whose pipelines have finished."""

    def __init__(self, config: ShellConfig, idle_timeout: float, keep_spare: bool = False) -> None:
        self.config = config
        self.idle_timeout = idle_timeout
        self.keep_spare = keep_spare
        self._spare: PwshShell | None = None
        self._refilling = False
        self._shells: dict[str, ShellRecord] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="sslbind-lab-reaper", daemon=True)
        self._reaper.start()

    def create(
        self, shell_id: str, resource_uri: str, owner: str, client_ip: str, creation: bytes
    ) -> ShellRecord:
        with self._lock:
            if shell_id.lower() in self._shells:
                raise WsmanFault(
                    "w:AlreadyExists", wsman.INTERNAL_ERROR, f"shell {shell_id} already exists", 400, True
                )
            if len(self._shells) >= MAX_SHELLS:
                raise WsmanFault(
                    "w:QuotaLimit", wsman.INTERNAL_ERROR, f"the lab allows {MAX_SHELLS} shells at once"
                )
        pwsh = self._take_pwsh()
        marker = self.config.control_dir / drop_marker_name(pwsh.token)
        record = ShellRecord(shell_id, pwsh, resource_uri, owner, client_ip, self.idle_timeout, marker)
        with self._lock:
            self._shells[shell_id.lower()] = record
        # Windows answers Create before the plugin has digested creationXml; so does the lab, since
        # a pwsh starting on a busy machine can take longer than the client's read timeout. The
        # pool's Receive then waits for the answer, and any later packet waits for this one's ack.
        threading.Thread(target=self._open_session, args=(pwsh, creation), daemon=True).start()
        return record

    @staticmethod
    def _open_session(pwsh: PwshShell, creation: bytes) -> None:
        try:
            pwsh.send(SESSION, creation, timeout=START_TIMEOUT)
        except ShellGone as error:
            log.warning("pwsh %s did not start: %s", pwsh.pid, error)
            pwsh.kill()

    def _take_pwsh(self) -> PwshShell:
        """The warm spare if there is one (the .NET start-up is most of a Create), else a new pwsh."""
        with self._lock:
            spare, self._spare = self._spare, None
        if not self.keep_spare:
            return PwshShell(self.config)
        threading.Thread(target=self._refill_spare, daemon=True).start()
        if spare is not None and spare.alive:
            return spare
        if spare is not None:
            spare.kill()
        return PwshShell(self.config)

    def _refill_spare(self) -> None:
        with self._lock:
            if self._spare is not None or self._stop.is_set() or self._refilling:
                return
            self._refilling = True
        spare = PwshShell(self.config)
        with self._lock:
            self._refilling = False
            if self._spare is None and not self._stop.is_set():
                self._spare, spare = spare, None  # type: ignore[assignment]
        if spare is not None:
            spare.kill()

    def get(self, shell_id: str | None) -> ShellRecord:
        with self._lock:
            record = self._shells.get((shell_id or "").lower())
        if record is None:
            raise WsmanFault(
                "w:InvalidSelectors",
                wsman.SHELL_NOT_FOUND,
                f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the "
                "shell was not found on the server. Possible causes are: the specified ShellId is "
                "incorrect or the shell no longer exists on the server.",
                400,
                True,
            )
        record.last_seen = time.monotonic()
        return record

    def delete(self, shell_id: str) -> None:
        with self._lock:
            record = self._shells.pop(shell_id.lower(), None)
        if record is not None:
            record.pwsh.close()
            record.marker.unlink(missing_ok=True)

    def count(self) -> int:
        with self._lock:
            return len(self._shells)

    def pids(self) -> list[int]:
        """The pwsh process ids of the open shells."""
        with self._lock:
            return [record.pwsh.pid for record in self._shells.values()]

    def _reap(self) -> None:
        while not self._stop.wait(1.0):
            now = time.monotonic()
            with self._lock:
                records = list(self._shells.values())
            for record in records:
                if record.marker.exists():
                    record.dropped = True
                idle = now - record.last_seen > record.idle_timeout
                abandoned = record.dropped and record.pwsh.running_commands() == 0
                if idle or abandoned or not record.pwsh.alive:
                    log.info("closing shell %s (idle=%s dropped=%s)", record.shell_id, idle, record.dropped)
                    self.delete(record.shell_id)

    def close_all(self) -> None:
        self._stop.set()
        with self._lock:
            ids = list(self._shells)
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.kill()
        threads = [threading.Thread(target=self.delete, args=(i,)) for i in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
