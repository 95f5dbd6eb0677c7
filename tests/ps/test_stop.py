"""A pipeline stopped between delete and add (a dropped connection) still restores the binding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from render_cases import pester_changes

from generator.pwsh import run_file
from generator.render import render_change, render_library

HERE = Path(__file__).resolve().parent


def write_case(folder: Path) -> Path:
    """The motivating case's record (apply.ps1 loads lib/SslBind from it); its apply.ps1."""
    for relative, data in render_change(pester_changes()["motivating"]).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    return folder / "hosts/motivating/apply.ps1"


@pytest.mark.pwsh
def test_stopping_apply_mid_change_restores_the_binding(pwsh: str, tmp_path: Path) -> None:
    script = write_case(tmp_path)
    library = tmp_path / "lib.ps1"
    library.write_text(render_library(), encoding="ascii")
    args = ["-Library", str(library), "-Script", str(script)]
    result = run_file(HERE / "stop_during_apply.ps1", args, pwsh=pwsh, timeout=300)
    assert result.ok, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["hung"] is True, report
    changing = [  # live changing calls (not help, not the trial binding, not a read)
        c for c in report["calls"] if "/?" not in c and "127.0.0.1" not in c and " show " not in c
    ]
    assert changing[0] == "netsh http delete sslcert ipport=0.0.0.0:443", changing
    assert changing[-1].startswith("netsh http add sslcert ipport=0.0.0.0:443 certhash=1111"), changing
    assert report["after"] == report["before"]
    assert report["lock_left"] is False  # the host lock is released after the restore


@pytest.mark.pwsh
def test_stopping_apply_during_the_trial_bind_leaves_no_trial_binding(pwsh: str, tmp_path: Path) -> None:
    script = write_case(tmp_path)
    library = tmp_path / "lib.ps1"
    library.write_text(render_library(), encoding="ascii")
    args = ["-Library", str(library), "-Script", str(script), "-Hang", "trial"]
    result = run_file(HERE / "stop_during_apply.ps1", args, pwsh=pwsh, timeout=300)
    assert result.ok, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["hung"] is True, report
    assert report["calls"][-1] == "netsh http delete sslcert ipport=127.0.0.1:50443", report["calls"]
    assert report["trial_left"] == [], report
    live = [c for c in report["calls"] if "/?" not in c and "127.0.0.1" not in c and " show " not in c]
    assert live == [], live  # nothing live touched
    assert report["after"] == report["before"]
    assert report["lock_left"] is False
