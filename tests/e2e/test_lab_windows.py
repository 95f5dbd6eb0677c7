"""The simulated Windows as the generated scripts see it, from pwsh through the lab.

netsh's exit codes and texts, the HTTP.sys registry values with their Windows types, and the
LocalMachine certificate stores (docs/windows-touchpoints.md; reference httpsys-sslcert.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from generator.binding import REGISTRY_ROOT, SETTING_NAMES
from generator.lab.sample import CLIENT_AUTH_CERT, EXPIRED_CERT, IIS_APPID, NEW_CERT, NO_KEY_CERT, OLD_CERT
from generator.lab.server import LabServer
from generator.lab.simwin.netsh_help import DEFAULT_LAYOUT, help_text
from tests.e2e.conftest import read_state, write_state, wsman

pytestmark = [pytest.mark.lab, pytest.mark.pwsh]

NETSH = """param([string[]]$Arguments)
$text = (& netsh @Arguments) -join "`n"
ConvertTo-Json -Compress @{ code = $LASTEXITCODE; text = $text }"""
IP_KEY = REGISTRY_ROOT + r"\SslBindingInfo"


@pytest.fixture(scope="module")
def pool(lab: LabServer) -> Iterator[RunspacePool]:
    with RunspacePool(wsman(lab)) as opened:
        yield opened


@pytest.fixture(autouse=True)
def fresh_state(lab: LabServer) -> None:
    write_state(lab.state.path)


def run(pool: RunspacePool, script: str, **parameters: Any) -> Any:
    ps = PowerShell(pool)
    ps.add_script(script)
    if parameters:
        ps.add_parameters(parameters)
    output = ps.invoke()
    assert ps.state == PSInvocationState.COMPLETED, [str(e) for e in ps.streams.error]
    return json.loads(output[-1])


def netsh(pool: RunspacePool, *arguments: str) -> tuple[int, str]:
    result = run(pool, NETSH, Arguments=list(arguments))
    return result["code"], result["text"]


def add_args(key: str, thumbprint: str, *extra: str) -> list[str]:
    return ["http", "add", "sslcert", key, f"certhash={thumbprint}", f"appid={IIS_APPID}", *extra]


def keys(lab: LabServer) -> list[str]:
    return [b.get("ipport") or b.get("hostnameport") for b in read_state(lab.state.path)["bindings"]]


# --- netsh


def test_add_succeeds_and_lands_in_the_state_with_spec_names(pool: RunspacePool, lab: LabServer) -> None:
    code, text = netsh(
        pool, *add_args("ipport=10.0.0.5:443", NEW_CERT, "certstorename=My", "disablehttp2=enable")
    )
    assert (code, text.strip()) == (0, "SSL Certificate successfully added")
    added = read_state(lab.state.path)["bindings"][-1]
    assert added == {
        "ipport": "10.0.0.5:443",
        "certhash": NEW_CERT,
        "appid": IIS_APPID,
        "certstorename": "My",
        "disablehttp2": "enable",
    }


def test_add_on_an_existing_key_is_183(pool: RunspacePool) -> None:
    code, text = netsh(pool, *add_args("ipport=0.0.0.0:443", NEW_CERT))
    assert code == 1
    assert text.splitlines()[:2] == [
        "SSL Certificate add failed, Error: 183",
        "Cannot create a file when that file already exists.",
    ]


@pytest.mark.parametrize("thumbprint", ["ab" * 20, NO_KEY_CERT])
def test_add_with_a_missing_or_keyless_certificate_is_1312(pool: RunspacePool, thumbprint: str) -> None:
    code, text = netsh(pool, *add_args("ipport=10.0.0.6:443", thumbprint))
    assert code == 1
    assert text.splitlines()[:2] == [
        "SSL Certificate add failed, Error: 1312",
        "A specified logon session does not exist. It may already have been terminated.",
    ]


@pytest.mark.parametrize("bad", ["certhash=xyz", f"appid={IIS_APPID[1:]}", "certstorename=-My"])
def test_values_netsh_cannot_convert_are_87(pool: RunspacePool, lab: LabServer, bad: str) -> None:
    arguments = [a for a in add_args("ipport=10.0.0.7:443", NEW_CERT) if a.split("=")[0] != bad.split("=")[0]]
    code, text = netsh(pool, *arguments, bad)
    assert code == 1
    assert text.splitlines()[:2] == ["SSL Certificate add failed, Error: 87", "The parameter is incorrect."]
    assert "10.0.0.7:443" not in keys(lab)


@pytest.mark.parametrize(
    "bad", ["frobnicate=enable", "verifyclientcertrevocation=maybe", "revocationfreshnesstime=-1", "appid"]
)
def test_command_lines_netsh_cannot_parse_print_the_usage(
    pool: RunspacePool, lab: LabServer, bad: str
) -> None:
    arguments = [a for a in add_args("ipport=10.0.0.7:443", NEW_CERT) if a.split("=")[0] != bad.split("=")[0]]
    code, text = netsh(pool, *arguments, bad)
    assert code == 1
    assert text.rstrip("\n") == (help_text(DEFAULT_LAYOUT, "add") or "").rstrip("\n")
    assert "10.0.0.7:443" not in keys(lab)


def test_delete_update_and_show_of_a_missing_key_are_2(pool: RunspacePool) -> None:
    code, text = netsh(pool, "http", "delete", "sslcert", "ipport=10.9.9.9:443")
    assert (code, text.splitlines()[:2]) == (
        1,
        ["SSL Certificate deletion failed, Error: 2", "The system cannot find the file specified."],
    )
    code, text = netsh(
        pool,
        *add_args("ipport=10.9.9.9:443", NEW_CERT)[:1],
        "update",
        "sslcert",
        "ipport=10.9.9.9:443",
        f"certhash={NEW_CERT}",
        f"appid={IIS_APPID}",
    )
    assert (code, text.splitlines()[0]) == (1, "SSL Certificate update failed, Error: 2")
    code, text = netsh(pool, "http", "show", "sslcert", "ipport=10.9.9.9:443")
    assert code == 1
    assert "The system cannot find the file specified." in text


def test_access_denied_fault_is_5_and_changes_nothing(pool: RunspacePool, lab: LabServer) -> None:
    write_state(lab.state.path, lambda s: s["faults"].append({"on": "delete", "error": 5}))
    code, text = netsh(pool, "http", "delete", "sslcert", "ipport=0.0.0.0:443")
    assert (code, text.splitlines()[:2]) == (
        1,
        ["SSL Certificate deletion failed, Error: 5", "Access is denied."],
    )
    assert "0.0.0.0:443" in keys(lab)
    assert read_state(lab.state.path)["faults"] == []  # fired once, removed
    code, _ = netsh(pool, "http", "delete", "sslcert", "ipport=0.0.0.0:443")
    assert code == 0
    assert "0.0.0.0:443" not in keys(lab)


def test_update_replaces_the_binding_or_is_missing_on_old_netsh(pool: RunspacePool, lab: LabServer) -> None:
    update = ["http", "update", "sslcert", "ipport=0.0.0.0:443", f"certhash={NEW_CERT}", f"appid={IIS_APPID}"]
    code, text = netsh(pool, *update)
    assert (code, text.strip()) == (0, "SSL Certificate successfully updated")
    assert read_state(lab.state.path)["bindings"][0]["certhash"] == NEW_CERT
    write_state(lab.state.path, lambda s: s["netsh"].update(supports_update=False))
    code, text = netsh(pool, *update)
    assert code == 1
    assert text.strip() == "The following command was not found: " + " ".join(update) + "."


def test_show_prints_the_windows_layout(pool: RunspacePool) -> None:
    code, text = netsh(pool, "http", "show", "sslcert", "ipport=0.0.0.0:443")
    assert code == 0
    lines = text.splitlines()
    assert lines[:6] == [
        "",
        "SSL Certificate bindings:",
        "-------------------------",
        "",
        "    IP:port                      : 0.0.0.0:443",
        f"    Certificate Hash             : {OLD_CERT}",
    ]
    assert f"    Application ID               : {IIS_APPID}" in lines
    assert "    Certificate Store Name       : My" in lines
    assert "    Verify Client Certificate Revocation : Disabled" in lines
    assert "    Usage Check                  : Enabled" in lines
    assert "    Ctl Identifier               : (null)" in lines
    assert "    Negotiate Client Certificate : Disabled" in lines
    assert "    Disable HTTP2                : Not Set" in lines


def test_show_without_a_key_lists_every_binding(pool: RunspacePool) -> None:
    code, text = netsh(pool, "http", "show", "sslcert")
    assert code == 0
    assert "    Hostname:port                : api.contoso.com:443" in text.splitlines()
    assert text.count("Certificate Hash") == 3


def test_add_usage_lists_every_parameter_tag(pool: RunspacePool) -> None:
    code, text = netsh(pool, "http", "add", "sslcert", "/?")
    assert code == 0
    assert text.rstrip("\n") == (help_text(DEFAULT_LAYOUT, "add") or "").rstrip("\n")
    tags = {line.split()[0] for line in text.splitlines() if line.startswith("    ") and " - " in line}
    assert set(SETTING_NAMES) <= tags
    assert {"ipport", "hostnameport", "ccs"} <= tags


def test_quoted_appid_from_powershell_reaches_netsh(pool: RunspacePool, lab: LabServer) -> None:
    script = (
        "& netsh http add sslcert ipport=10.1.1.1:443 certhash="
        + NEW_CERT
        + " appid='"
        + IIS_APPID
        + "' | Out-Null; ConvertTo-Json @{ code = $LASTEXITCODE }"
    )
    assert run(pool, script) == {"code": 0}
    assert "10.1.1.1:443" in keys(lab)


# --- registry


REGISTRY_READ = r"""param([string]$Root)
$ip = $Root + '\SslBindingInfo'
$sni = $Root + '\SslSniBindingInfo'
$main = Get-ItemProperty -LiteralPath ($ip + '\0.0.0.0:443')
$ctl = Get-ItemProperty -LiteralPath ($ip + '\0.0.0.0:8443')
$sniChild = @(Get-ChildItem -LiteralPath $sni)[0].PSChildName
$sniValues = Get-ItemProperty -LiteralPath ($sni + '\' + $sniChild)
ConvertTo-Json -Compress @{
    ipExists = Test-Path -LiteralPath $ip
    ccsExists = Test-Path -LiteralPath ($Root + '\SslCcsBindingInfo')
    ipChildren = @(Get-ChildItem -LiteralPath $ip | ForEach-Object { $_.PSChildName })
    hashType = $main.SslCertHash.GetType().FullName
    hashHex = ($main.SslCertHash | ForEach-Object { $_.ToString('x2') }) -join ''
    appIdType = $main.AppId.GetType().FullName
    appId = ([guid]::new([byte[]]$main.AppId)).ToString('B')
    store = $main.SslCertStoreName
    checkMode = $main.DefaultSslCertCheckMode
    checkModeType = $main.DefaultSslCertCheckMode.GetType().FullName
    mainHasFlags = $null -ne $main.PSObject.Properties['DefaultFlags']
    ctlFlags = $ctl.DefaultFlags
    ctlStore = $ctl.DefaultSslCtlStoreName
    ctlFreshness = $ctl.DefaultSslRevocationFreshnessTime
    ctlCheckMode = $ctl.DefaultSslCertCheckMode
    sniChild = $sniChild
    sniHostnamePort = $sniValues.HostnamePort
}"""


def test_registry_values_have_windows_types(pool: RunspacePool) -> None:
    got = run(pool, REGISTRY_READ, Root=REGISTRY_ROOT)
    assert got["ipExists"] is True and got["ccsExists"] is False
    assert got["ipChildren"] == ["0.0.0.0:443", "0.0.0.0:8443"]
    assert (got["hashType"], got["hashHex"]) == ("System.Byte[]", OLD_CERT)
    assert (got["appIdType"], got["appId"]) == ("System.Byte[]", IIS_APPID)
    assert got["store"] == "My"
    assert (got["checkMode"], got["checkModeType"]) == (1, "System.Int32")  # revocation check off
    assert got["mainHasFlags"] is False  # a value at its default is absent
    assert (got["ctlFlags"], got["ctlStore"], got["ctlFreshness"]) == (2, "ClientAuthIssuer", 3600)
    assert got["ctlCheckMode"] == 4  # freshness time in effect
    assert got["sniChild"] != "api.contoso.com:443"  # opaque: scripts read HostnamePort
    assert got["sniHostnamePort"] == "api.contoso.com:443"


def test_set_itemproperty_writes_the_binding(pool: RunspacePool, lab: LabServer) -> None:
    script = r"""param([string]$Key)
Set-ItemProperty -LiteralPath $Key -Name DefaultSslCertCheckMode -Value 0 -Type DWord
$values = Get-ItemProperty -LiteralPath $Key
ConvertTo-Json -Compress @{ present = $null -ne $values.PSObject.Properties['DefaultSslCertCheckMode'] }"""
    assert run(pool, script, Key=IP_KEY + r"\0.0.0.0:443") == {"present": False}
    assert "verifyclientcertrevocation" not in read_state(lab.state.path)["bindings"][0]


def test_missing_registry_key_is_a_terminating_error_under_stop(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_script(
        "param($Key) $ErrorActionPreference = 'Stop'; Get-ItemProperty -LiteralPath $Key; 'unreached'"
    )
    ps.add_parameter("Key", IP_KEY + r"\10.2.2.2:443")
    assert ps.invoke() == []
    assert ps.state == PSInvocationState.FAILED
    assert "Cannot find path" in str(ps.streams.error[0])


def test_other_paths_reach_the_real_cmdlets_and_exit_code_is_kept(pool: RunspacePool) -> None:
    script = r"""
$dir = [System.IO.Path]::GetTempPath()
& netsh http delete sslcert ipport=10.3.3.3:443 | Out-Null
$before = $LASTEXITCODE
$null = Test-Path -LiteralPath ($Root + '\SslBindingInfo')
ConvertTo-Json -Compress @{
    tempExists = Test-Path -LiteralPath $dir
    fileParam = @(Get-ChildItem -LiteralPath $PSHOME -File).Count -gt 0
    exitCode = $LASTEXITCODE
    before = $before
    shadowed = (Get-Command Test-Path).CommandType.ToString()
}"""
    got = run(pool, "param($Root)" + script, Root=REGISTRY_ROOT)
    assert got == {"tempExists": True, "fileParam": True, "exitCode": 1, "before": 1, "shadowed": "Function"}


# --- certificate stores


CERTS = r"""
ConvertTo-Json -Depth 4 -Compress @{
    my = Test-Path -LiteralPath 'Cert:\LocalMachine\My'
    nope = Test-Path -LiteralPath 'Cert:\LocalMachine\NoSuchStore'
    certs = @(Get-ChildItem -LiteralPath 'Cert:\LocalMachine\My' | ForEach-Object {
        @{
            thumbprint = $_.Thumbprint
            subject = $_.Subject
            key = $_.HasPrivateKey
            keyType = $_.HasPrivateKey.GetType().FullName
            afterType = $_.NotAfter.GetType().FullName
            kind = $_.NotAfter.Kind.ToString()
            expired = $_.NotAfter -lt (Get-Date)
            ekus = @($_.EnhancedKeyUsageList | ForEach-Object { $_.ObjectId })
        }
    })
}"""


def test_certificate_store_items(pool: RunspacePool) -> None:
    got = run(pool, CERTS)
    assert got["my"] is True and got["nope"] is False
    by_thumb = {c["thumbprint"]: c for c in got["certs"]}
    assert set(by_thumb) == {
        t.upper() for t in (OLD_CERT, NEW_CERT, NO_KEY_CERT, EXPIRED_CERT, CLIENT_AUTH_CERT)
    }
    new = by_thumb[NEW_CERT.upper()]
    assert (new["key"], new["keyType"], new["afterType"], new["kind"]) == (
        True,
        "System.Boolean",
        "System.DateTime",
        "Local",
    )
    assert new["ekus"] == ["1.3.6.1.5.5.7.3.1"]
    assert by_thumb[NO_KEY_CERT.upper()]["key"] is False
    assert by_thumb[EXPIRED_CERT.upper()]["expired"] is True and new["expired"] is False
    assert by_thumb[CLIENT_AUTH_CERT.upper()]["ekus"] == ["1.3.6.1.5.5.7.3.2"]
