"""Every rendered script parses with the real PowerShell parser and uses no PowerShell-7-only syntax.

One pwsh process checks all files (tests/ps/check_syntax.ps1); a second run proves the check
itself flags each 7-only construct, so it cannot pass vacuously.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from render_cases import broad_changes

from generator.model import Change
from generator.pwsh import run_file
from generator.render import render_change
from generator.spec import load_spec

HERE = Path(__file__).resolve().parent
GOOD_SPECS = HERE.parent / "specs" / "good"
CHECK = HERE / "check_syntax.ps1"

# One sample per construct Windows PowerShell 5.1 cannot run; each must be flagged.
SEVEN_ONLY = {
    "ternary": "$a = $true ? 1 : 2",
    "chain_and": "Get-Date && Get-Date",
    "chain_or": "Get-Date || Get-Date",
    "coalesce": "$a = $null ?? 1",
    "coalesce_assign": "$a = $null; $a ??= 1",
    "null_member": "$a = $null; ${a}?.Length",
    "null_method": "$a = 'x'; ${a}?.ToString()",
    "null_index": "$a = @(1); ${a}?[0]",
    "background": "Get-Date &",
    "clean_block": "function f { process { 1 } clean { 2 } }",
    "cmdlet": "'a', 'b' | Join-String -Separator ','",
    "parallel": "1..2 | ForEach-Object -Parallel { $_ }",
    "as_hashtable": "'{}' | ConvertFrom-Json -AsHashtable",
    "json_depth": "'{}' | ConvertFrom-Json -Depth 3",
    "where_not": "@(1) | Where-Object -Not",
}

# One sample per construct Constrained Language refuses (WDAC/AppLocker hosts); each must be flagged.
CLM_FORBIDDEN = {
    "clm_stopwatch": "$w = [Diagnostics.Stopwatch]::StartNew()",
    "clm_pscustomobject": "$o = [pscustomobject]@{ a = 1 }",
    "clm_generic_list": "$l = New-Object -TypeName 'System.Collections.Generic.List[object]'",
    "clm_positional_type": "$l = New-Object System.Collections.ArrayList",
    "clm_add_type": "Add-Type -TypeDefinition 'public class A {}'",
    "clm_gettype": "$t = 'x'.GetType()",
    "clm_bound": "$b = $PSBoundParameters.ContainsKey('x')",
    "clm_shouldprocess": (
        "function f { [CmdletBinding(SupportsShouldProcess)] param() $PSCmdlet.ShouldProcess('t') }"
    ),
    "clm_principal": "[Security.Principal.WindowsIdentity]::GetCurrent()",
    "clm_math": "$m = [math]::Min(2, 3)",  # System.Math is not a core type there
    # pwsh 7.3+ made OrderedDictionary a core type; Windows PowerShell 5.1 CLM refuses these
    "clm_ordered_contains": "$o = [ordered]@{ a = 1 }\nif ($o.Contains('a')) { 1 }",
    "clm_ordered_insert": "function f { $r = [ordered]@{}; $r.Insert(0, 'k', 'v') }",
    "clm_ordered_member": "$x = @{}\n$x.facts = [ordered]@{}\n$x.facts.Remove('a')",
    "clm_ordered_key": "$x = @{ facts = [ordered]@{} }\n$null = $x['facts'].Contains('a')",
    "clm_ordered_script": "function f { $script:s = [ordered]@{} }\nfunction g { $script:s.Clear() }",
    "clm_ordered_literal": "$null = ([ordered]@{ a = 1 }).Contains('a')",
}


CLEAN = (
    "$a = if ($true) { 1 } else { 2 }\n@(1) | ForEach-Object { $_ }\n"
    "$b = New-Object -TypeName 'byte[]' -ArgumentList 2\n$m = [regex]::Matches('a', 'a')\n"
    "function Test-SslShouldProcess { param($Cmdlet) $Cmdlet.ShouldProcess('t', 'a') }\n"
    # property access and operators on an [ordered] dictionary are fine; so is a hashtable's method
    # and an [ordered] variable of another function
    "function h { $o = [ordered]@{ a = 1 }; $o['b'] = 2; $o.c = 3; $n = $o.Count }\n"
    "function j { $o = [ordered]@{ a = 1 }; $k = @($o.Keys) -contains 'a' }\n"
    "function i { $o = @{}; $null = $o.ContainsKey('a'); $o.Remove('a') }"
)


def check_files(pwsh: str, files: list[Path], tmp_path: Path) -> list[dict[str, object]]:
    listing = tmp_path / "files.txt"
    listing.write_text("\n".join(str(f) for f in files), encoding="utf-8")
    result = run_file(CHECK, ["-ListFile", str(listing)], pwsh=pwsh, timeout=300)
    assert result.ok, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report) == len(files)
    return list(report)


def spec_changes() -> list[Change]:
    """The spec engineer's good specs, loaded the way `sslbind render` loads them."""
    specs = sorted(p for p in GOOD_SPECS.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    assert specs, f"no specs in {GOOD_SPECS}"
    return [load_spec(p) for p in specs]


def write_record(change_files: dict[str, bytes], folder: Path) -> list[Path]:
    paths = []
    for relative, data in change_files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if path.suffix in (".ps1", ".psm1", ".psd1"):  # the library module too
            paths.append(path)
    return paths


def host_scripts() -> list[Path]:
    """The other scripts sslbind sends to hosts (live import, rotate, doctor); not the lab's own."""
    package = HERE.parent.parent / "generator"
    return sorted(p for p in package.glob("**/*.ps1") if "lab" not in p.relative_to(package).parts)


@pytest.fixture(scope="module")
def checked(pwsh: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    """One pwsh run over every rendered script and the 7-only samples: path -> report entry."""
    folder = tmp_path_factory.mktemp("syntax")
    files: list[Path] = []
    # the Pester cases are parsed when Pester runs them
    for index, change in enumerate([*broad_changes(), *spec_changes()]):
        files += write_record(render_change(change), folder / str(index))
    files += host_scripts()
    samples = folder / "samples"
    samples.mkdir()
    for name, code in {**SEVEN_ONLY, **CLM_FORBIDDEN, "clean": CLEAN}.items():
        path = samples / f"{name}.ps1"
        path.write_text(code + "\n", encoding="ascii")
        files.append(path)
    return {str(e["path"]): e for e in check_files(pwsh, files, folder)}


@pytest.mark.pwsh
def test_every_rendered_script_parses_as_windows_powershell_51(checked: dict[str, dict[str, object]]) -> None:
    hosts = {str(p) for p in host_scripts()}
    rendered = {p: e for p, e in checked.items() if "/samples/" not in p and p not in hosts}
    assert len(rendered) >= 6 * 10
    assert sum(p.endswith(("SslBind.psm1", "SslBind.psd1")) for p in rendered) >= 2
    problems = {
        p: [*e["errors"], *e["findings"]] for p, e in rendered.items() if e["errors"] or e["findings"]
    }  # type: ignore[misc]
    assert problems == {}


@pytest.mark.pwsh
def test_the_check_flags_each_powershell_7_construct(checked: dict[str, dict[str, object]]) -> None:
    report = {Path(p).stem: e for p, e in checked.items() if "/samples/" in p}
    unflagged = [name for name in SEVEN_ONLY if not report[name]["findings"]]
    assert unflagged == []
    clm_unflagged = [
        name
        for name in CLM_FORBIDDEN
        if not any("ConstrainedLanguage" in str(f) for f in report[name]["findings"])  # type: ignore[attr-defined]
    ]
    assert clm_unflagged == []
    assert report["clean"]["findings"] == [] and report["clean"]["errors"] == []


@pytest.mark.pwsh
def test_host_scripts_parse_and_suit_constrained_language(checked: dict[str, dict[str, object]]) -> None:
    scripts = host_scripts()
    assert len(scripts) >= 2
    problems = {
        str(p): [*checked[str(p)]["errors"], *checked[str(p)]["findings"]]  # type: ignore[misc]
        for p in scripts
        if checked[str(p)]["errors"] or checked[str(p)]["findings"]
    }
    assert problems == {}
