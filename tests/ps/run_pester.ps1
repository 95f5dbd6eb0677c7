<#
.SYNOPSIS
Runs the Pester tests under tests/ps and writes one JSON summary line (used by test_pester.py).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$PesterModule,
    [Parameter(Mandatory = $true)][string[]]$Path  # comma-separated when passed through -File
)
$ErrorActionPreference = 'Stop'
Import-Module -Name $PesterModule -Force
$configuration = New-PesterConfiguration
$configuration.Run.Path = @($Path | ForEach-Object { $_ -split "," })
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
