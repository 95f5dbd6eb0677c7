"""collect.ps1 in real pwsh: ASCII, 5.1-safe syntax, and Constrained-Language-clean.

The CLM runs define trusted stubs first (netsh, the registry cmdlets, whoami; defined in FullLanguage
they keep running in it, as Windows' own modules do under WDAC), then switch the session to
ConstrainedLanguage and run the collector unmodified. A control statement that CLM forbids proves
the switch took effect.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from generator.doctor import run as doctor_run
from generator.doctor.facts import host_facts
from generator.doctor.run import diagnose
from generator.pwsh import PwshResult, run_file

COLLECTOR = Path(doctor_run.__file__).with_name("collect.ps1")
CHECK = Path(__file__).resolve().parent.parent / "ps" / "check_syntax.ps1"
H1 = "40db5bb1bf5659a155258d1d007c530fcb8996c2"
IIS = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"

pytestmark = pytest.mark.pwsh

# Stubs for the touchpoints, then Constrained Language, then the collector as a script file.
WRAPPER = r"""
param([string]$Collector, [string]$ShowFile, [string]$Labels = '')
$hash = [byte[]]@(SHA_BYTES)
$appid = [byte[]]@(APPID_BYTES)
function global:netsh {
    $line = $args -join ' '
    if ($line -eq 'http update sslcert /?') {
        $global:LASTEXITCODE = 1
        'The following command was not found: http update sslcert /?.'
        return
    }
    $global:LASTEXITCODE = 0
    if ($line -eq 'http show sslcert') {
        Get-Content -LiteralPath $ShowFile
        return
    }
    ''
    'Usage: ' + $args[1] + ' sslcert [ipport=]<IP Address:port> [certhash=]<string> [appid=]<GUID>'
    '            [certstorename=]<string> [verifyclientcertrevocation=]enable|disable'
}
function global:Test-Path {
    param([string]$LiteralPath)
    return ($LiteralPath -like '*\SslBindingInfo' -or $LiteralPath -like '*\SslSniBindingInfo')
}
function global:Get-ChildItem {
    param([string]$LiteralPath)
    if ($LiteralPath -like '*\SslBindingInfo') { return [pscustomobject]@{ PSChildName = '0.0.0.0:443' } }
    return [pscustomobject]@{ PSChildName = '{6f1c5a52-0000-4d5e-9a43-5b1f0c7d2a11}' }
}
function global:Get-ItemProperty {
    param([string]$LiteralPath)
    if ($LiteralPath -like 'HKLM:\SOFTWARE\*') {
        return [pscustomobject]@{ ProductName = 'Windows Server 2025 Datacenter'; CurrentBuild = '26100'
            UBR = 4349; DisplayVersion = '24H2' }
    }
    if ($LiteralPath -like '*\SslBindingInfo\0.0.0.0:443') {
        return [pscustomobject]@{ SslCertHash = $hash; AppId = $appid; SslCertStoreName = 'My'
            DefaultSslCertCheckMode = 1; DefaultFlags = 32768; PSPath = 'x'; PSChildName = '0.0.0.0:443' }
    }
    return [pscustomobject]@{ HostnamePort = 'api.contoso.com:443'; SslCertHash = $hash; AppId = $appid
        SslCertStoreName = 'WebHosting'; Wide = [long]5000000000; Many = [string[]]@('a', 'b') }
}
if ($Labels) {
    # Make the collector take the Windows path: no $IsWindows, and whoami prints these labels.
    function global:Get-Variable { param([string]$Name, [string]$Scope, $ErrorAction) return $null }
    function global:whoami.exe {
        'GROUP INFORMATION'
        foreach ($sid in ($Labels -split ',')) { 'Mandatory Label\X   Label   ' + $sid }
    }
}
$ExecutionContext.SessionState.LanguageMode = 'ConstrainedLanguage'
try {
    [Diagnostics.Stopwatch]::StartNew() | Out-Null
    'control: method call allowed'
}
catch {
    'control: ' + [string]$_
}
& $Collector
"""

SHOW = f"""
SSL Certificate bindings:
-------------------------

    IP:port                      : 0.0.0.0:443
    Certificate Hash             : {H1}
    Application ID               : {IIS}
    Certificate Store Name       : My
    Verify Client Certificate Revocation : Disabled
    Verify Revocation Using Cached Client Certificate Only : Disabled
    Usage Check                  : Enabled
    Revocation Freshness Time    : 0
    URL Retrieval Timeout        : 0
    Ctl Identifier               : (null)
    Ctl Store Name               : (null)
    DS Mapper Usage              : Disabled
    Negotiate Client Certificate : Disabled
    Enable Caching Client Hello  : Set

"""


def byte_list(data: bytes) -> str:
    return ",".join(str(b) for b in data)


def run_collector_in_clm(pwsh: str, tmp_path: Path, labels: str = "") -> tuple[str, dict[str, Any]]:
    wrapper = tmp_path / "wrapper.ps1"
    text = WRAPPER.replace("SHA_BYTES", byte_list(bytes.fromhex(H1)))
    wrapper.write_text(text.replace("APPID_BYTES", byte_list(uuid.UUID(IIS).bytes_le)), encoding="utf-8")
    show = tmp_path / "show.txt"
    show.write_text(SHOW, encoding="utf-8")
    args = ["-Collector", str(COLLECTOR), "-ShowFile", str(show)] + (["-Labels", labels] if labels else [])
    result: PwshResult = run_file(wrapper, args, pwsh=pwsh, timeout=120)
    assert result.ok, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2, result.stdout  # the control line, then exactly one JSON object
    return lines[0], json.loads(lines[1])


def test_collector_is_ascii() -> None:
    COLLECTOR.read_bytes().decode("ascii")


def test_collector_parses_and_uses_no_powershell_7_syntax(pwsh: str, tmp_path: Path) -> None:
    listing = tmp_path / "files.txt"
    listing.write_text(str(COLLECTOR), encoding="utf-8")
    result = run_file(CHECK, ["-ListFile", str(listing)], pwsh=pwsh, timeout=300)
    assert result.ok, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert [(r["errors"], r["findings"]) for r in report] == [([], [])]


def test_collector_runs_in_constrained_language(pwsh: str, tmp_path: Path) -> None:
    control, document = run_collector_in_clm(pwsh, tmp_path)
    assert control == (
        "control: Cannot invoke method. Method invocation is supported only on core types in this "
        "language mode."
    )
    assert document["powershell"]["language_mode"] == "ConstrainedLanguage"
    assert document["os"] == {
        "product_name": "Windows Server 2025 Datacenter",
        "current_build": "26100",
        "ubr": "4349",
        "display_version": "24H2",
        "error": None,
    }
    assert document["elevation"] == {"elevated": None, "detail": "not applicable (lab)"}
    assert {e["scope"] for e in document["execution_policy"]["scopes"]} >= {"MachinePolicy", "LocalMachine"}
    runs = document["netsh"]
    assert runs["update_help"] == {
        "arguments": "http update sslcert /?",
        "exit_code": 1,
        "error": None,
        "text": "The following command was not found: http update sslcert /?.",
    }
    assert runs["show"]["text"] == SHOW.removesuffix("\n")  # verbatim: its lines joined by \n
    keys = {
        k["child"]: {v["name"]: (v["type"], v["data"]) for v in k["values"]}
        for k in document["registry"]["keys"]
    }
    main = keys["0.0.0.0:443"]
    assert main["SslCertHash"] == ("REG_BINARY", list(bytes.fromhex(H1)))
    assert main["DefaultFlags"] == ("REG_DWORD", 0x8000) and "PSPath" not in main
    sni = keys["{6f1c5a52-0000-4d5e-9a43-5b1f0c7d2a11}"]
    assert sni["Wide"] == ("REG_QWORD", 5000000000) and sni["Many"] == ("REG_MULTI_SZ", ["a", "b"])
    assert document["registry"]["containers"] == {
        "SslBindingInfo": True,
        "SslSniBindingInfo": True,
        "SslCcsBindingInfo": False,
        "SslScopedCcsBindingInfo": False,
    }

    # The document is the collector's, and the doctor reads it.
    report = diagnose(document, "clm-host", {"url": "http://clm-host:5985/wsman", "auth": "basic"})
    assert host_facts(document, "clm-host").language_mode == "ConstrainedLanguage"
    assert report.abilities.update_sslcert is False
    check = next(c for c in report.crosscheck.bindings if c.name == "ipport=0.0.0.0:443")
    assert check.registry == check.netsh and [e.netsh for e in check.extra_bits] == ["Set"]
    blocked = [str(f) for f in report.findings if f.severity == "blocking"]
    assert blocked == [
        "hostnameport=api.contoso.com:443: sslbind cannot decode this key (clm-host: SslSniBindingInfo\\"
        "{6f1c5a52-0000-4d5e-9a43-5b1f0c7d2a11}: value 'Wide' is REG_QWORD (inferred from its .NET type); no "
        "binding value sslbind knows has that type), so it refuses to change this binding"
    ]


@pytest.mark.parametrize(
    ("labels", "elevated"), [("S-1-16-12288", True), ("S-1-16-16384", True), ("S-1-16-8192", False)]
)
def test_elevation_from_whoami_in_constrained_language(
    pwsh: str, tmp_path: Path, labels: str, elevated: bool
) -> None:
    _control, document = run_collector_in_clm(pwsh, tmp_path, labels)
    assert document["elevation"] == {"elevated": elevated, "detail": labels}


def test_collector_off_windows_without_stubs_still_emits_its_object(pwsh: str) -> None:
    # No HKLM: drive and no netsh here: every section reports its error, the object still comes.
    result = run_file(COLLECTOR, pwsh=pwsh, timeout=120)
    assert result.ok, result.stderr
    document = json.loads(result.stdout.strip().splitlines()[-1])
    facts = host_facts(document, "here")
    assert facts.os["product_name"] == "unknown" and "HKLM" in facts.os_error
    assert facts.netsh["show"].exit_code is None and "netsh" in facts.netsh["show"].error
    assert facts.registry_keys == () and facts.registry_error == ""
