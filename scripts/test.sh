#!/usr/bin/env bash
# Set up (idempotent) and run every check: ruff, mypy, pytest (unit, PowerShell/Pester, lab end to end).
# Tests that need pwsh must run here, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.tools/pwsh:$PATH" SSLBIND_REQUIRE_PWSH=1
.venv/bin/ruff check generator tests benchmarks
.venv/bin/ruff format --check generator tests benchmarks
.venv/bin/mypy
.venv/bin/pytest -q "$@"
