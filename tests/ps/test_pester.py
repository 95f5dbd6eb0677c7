"""Runs the Pester tests (tests/ps/*.Tests.ps1) on freshly rendered scripts and fails on any failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from render_cases import pester_changes

from generator.pwsh import run_file
from generator.render import render_change, render_library

HERE = Path(__file__).resolve().parent


def render_pester_cases(folder: Path) -> None:
    for name, change in pester_changes().items():
        for relative, data in render_change(change).items():
            target = folder / name / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    (folder / "lib.ps1").write_text(render_library(), encoding="ascii")


@pytest.mark.pwsh
@pytest.mark.parametrize("language_mode", ["FullLanguage", "ConstrainedLanguage"])
def test_pester_suites_pass(pwsh: str, pester: Path, tmp_path: Path, language_mode: str) -> None:
    render_pester_cases(tmp_path)
    suites = sorted(str(p) for p in HERE.glob("*.Tests.ps1"))
    assert suites, "no Pester suites found"
    result = run_file(
        HERE / "run_pester.ps1",
        ["-PesterModule", str(pester), "-Path", ",".join(suites), "-LanguageMode", language_mode],
        pwsh=pwsh,
        timeout=600,
        env={"SSLBIND_RENDERED": str(tmp_path)},
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("PESTER-SUMMARY ")]
    assert lines, (
        f"no Pester summary (exit {result.exit_code}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    summary = json.loads(lines[-1].removeprefix("PESTER-SUMMARY "))
    report = "\n".join(summary["failures"] + summary["containers"])
    assert summary["failed"] == 0 and not summary["containers"], (
        f"Pester failures:\n{report}\n{result.stdout[-6000:]}"
    )
    assert summary["passed"] >= 60, summary
