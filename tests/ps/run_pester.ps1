<#
.SYNOPSIS
Runs the Pester tests under tests/ps and writes one JSON summary line (used by test_pester.py).

.PARAMETER LanguageMode
ConstrainedLanguage runs every rendered script in Constrained Language, as on a host under WDAC
or AppLocker: Pester, the tests and the faked Windows touchpoints stay trusted (FullLanguage, as
Windows' own signed modules do); only the scripts under test are not. The tests call
$global:SslPesterScriptRunner, a script block created after the switch and so bound to
ConstrainedLanguage (trusted code cannot call functions defined in CLM, but it can invoke such a
script block; the engine switches to its mode and back).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$PesterModule,
    [Parameter(Mandatory = $true)][string[]]$Path,  # comma-separated when passed through -File
    [ValidateSet('FullLanguage', 'ConstrainedLanguage')][string]$LanguageMode = 'FullLanguage',
    [string]$TestName = ''  # a Pester FullName filter (wildcards), to run a few tests while iterating
)
$ErrorActionPreference = 'Stop'
Import-Module -Name $PesterModule -Force

function Invoke-SslPesterRun {
    # Defined before any switch, so it runs trusted whatever the session's mode afterwards.
    param([string[]]$Suites, [string]$TestName)
    $configuration = New-PesterConfiguration
    $configuration.Run.Path = $Suites
    if ($TestName) {
        $configuration.Filter.FullName = @($TestName)
    }
    $configuration.Run.PassThru = $true
    $configuration.Output.Verbosity = 'Normal'
    $result = Invoke-Pester -Configuration $configuration
    $failed = @($result.Failed | ForEach-Object { $_.ExpandedPath + ': ' + ($_.ErrorRecord | Select-Object -First 1 | ForEach-Object { $_.ToString() }) })
    $containers = @($result.Containers | Where-Object { $_.Result -ne 'Passed' } | ForEach-Object { $_.Item.ToString() + ': ' + $_.Result + ' ' + (($_.ErrorRecord | ForEach-Object { $_.ToString() }) -join '; ') })
    $summary = [ordered]@{
        total = $result.TotalCount; passed = $result.PassedCount; failed = $result.FailedCount
        skipped = $result.SkippedCount; not_run = $result.NotRunCount; failures = $failed; containers = $containers
    }
    'PESTER-SUMMARY ' + (ConvertTo-Json -InputObject $summary -Depth 5 -Compress)
}

$suites = @($Path | ForEach-Object { $_ -split "," })
$env:SSLBIND_PESTER_LANGUAGE = $LanguageMode
if ($LanguageMode -eq 'ConstrainedLanguage') {
    $ExecutionContext.SessionState.LanguageMode = 'ConstrainedLanguage'
    # The same as Scripts.Tests.ps1's FullLanguageRunner, created here so it is bound to CLM: the
    # library dot-sourced (so Pester's mocks reach it), then the script told so.
    $global:SslPesterScriptRunner = {
        param([string]$ScriptPath, [hashtable]$Parameters)
        $out = @()
        $err = $null
        try {
            . (Join-Path $env:SSLBIND_RENDERED 'library-script.ps1')
            . $ScriptPath @Parameters -LibraryPreloaded | ForEach-Object { $out += , $_ }
        }
        catch {
            $err = $_
        }
        return @{ Output = $out; Error = $err }
    }
    # A host script from its file, loading the library module by path (Library.Tests.ps1).
    $global:SslPesterFileRunner = {
        param([string]$ScriptPath, [hashtable]$Parameters)
        $out = @()
        $err = $null
        try {
            & $ScriptPath @Parameters | ForEach-Object { $out += , $_ }
        }
        catch {
            $err = $_
        }
        return @{ Output = $out; Error = $err }
    }
    # As the remote client sends it (Library.Tests.ps1's FullLanguagePsrpRunner, bound to CLM): the
    # library statement, then the host script with -LibraryPreloaded, in one session.
    $global:SslPesterPsrpRunner = {
        param([string]$LibraryStatement, [string]$ScriptPath, [hashtable]$Parameters)
        $out = @()
        $err = $null
        try {
            . $LibraryStatement
            & $ScriptPath @Parameters -LibraryPreloaded | ForEach-Object { $out += , $_ }
        }
        catch {
            $err = $_
        }
        return @{ Output = $out; Error = $err }
    }
}
Invoke-SslPesterRun -Suites $suites -TestName $TestName
