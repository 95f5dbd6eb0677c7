"""Fixtures for end-to-end tests against the lab, and the rule that no lab pwsh outlives the run."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.lab.bridge import surviving_processes
from generator.lab.sample import sample_state
from generator.lab.server import LabServer

USER, PASSWORD = "lab", "lab-Passw0rd"
LANGUAGE_MODE_ENV = "SSLBIND_LAB_LANGUAGE_MODE"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Hardened hosts (WDAC/AppLocker) run remoting sessions in ConstrainedLanguage: a test marked
    `both_language_modes` runs in the one test run once per mode (the Pester suites cover both
    modes themselves)."""
    if metafunc.definition.get_closest_marker("both_language_modes"):
        metafunc.parametrize(
            "lab_language_mode", ["FullLanguage", "ConstrainedLanguage"], indirect=True, scope="module"
        )


@pytest.fixture(scope="module", autouse=True)
def lab_language_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """The language mode of every lab host the module's tests start: the module's parameter where
    it runs in both, else SSLBIND_LAB_LANGUAGE_MODE (unset: as the state says, FullLanguage)."""
    mode = getattr(request, "param", None) or os.environ.get(LANGUAGE_MODE_ENV) or ""
    with pytest.MonkeyPatch.context() as patch:
        if mode:
            patch.setenv(LANGUAGE_MODE_ENV, mode)
        yield mode or "FullLanguage"


@pytest.fixture(scope="session", autouse=True)
def no_orphan_pwsh() -> Iterator[None]:
    """Fails the run if any pwsh the lab started in this process is still running at the end."""
    yield
    deadline = time.monotonic() + 10
    while surviving_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [f"{p.pid} {p.name()}" for p in surviving_processes()]
    assert not left, f"lab pwsh processes survived the test session: {left}"


def write_state(path: Path, changes: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """Writes the sample state (optionally changed) to `path`, replacing what is there.

    SSLBIND_LAB_LANGUAGE_MODE (set per module by `lab_language_mode`) puts every lab host's
    sessions in that language mode."""
    state = sample_state()
    mode = os.environ.get(LANGUAGE_MODE_ENV)
    if mode:
        state["language_mode"] = mode
    if changes is not None:
        changes(state)
    path.write_text(json.dumps(state, indent=2), encoding="utf-8")
    return path


def read_state(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


@pytest.fixture(scope="module")
def lab(pwsh: str, tmp_path_factory: pytest.TempPathFactory, lab_language_mode: str) -> Iterator[LabServer]:
    """One lab server per test module (user `lab`), on the sample state in `lab.state.path`."""
    state = write_state(tmp_path_factory.mktemp("lab") / "state.json")
    with LabServer(state, USER, PASSWORD, pwsh=pwsh, keep_spare=True) as server:
        yield server


def wsman(server: LabServer, **overrides: Any) -> Any:
    """A pypsrp WSMan for the lab (Basic over plain HTTP, or HTTPS trusting the lab's certificate)."""
    from pypsrp.wsman import WSMan

    options: dict[str, Any] = {
        "port": server.port,
        "ssl": server.https,
        "auth": "basic",
        "encryption": "never",
        "username": USER,
        "password": PASSWORD,
        "operation_timeout": 5,
        "read_timeout": 30,
        "connection_timeout": 10,
        "no_proxy": True,
    }
    if server.https:
        options["cert_validation"] = str(server.ca_cert)
    options.update(overrides)
    return WSMan(server.host, **options)
