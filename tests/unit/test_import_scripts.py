"""The two read-only scripts live import and rotate send to hosts: ASCII, 5.1-safe, and they run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.importers import live
from generator.pwsh import run_file, run_text

IMPORTERS = Path(live.__file__).resolve().parent
SCRIPTS = [IMPORTERS / "capture.ps1", IMPORTERS / "certs.ps1"]
CHECK = Path(__file__).resolve().parent.parent / "ps" / "check_syntax.ps1"

pytestmark = pytest.mark.pwsh


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_ascii(script: Path) -> None:
    script.read_bytes().decode("ascii")


def test_scripts_parse_and_use_no_powershell_7_syntax(pwsh: str, tmp_path: Path) -> None:
    listing = tmp_path / "files.txt"
    listing.write_text("\n".join(str(s) for s in SCRIPTS), encoding="utf-8")
    result = run_file(CHECK, ["-ListFile", str(listing)], pwsh=pwsh, timeout=300)
    assert result.ok, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert [(r["errors"], r["findings"]) for r in report] == [([], [])] * len(SCRIPTS)


def test_capture_runs_under_strict_mode_and_emits_one_json_object(pwsh: str) -> None:
    # No HKLM: drive off Windows, so no binding: the script must still finish with its JSON object.
    result = run_file(IMPORTERS / "capture.ps1", pwsh=pwsh, timeout=120)
    assert result.ok, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"keys": []}


def test_certs_reports_missing_stores(pwsh: str) -> None:
    call = f"& '{IMPORTERS / 'certs.ps1'}' -Thumbprint '{'a' * 40}' -Stores @('My', 'WebHosting')"
    result = run_text(call, pwsh=pwsh, timeout=120)
    assert result.ok, result.stderr
    stores = json.loads(result.stdout.strip().splitlines()[-1])["stores"]
    assert stores == [{"store": "My", "found": False}, {"store": "WebHosting", "found": False}]
    bad = run_file(IMPORTERS / "certs.ps1", ["-Thumbprint", "xyz", "-Stores", "My"], pwsh=pwsh, timeout=120)
    assert not bad.ok
