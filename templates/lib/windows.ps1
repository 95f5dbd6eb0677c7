# ---------------------------------------------------------------------------------------------
# Windows touchpoints: the ONLY functions that reach Windows (docs/windows-touchpoints.md).
# Pester mocks these; the sslbind lab emulates the cmdlets and netsh beneath them. Everything else
# in this script works on plain data.
# ---------------------------------------------------------------------------------------------

function Invoke-SslNetsh {
    # The one netsh wrapper: logs the exact command line, runs netsh with the native-command error
    # preference relaxed (Windows PowerShell 5.1 turns redirected stderr into terminating errors),
    # takes the Win32 code from the 'Error: <n>' text (falling back to the exit code) and throws
    # with operation, binding, code and output unless the code is accepted. -AnyExitCode returns
    # the output whatever happened (the usage text of '/?').
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][ValidateSet('add', 'delete', 'show', 'update', 'help')][string]$Operation,
        [Parameter(Mandatory = $true)][string]$Subject,
        [Parameter(Mandatory = $true)][string[]]$Arguments,
        [Parameter(Mandatory = $true)][string]$CommandLine,
        [int[]]$AcceptCode = @(),
        [switch]$AnyExitCode
    )
    Write-SslLog -Message ('run: ' + $CommandLine)
    $previous = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        $raw = & netsh @Arguments 2>&1
        $exitCode = $LASTEXITCODE
    }
    finally {
        $ErrorActionPreference = $previous
    }
    $lines = @($raw | ForEach-Object { [string]$_ } | Where-Object { $_.Trim().Length -gt 0 })
    $output = ($lines -join "`n").Trim()
    $code = [long]0
    # 'SSL Certificate add failed, Error: 183'; localized builds translate 'Error', so the code is
    # taken from the first line that ends in ': <digits>'.
    # French puts a space before the colon ('erreur : 183').
    if ($output -match '(?m)^.*\S\s?:\s*(\d{1,10})\s*$') {
        $code = [long]$Matches[1]
    }
    elseif ($exitCode -ne 0) {
        $code = [long]$exitCode
    }
    $result = [pscustomobject]@{ ExitCode = [int]$exitCode; Code = $code; Output = $output }
    if ($AnyExitCode -or $code -eq 0 -or ($AcceptCode -contains $code)) {
        return $result
    }
    throw ('netsh ' + $Operation + ' failed for ' + $Subject + ' with error ' + $code + ' (exit code ' +
        $exitCode + '): ' + $output + ' [command: ' + $CommandLine + ']')
}

function Test-SslRegistryKey {
    [CmdletBinding()]
    [OutputType([bool])]
    param([Parameter(Mandatory = $true)][string]$Path)
    return [bool](Test-Path -LiteralPath $Path)
}

function Get-SslRegistrySubkeyName {
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][string]$Path)
    return , @(Get-ChildItem -LiteralPath $Path | ForEach-Object { [string]$_.PSChildName })
}

function Get-SslRegistryValue {
    # One object whose note properties are the key's values; a value at its default is absent.
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][string]$Path)
    return Get-ItemProperty -LiteralPath $Path
}

function Set-SslRegistryDword {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][string]$Path,
        [Parameter(Mandatory = $true)][string]$Name,
        [Parameter(Mandatory = $true)][int]$Value
    )
    # The script asks ShouldProcess once for the whole change; this write must not ask again.
    Set-ItemProperty -LiteralPath $Path -Name $Name -Value $Value -Type DWord -Confirm:$false -WhatIf:$false
}

function Get-SslStoreCertificate {
    # Certificates of LocalMachine\<store>; $null when the store does not exist.
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][string]$StoreName)
    $path = 'Cert:\LocalMachine\' + $StoreName
    if (-not (Test-Path -LiteralPath $path)) {
        return $null
    }
    return , @(Get-ChildItem -LiteralPath $path)
}

function Test-SslElevated {
    # Is this session elevated (Administrator)? netsh and the HTTP registry key need it. Off
    # Windows (the sslbind lab) there is no such token, so the answer is yes.
    [CmdletBinding()]
    [OutputType([bool])]
    param()
    if ([Environment]::OSVersion.Platform -ne [PlatformID]::Win32NT) {
        return $true
    }
    $principal = New-Object -TypeName 'Security.Principal.WindowsPrincipal' -ArgumentList ([Security.Principal.WindowsIdentity]::GetCurrent())
    return [bool]$principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
}
