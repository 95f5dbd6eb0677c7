<#
.SYNOPSIS
    Collects, read-only, what `sslbind doctor` reports about this host, as one JSON object.
.DESCRIPTION
    OS build, PowerShell version, edition and language mode, elevation, execution policies, the
    netsh `http add|update|delete sslcert /?` help texts and `http show sslcert` text verbatim, and
    every value of every key under HKLM:\SYSTEM\CurrentControlSet\Services\HTTP\Parameters\
    Ssl*BindingInfo with its registry type inferred from the value's .NET type. sslbind decodes and
    cross-checks it all (generator/doctor/); this script only reads.

    Written for Constrained Language, where hardened hosts run remoting sessions: hashtables,
    [ordered], plain arrays, Get-Date and ConvertTo-Json only; no .NET method calls, no New-Object,
    no [pscustomobject], no Stopwatch, no generic lists. Each section catches its own errors, so a
    failing one is reported in the JSON and the others still run. Runs on Windows PowerShell 5.1
    and PowerShell 7; changes nothing.
#>
[CmdletBinding()]
param()
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

$started = Get-Date
$root = 'HKLM:\SYSTEM\CurrentControlSet\Services\HTTP\Parameters'
$providerProperties = @('PSPath', 'PSParentPath', 'PSChildName', 'PSDrive', 'PSProvider')

function Get-DoctorProperty {
    # A property's value, or $null when it has none (StrictMode makes a missing property an error).
    param($Object, [string]$Name)
    if ($null -eq $Object) {
        return $null
    }
    foreach ($property in $Object.PSObject.Properties) {
        if ($property.Name -eq $Name) {
            return $property.Value
        }
    }
    return $null
}

function Invoke-DoctorNetsh {
    # netsh's output (stderr included) and exit code; its stderr must not become a terminating error.
    param([string[]]$Arguments)
    $run = [ordered]@{ arguments = ($Arguments -join ' '); exit_code = $null; text = ''; error = $null }
    $previous = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        $lines = @(& netsh @Arguments 2>&1 | ForEach-Object { [string]$_ })
        $run['exit_code'] = $LASTEXITCODE
        $run['text'] = $lines -join "`n"
    }
    catch {
        $run['error'] = [string]$_
    }
    finally {
        $ErrorActionPreference = $previous
    }
    return $run
}

function ConvertTo-DoctorValue {
    # One registry value with its type inferred from the .NET type Get-ItemProperty returns.
    param([string]$Name, $Data)
    if ($Data -is [byte[]]) {
        return [ordered]@{ name = $Name; type = 'REG_BINARY'; data = @($Data | ForEach-Object { [int]$_ }) }
    }
    if ($Data -is [int]) {
        return [ordered]@{ name = $Name; type = 'REG_DWORD'; data = $Data }
    }
    if ($Data -is [long]) {
        return [ordered]@{ name = $Name; type = 'REG_QWORD'; data = $Data }
    }
    if ($Data -is [string[]]) {
        return [ordered]@{ name = $Name; type = 'REG_MULTI_SZ'; data = @($Data) }
    }
    if ($Data -is [string]) {
        return [ordered]@{ name = $Name; type = 'REG_SZ'; data = $Data }
    }
    return [ordered]@{ name = $Name; type = 'other'; data = [string]$Data }
}

function Get-DoctorOs {
    $os = [ordered]@{ product_name = 'unknown'; current_build = 'unknown'; ubr = 'unknown'; display_version = 'unknown'; error = $null }
    try {
        $item = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
        foreach ($pair in @(@('product_name', 'ProductName'), @('current_build', 'CurrentBuild'), @('ubr', 'UBR'), @('display_version', 'DisplayVersion'))) {
            $value = Get-DoctorProperty -Object $item -Name $pair[1]
            if ($null -ne $value) {
                $os[$pair[0]] = [string]$value
            }
        }
    }
    catch {
        $os['error'] = [string]$_
    }
    return $os
}

function Get-DoctorElevation {
    # whoami /groups lists the High (S-1-16-12288) or System (S-1-16-16384) mandatory label in an
    # elevated session; SIDs are not localized and whoami works in Constrained Language. Off
    # Windows (the sslbind lab) there is no such token.
    $elevation = [ordered]@{ elevated = $null; detail = '' }
    $isWindowsVariable = Get-Variable -Name 'IsWindows' -Scope Global -ErrorAction SilentlyContinue
    if ($null -ne $isWindowsVariable -and -not $isWindowsVariable.Value) {
        $elevation['detail'] = 'not applicable (lab)'
        return $elevation
    }
    $previous = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        $groups = @(& whoami.exe /groups 2>&1 | ForEach-Object { [string]$_ })
        $labels = @($groups | Where-Object { $_ -match 'S-1-16-\d+' })
        if (@($labels | Where-Object { $_ -match 'S-1-16-(12288|16384)\b' }).Count -gt 0) {
            $elevation['elevated'] = $true
        }
        elseif ($labels.Count -gt 0) {
            $elevation['elevated'] = $false
        }
        if ($labels.Count -gt 0) {
            $elevation['detail'] = (@($labels | ForEach-Object { ($_ -split '\s+' | Where-Object { $_ -match '^S-1-16-' }) }) -join ', ')
        }
        else {
            $elevation['detail'] = 'whoami /groups printed no mandatory label'
        }
    }
    catch {
        $elevation['detail'] = 'whoami /groups failed: ' + [string]$_
    }
    finally {
        $ErrorActionPreference = $previous
    }
    return $elevation
}

function Get-DoctorExecutionPolicy {
    $policy = [ordered]@{ scopes = @(); error = $null }
    try {
        foreach ($entry in @(Get-ExecutionPolicy -List)) {
            $policy['scopes'] += , ([ordered]@{ scope = [string]$entry.Scope; policy = [string]$entry.ExecutionPolicy })
        }
    }
    catch {
        $policy['error'] = [string]$_
    }
    return $policy
}

function Get-DoctorRegistry {
    $registry = [ordered]@{ containers = [ordered]@{}; keys = @(); error = $null }
    try {
        foreach ($subkey in @('SslBindingInfo', 'SslSniBindingInfo', 'SslCcsBindingInfo', 'SslScopedCcsBindingInfo')) {
            $base = $root + '\' + $subkey
            $present = [bool](Test-Path -LiteralPath $base)
            $registry['containers'][$subkey] = $present
            if (-not $present) {
                continue
            }
            foreach ($child in @(Get-ChildItem -LiteralPath $base | ForEach-Object { [string]$_.PSChildName })) {
                $item = Get-ItemProperty -LiteralPath ($base + '\' + $child)
                $values = @()
                if ($null -ne $item) {
                    foreach ($property in $item.PSObject.Properties) {
                        if ($providerProperties -notcontains $property.Name) {
                            $values += , (ConvertTo-DoctorValue -Name $property.Name -Data $property.Value)
                        }
                    }
                }
                $registry['keys'] += , ([ordered]@{ subkey = $subkey; child = $child; values = $values })
            }
        }
    }
    catch {
        $registry['error'] = [string]$_
    }
    return $registry
}

$edition = $PSVersionTable['PSEdition']
$document = [ordered]@{
    collector = 'sslbind-doctor'
    collected_at = Get-Date -Format 'o'
    computer_name = [string]$env:COMPUTERNAME
    os = Get-DoctorOs
    powershell = [ordered]@{
        version = [string]$PSVersionTable['PSVersion']
        edition = [string]$edition
        language_mode = [string]$ExecutionContext.SessionState.LanguageMode
    }
    elevation = Get-DoctorElevation
    execution_policy = Get-DoctorExecutionPolicy
    netsh = [ordered]@{
        add_help = Invoke-DoctorNetsh -Arguments @('http', 'add', 'sslcert', '/?')
        update_help = Invoke-DoctorNetsh -Arguments @('http', 'update', 'sslcert', '/?')
        delete_help = Invoke-DoctorNetsh -Arguments @('http', 'delete', 'sslcert', '/?')
        show = Invoke-DoctorNetsh -Arguments @('http', 'show', 'sslcert')
    }
    registry = Get-DoctorRegistry
}
$document['duration_ms'] = [int]((Get-Date) - $started).TotalMilliseconds
$document | ConvertTo-Json -Depth 10 -Compress
