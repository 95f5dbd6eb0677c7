<#
.SYNOPSIS
Runs a rendered prepare.ps1 on the in-memory host of FakeHost.ps1 (no Pester) and writes its JSON.

.PARAMETER StateFile
JSON: {"certificates": [{"store", "thumbprint"}], "bindings": [{"kind", "key", "settings"}]}.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Library,
    [Parameter(Mandatory = $true)][string]$Script,
    [Parameter(Mandatory = $true)][string]$StateFile
)
$ErrorActionPreference = 'Stop'
. $Library
. (Join-Path $PSScriptRoot 'FakeHost.ps1')
Reset-FakeHost
$state = Get-Content -Raw -LiteralPath $StateFile | ConvertFrom-Json
foreach ($certificate in @($state.certificates)) {
    Add-FakeCertificate -Store $certificate.store -Thumbprint $certificate.thumbprint
}
foreach ($binding in @($state.bindings)) {
    $settings = [ordered]@{}
    foreach ($property in $binding.settings.PSObject.Properties) { $settings[$property.Name] = $property.Value }
    $null = Add-FakeBinding -Kind $binding.kind -Key $binding.key -Settings $settings
}
Enable-FakeHostAlias
& $Script -InformationAction Ignore
