"""A pipeline stopped between delete and add (a dropped connection) still restores the binding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from render_cases import pester_changes

from generator.pwsh import run_file
from generator.render import render_change, render_library

HERE = Path(__file__).resolve().parent


@pytest.mark.pwsh
def test_stopping_apply_mid_change_restores_the_binding(pwsh: str, tmp_path: Path) -> None:
    script = tmp_path / "apply.ps1"
    script.write_bytes(render_change(pester_changes()["motivating"])["hosts/motivating/apply.ps1"])
    library = tmp_path / "lib.ps1"
    library.write_text(render_library(), encoding="ascii")
    args = ["-Library", str(library), "-Script", str(script)]
    result = run_file(HERE / "stop_during_apply.ps1", args, pwsh=pwsh, timeout=300)
    assert result.ok, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["hung"] is True, report
    changing = [c for c in report["calls"] if "/?" not in c]
    assert changing[0] == "netsh http delete sslcert ipport=0.0.0.0:443", changing
    assert changing[-1].startswith("netsh http add sslcert ipport=0.0.0.0:443 certhash=1111"), changing
    assert report["after"] == report["before"]
