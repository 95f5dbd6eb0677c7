"""Runs the Pester tests (tests/ps/*.Tests.ps1) on freshly rendered scripts and fails on any failure."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from render_cases import pester_changes

from generator.importers import served
from generator.pwsh import run_file
from generator.remote.scriptio import library_statement
from generator.render import LIBRARY_MODULE, library_files, render_change, render_library

HERE = Path(__file__).resolve().parent


def render_pester_cases(folder: Path) -> None:
    """Per case a record (`<case>/`), and its host scripts alone (`psrp/<case>/hosts/...`, no lib
    folder) with `psrp-library.ps1`, the first statement the remote client sends: Library.Tests.ps1
    runs the phases both ways. `lib.ps1`: the library code for the tests' own use (the table, the
    wrapper names to mock); `library-script.ps1`: the module as a plain script with its entry point;
    `served-library.ps1` and `served.ps1`: the two statements of the pipeline doctor and import
    --host send for the handshakes from the host (generator/importers/served.py)."""
    for name, change in pester_changes().items():
        for relative, data in render_change(change).items():
            for root in (folder / name, folder / "psrp" / name):
                if root.parent.name == "psrp" and not relative.startswith("hosts/"):
                    continue
                target = root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
    (folder / "lib.ps1").write_text(render_library(), encoding="ascii")
    module = library_files()[LIBRARY_MODULE].decode("ascii")
    (folder / "psrp-library.ps1").write_bytes(library_statement(module).encode("ascii"))
    # The module's text as a plain script (Scripts.Tests.ps1 dot-sources it, so mocks reach it).
    plain = re.sub(r"^Export-ModuleMember .*$", "", module, flags=re.MULTILINE)
    (folder / "library-script.ps1").write_bytes(plain.encode("ascii"))
    first, second = served.pipeline()
    (folder / "served-library.ps1").write_text(first, encoding="ascii")
    (folder / "served.ps1").write_text(second, encoding="ascii")


@pytest.mark.pwsh
@pytest.mark.slow
@pytest.mark.parametrize("language_mode", ["FullLanguage", "ConstrainedLanguage"])
def test_pester_suites_pass(pwsh: str, pester: Path, tmp_path: Path, language_mode: str) -> None:
    render_pester_cases(tmp_path)
    suites = sorted(str(p) for p in HERE.glob("*.Tests.ps1"))
    assert suites, "no Pester suites found"
    # SSLBIND_PESTER_FILTER: a Pester FullName filter, to run a few tests while iterating.
    only = os.environ.get("SSLBIND_PESTER_FILTER", "")
    result = run_file(
        HERE / "run_pester.ps1",
        ["-PesterModule", str(pester), "-Path", ",".join(suites), "-LanguageMode", language_mode]
        + (["-TestName", only] if only else []),
        pwsh=pwsh,
        timeout=600,
        env={"SSLBIND_RENDERED": str(tmp_path)},
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("PESTER-SUMMARY ")]
    assert lines, (
        f"no Pester summary (exit {result.exit_code}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    summary = json.loads(lines[-1].removeprefix("PESTER-SUMMARY "))
    containers = [c for c in summary["containers"] if not (only and c.endswith(": NotRun "))]
    report = "\n".join(summary["failures"] + containers)
    assert summary["failed"] == 0 and not containers, f"Pester failures:\n{report}\n{result.stdout[-6000:]}"
    assert summary["passed"] >= (1 if only else 60), summary
