<#
.SYNOPSIS
    Reads every HTTP.sys SSL binding's registry values (read-only) for `sslbind import --host`.
.DESCRIPTION
    Lists the keys under HKLM:\SYSTEM\CurrentControlSet\Services\HTTP\Parameters\Ssl*BindingInfo and
    emits one JSON object: { keys: [ { subkey, child, values: [ { name, type, data } ] } ] }, where
    type is binary (data: byte list), dword, string or other (data: its text). Decoding happens in
    sslbind (generator/importers/reg_text.py), which refuses any value or bit it does not know.
    Uses only the documented touchpoints (Test-Path, Get-ChildItem, Get-ItemProperty with
    -LiteralPath; docs/windows-touchpoints.md section 2) and changes nothing.
#>
[CmdletBinding()]
param()
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

$root = 'HKLM:\SYSTEM\CurrentControlSet\Services\HTTP\Parameters'
$providerProperties = @('PSPath', 'PSParentPath', 'PSChildName', 'PSDrive', 'PSProvider')
# Plain arrays, not generic lists: the script must run in Constrained Language (WDAC/AppLocker).
$keys = @()
foreach ($subkey in @('SslBindingInfo', 'SslSniBindingInfo', 'SslCcsBindingInfo', 'SslScopedCcsBindingInfo')) {
    $base = $root + '\' + $subkey
    if (-not (Test-Path -LiteralPath $base)) {
        continue
    }
    foreach ($child in @(Get-ChildItem -LiteralPath $base | ForEach-Object { [string]$_.PSChildName })) {
        $item = Get-ItemProperty -LiteralPath ($base + '\' + $child)
        $values = @()
        if ($null -ne $item) {
            foreach ($property in $item.PSObject.Properties) {
                if ($providerProperties -contains $property.Name) {
                    continue
                }
                $data = $property.Value
                $type = 'other'
                if ($data -is [byte[]]) {
                    $type = 'binary'
                    $data = @($data | ForEach-Object { [int]$_ })
                }
                elseif ($data -is [int]) {
                    $type = 'dword'
                }
                elseif ($data -is [string]) {
                    $type = 'string'
                }
                else {
                    $data = [string]$data
                }
                $values += , [ordered]@{ name = $property.Name; type = $type; data = $data }
            }
        }
        $keys += , [ordered]@{ subkey = $subkey; child = $child; values = $values }
    }
}
[ordered]@{ keys = $keys } | ConvertTo-Json -Depth 10 -Compress
