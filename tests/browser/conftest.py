"""The browser for the report tests: the system Chromium, driven by the playwright wheel.

Skips with the reason only where no browser is installed and nothing requires one; in CI
(`CI=true`) or with SSLBIND_REQUIRE_BROWSER=1 a missing browser or playwright fails instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

# Debian names the binary chromium, Ubuntu's deb chromium-browser; SSLBIND_CHROMIUM overrides both.
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("SSLBIND_REQUIRE_BROWSER") == "1"


def missing(reason: str) -> NoReturn:
    if browser_required():
        pytest.fail(f"{reason} (required: CI=true or SSLBIND_REQUIRE_BROWSER=1); run scripts/setup.sh")
    pytest.skip(f"{reason}; run scripts/setup.sh (CI and SSLBIND_REQUIRE_BROWSER=1 fail instead)")


def find_chromium() -> str | None:
    override = os.environ.get("SSLBIND_CHROMIUM")
    if override:
        return override if os.access(override, os.X_OK) else None
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless Chromium (playwright Browser) on the system's browser binary."""
    path = find_chromium()
    if path is None:
        missing("no Chromium installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright wheel is not installed (pip install -e '.[test]')")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
