"""Shared fixtures: where pwsh and Pester are, and the rule that CI must not skip pwsh tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

# No per-example deadline: a time limit is a benchmark's job, and on a loaded 2-core machine with
# parallel workers an example's wall time says nothing about the code.
settings.register_profile("sslbind", deadline=None)
settings.load_profile("sslbind")

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"


def find_pwsh() -> str | None:
    local = TOOLS / "pwsh" / "pwsh"
    if local.is_file():
        return str(local)
    return shutil.which("pwsh")


def pester_module() -> Path | None:
    path = TOOLS / "Pester" / "Pester.psd1"
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def pwsh() -> str:
    """Path of pwsh; skips without it, fails instead under SSLBIND_REQUIRE_PWSH=1 (CI)."""
    path = find_pwsh()
    if path is None:
        if os.environ.get("SSLBIND_REQUIRE_PWSH") == "1":
            pytest.fail("pwsh is required (SSLBIND_REQUIRE_PWSH=1) but was not found; run scripts/setup.sh")
        pytest.skip("pwsh not found; run scripts/setup.sh (CI sets SSLBIND_REQUIRE_PWSH=1)")
    return path


@pytest.fixture(scope="session")
def pester(pwsh: str) -> Path:
    path = pester_module()
    if path is None:
        if os.environ.get("SSLBIND_REQUIRE_PWSH") == "1":
            pytest.fail("Pester is required but .tools/Pester is missing; run scripts/setup.sh")
        pytest.skip("Pester not found; run scripts/setup.sh")
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `slow` first (each keeps its order), so that under pytest-xdist the longest ones
    start early and the workers finish together instead of one of them running the tour last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
