#!/usr/bin/env bash
# Set up (idempotent) and run every check: ruff, mypy, pytest (unit, PowerShell/Pester, lab end to
# end, the browser), then print each phase's wall time. Tests that need pwsh or the browser must run
# here, never skip. Arguments go to pytest (e.g. a test file, or -n 0 to run in one process).
set -euo pipefail
cd "$(dirname "$0")/.."

timings=""
report_timings() {
    if [ -n "$timings" ]; then printf '\nwall time per phase:\n%s' "$timings" >&2; fi
}
trap report_timings EXIT
phase() {  # phase NAME COMMAND...: runs COMMAND and notes its wall time, failed or not
    local name=$1 start=$EPOCHREALTIME status=0
    shift
    "$@" || status=$?
    timings+=$(printf '  %-14s %7.1f s%s' "$name" "$(awk "BEGIN { print $EPOCHREALTIME - $start }")" \
        "$([ "$status" = 0 ] || echo "  (failed: exit $status)")")$'\n'
    return "$status"
}

phase set-up bash scripts/setup.sh
export PATH="$PWD/.tools/pwsh:$PATH" SSLBIND_REQUIRE_PWSH=1 SSLBIND_REQUIRE_BROWSER=1
phase lint sh -c '.venv/bin/ruff check generator tests benchmarks && .venv/bin/ruff format --check generator tests benchmarks'
phase types .venv/bin/mypy
# One pass: the remote end-to-end suites run in both language modes within it (tests/e2e/conftest.py),
# the Pester suites cover both modes themselves. Workers: tests wait on pwsh, the lab and the
# network as much as they compute, so more workers than cores keep both cores busy; worksteal lets
# an idle worker take queued tests from a busy one (with `load`, one worker's queue of lab tests
# was the last three minutes of the run).
phase tests .venv/bin/pytest -q -n "${SSLBIND_TEST_WORKERS:-4}" --dist worksteal --durations=25 "$@"
