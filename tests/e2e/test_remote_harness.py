"""Harness for the remote end-to-end tests: lab hosts, specs for them, and `sslbind` through click.

Each lab host is its own LabServer with its own state file, listening on its own loopback address
(127.0.0.1, 127.0.0.2, ...), so a host name in a spec maps to exactly one simulated Windows.
Holds no tests itself.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from generator.cli import cli
from generator.lab.sample import IIS_APPID, NEW_CERT, OLD_CERT
from generator.lab.server import LabServer
from generator.lab.state import StateFile
from tests.e2e.conftest import PASSWORD, USER, write_state

__all__ = ["IIS_APPID", "NEW_CERT", "OLD_CERT", "PASSWORD", "LabHosts", "lab_hosts"]

MAIN = "ipport=0.0.0.0:443"
SNI = "hostnameport=api.contoso.com:443"


@dataclass
class LabHosts:
    """Lab hosts by name, plus helpers to read and change their simulated HTTP.sys."""

    tmp: Path
    servers: dict[str, LabServer]
    out: Path = field(init=False)

    def __post_init__(self) -> None:
        self.out = self.tmp / "output"

    @property
    def hosts(self) -> list[str]:
        return list(self.servers)

    def state(self, host: str) -> dict[str, Any]:
        return StateFile(self.servers[host].state.path).read()

    def binding(self, host: str, key: str = MAIN) -> dict[str, Any] | None:
        kind, value = key.split("=", 1)
        for entry in self.state(host)["bindings"]:
            if str(entry.get(kind, "")).lower() == value.lower():
                return dict(entry)
        return None

    def bindings(self, host: str) -> list[dict[str, Any]]:
        return [dict(b) for b in self.state(host)["bindings"]]

    def change(self, host: str, edit: Callable[[dict[str, Any]], None]) -> None:
        with StateFile(self.servers[host].state.path).transaction() as state:
            edit(state)

    def fault(self, host: str, **fault: Any) -> None:
        self.change(host, lambda state: state["faults"].append(fault))

    def spec(self, change_id: str, bindings: list[dict[str, Any]], hosts: list[str] | None = None) -> Path:
        """A spec for these lab hosts (Basic over loopback HTTP, each host on its own port)."""
        document = {
            "version": 1,
            "change": {"id": change_id, "title": f"{change_id} test change"},
            "connection": {
                "protocol": "http",
                "auth": "basic",
                "username": USER,
                "message_encryption": "never",
                "connection_timeout": 5,
                "operation_timeout": 5,
                "read_timeout": 30,
            },
            "targets": [
                {"host": h, "connection": {"port": self.servers[h].port}, "bindings": copy.deepcopy(bindings)}
                for h in (hosts or self.hosts)
            ],
        }
        path = self.tmp / f"{change_id}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

    def record(self, change_id: str) -> Path:
        return self.out / change_id

    def sslbind(self, *args: str, password: str = PASSWORD) -> Result:
        """`sslbind ARGS` in-process; stdin is not a terminal, so the password comes from the env."""
        return CliRunner().invoke(cli, list(args), env={"SSLBIND_PASSWORD": password}, catch_exceptions=False)

    def plan(self, spec_or_record: Path, *extra: str) -> Result:
        return self.sslbind("plan", str(spec_or_record), "-o", str(self.out), *extra)

    def apply(self, change_id: str, *extra: str, password: str = PASSWORD) -> Result:
        return self.sslbind("apply", str(self.record(change_id)), "--yes", *extra, password=password)

    def last_run(self, change_id: str) -> Path:
        runs = sorted((self.record(change_id) / "runs").iterdir())
        return runs[-1]

    def run_result(self, change_id: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads((self.last_run(change_id) / "result.json").read_text())
        return value

    def host_result(self, change_id: str, host: str) -> dict[str, Any]:
        hosts = {h["host"]: h for h in self.run_result(change_id)["hosts"]}
        return hosts[host]

    def events(self, change_id: str) -> list[dict[str, Any]]:
        lines = (self.last_run(change_id) / "events.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


@contextlib.contextmanager
def lab_hosts(
    tmp: Path, pwsh: str, count: int = 1, edit: Callable[[dict[str, Any]], None] | None = None
) -> Iterator[LabHosts]:
    """`count` lab hosts 127.0.0.1..n on the lab's sample state (optionally edited)."""
    with contextlib.ExitStack() as stack:
        servers: dict[str, LabServer] = {}
        for index in range(count):
            host = f"127.0.0.{index + 1}"
            state = write_state(tmp / f"state-{host}.json", edit)
            servers[host] = stack.enter_context(LabServer(state, USER, PASSWORD, host=host, pwsh=pwsh))
        yield LabHosts(tmp, servers)


def swap_to_new(**settings: Any) -> list[dict[str, Any]]:
    """The motivating change: 0.0.0.0:443 onto the new certificate, preserve mode."""
    return [{"ipport": "0.0.0.0:443", "certhash": NEW_CERT, **settings}]
