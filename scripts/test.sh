#!/usr/bin/env bash
# Set up (idempotent) and run every check: ruff, mypy, pytest (unit, PowerShell/Pester, lab end to end).
# Tests that need pwsh must run here, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.tools/pwsh:$PATH" SSLBIND_REQUIRE_PWSH=1 SSLBIND_REQUIRE_BROWSER=1
.venv/bin/ruff check generator tests benchmarks
.venv/bin/ruff format --check generator tests benchmarks
.venv/bin/mypy
.venv/bin/pytest -q "$@"
# Hardened hosts: the remote end-to-end tests again with every lab session in ConstrainedLanguage
# (WDAC/AppLocker); the Pester suite covers both modes itself. Skipped when given arguments.
if [ "$#" -eq 0 ]; then
    SSLBIND_LAB_LANGUAGE_MODE=ConstrainedLanguage .venv/bin/pytest -q \
        tests/e2e/test_remote_story.py tests/e2e/test_remote_faults.py tests/e2e/test_remote_fleet.py
fi
