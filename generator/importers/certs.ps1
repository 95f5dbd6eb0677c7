<#
.SYNOPSIS
    Reads what `sslbind rotate --host` must know about one certificate in some LocalMachine stores.
.DESCRIPTION
    For each store in -Stores, emits whether the certificate -Thumbprint is there and, if so, its
    subject, private-key presence, validity (UTC, ISO 8601) and enhanced key usage OIDs, as one JSON
    object { stores: [ { store, found, subject, has_private_key, not_before, not_after, ekus } ] }.
    Uses only the documented touchpoints (Test-Path, Get-ChildItem on Cert:\LocalMachine\<store>;
    docs/windows-touchpoints.md section 4) and changes nothing.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][ValidatePattern('^[0-9A-Fa-f]{40}$')][string]$Thumbprint,
    [Parameter(Mandatory = $true)][string[]]$Stores
)
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

# Plain arrays, not generic lists: the script must run in Constrained Language (WDAC/AppLocker).
$results = @()
foreach ($store in $Stores) {
    $entry = [ordered]@{ store = $store; found = $false }
    $path = 'Cert:\LocalMachine\' + $store
    if (Test-Path -LiteralPath $path) {
        $cert = @(Get-ChildItem -LiteralPath $path | Where-Object { $_.Thumbprint -eq $Thumbprint.ToUpperInvariant() })
        if ($cert.Count -gt 0) {
            $c = $cert[0]
            $ekus = @($c.EnhancedKeyUsageList | ForEach-Object { [string]$_.ObjectId })
            $entry['found'] = $true
            $entry['subject'] = [string]$c.Subject
            $entry['has_private_key'] = [bool]$c.HasPrivateKey
            $entry['not_before'] = $c.NotBefore.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ', [cultureinfo]::InvariantCulture)
            $entry['not_after'] = $c.NotAfter.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ', [cultureinfo]::InvariantCulture)
            $entry['ekus'] = $ekus
        }
    }
    $results += , $entry
}
[ordered]@{ stores = $results } | ConvertTo-Json -Depth 5 -Compress
