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
    # The Win32 code comes only from netsh's failure line, the first one it prints ('SSL Certificate
    # add failed, Error: 183'; localized builds translate 'Error', French puts a space before the
    # colon: 'erreur : 183'). Later lines may be the usage text, whose examples end in ':443'.
    $code = [long]0
    $rejected = $false
    if ($lines.Count -gt 0 -and $lines[0] -match '\S\s?:\s*(\d{1,10})\s*$') {
        $code = [long]$Matches[1]
    }
    elseif ($Operation -ne 'help' -and (Test-SslNetshUsage -Text $output)) {
        # netsh printed its usage: it did not understand the command line (whatever the exit code).
        $rejected = $true
        $code = [long]$exitCode
        if ($code -eq 0) {
            $code = 1
        }
    }
    elseif ($exitCode -ne 0) {
        $code = [long]$exitCode
    }
    $result = [ordered]@{ ExitCode = [int]$exitCode; Code = $code; Output = $output; Rejected = $rejected }
    if ($AnyExitCode -or (-not $rejected -and ($code -eq 0 -or ($AcceptCode -contains $code)))) {
        return $result
    }
    if ($rejected) {
        throw ('netsh ' + $Operation + ' failed for ' + $Subject + ': netsh rejected the command line and printed its usage (exit code ' +
            $exitCode + '); first line: ' + $lines[0] + ' [command: ' + $CommandLine + ']')
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
    # Is this session elevated as an Administrator? whoami /groups lists the High (S-1-16-12288) or
    # System (S-1-16-16384) mandatory label and the Administrators group (S-1-5-32-544) then: the
    # label alone is not enough (NetworkService and other service accounts have the System label
    # without being administrators). Unlike WindowsPrincipal this works in Constrained Language,
    # and SIDs are not localized. Off Windows (the sslbind lab) there is no such token, so the
    # answer is yes.
    [CmdletBinding()]
    [OutputType([bool])]
    param()
    if ($PSVersionTable.PSVersion.Major -ge 6 -and -not $IsWindows) {
        return $true
    }
    $previous = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        $groups = @(& whoami.exe /groups 2>&1 | ForEach-Object { [string]$_ })
    }
    finally {
        $ErrorActionPreference = $previous
    }
    return (Test-SslAdministratorGroups -Line $groups)
}

function Get-SslWowArchitecture {
    # The machine's architecture when this PowerShell runs as a 32-bit process on 64-bit Windows
    # (the Microsoft.PowerShell32 endpoint: netsh resolves to SysWOW64 there), else ''.
    # PROCESSOR_ARCHITEW6432 is set only in such a process.
    [CmdletBinding()]
    [OutputType([string])]
    param()
    return [string]$env:PROCESSOR_ARCHITEW6432
}

function Set-SslResultFile {
    # A run from a file saves its JSON result beside the script: a new file only, never an
    # overwrite ($false when the name is taken). UTF-8 (with a BOM on 5.1, without on 7), so
    # non-ASCII netsh text and certificate subjects are kept, not turned into '?'.
    [CmdletBinding()]
    [OutputType([bool])]
    param([Parameter(Mandatory = $true)][string]$Path, [Parameter(Mandatory = $true)][string]$Text)
    if (Test-Path -LiteralPath $Path) {
        return $false
    }
    Out-File -LiteralPath $Path -InputObject $Text -Encoding utf8 -NoClobber -WhatIf:$false -Confirm:$false
    return $true
}

function Test-SslPortListening {
    # Does a process listen on this TCP port (any address)? The trial binding avoids such ports.
    [CmdletBinding()]
    [OutputType([bool])]
    param([Parameter(Mandatory = $true)][int]$Port)
    # No listener is an error record 'CmdletizationQuery_NotFound'; any other failure (access
    # denied, WMI down) must not pass for a free port.
    try {
        return (@(Get-NetTCPConnection -State Listen -LocalPort $Port -ErrorAction Stop).Count -gt 0)
    }
    catch {
        if ([string]$_.FullyQualifiedErrorId -like 'CmdletizationQuery_NotFound*') {
            return $false
        }
        throw ('could not tell whether TCP port ' + $Port + ' has a listener: ' + $_.Exception.Message)
    }
}

function Get-SslLockPath {
    # The host-wide lock file every phase holds while it runs: one change per host at a time,
    # across sessions and users. On Windows under ProgramData, in a folder only SYSTEM and
    # Administrators may write to (Initialize-SslLockFolder); off Windows (the sslbind lab) beside
    # the lab host's state, so each simulated host has its own.
    [CmdletBinding()]
    param()
    if ($PSVersionTable.PSVersion.Major -ge 6 -and -not $IsWindows) {
        if ([string]::IsNullOrEmpty($env:SSLBIND_LAB_STATE)) {
            throw 'no place for the host lock: off Windows sslbind scripts run only on the sslbind lab'
        }
        return ([string]$env:SSLBIND_LAB_STATE + '.sslbind.lock')
    }
    return ([string]$env:ProgramData + '\sslbind\host.lock')
}

function Get-SslLockFolderFacts {
    # What the lock's folder is: @{ exists; container; reparse; sddl } (sddl: its security
    # descriptor in SDDL, SIDs as Windows writes them: not localized). Only read; the rule on what
    # is safe is Get-SslLockFolderProblem's. Off Windows (the sslbind lab) there are no Windows
    # ACLs: SimWindows' SslbindLabLockFolderSddl gives the descriptor the lab simulates.
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][string]$Path)
    $facts = [ordered]@{ exists = $false; container = $false; reparse = $false; sddl = $null }
    if (-not (Test-Path -LiteralPath $Path)) {
        return $facts
    }
    $item = Get-Item -LiteralPath $Path -Force -ErrorAction Stop
    $facts.exists = $true
    $facts.container = [bool]$item.PSIsContainer
    $facts.reparse = ([string]$item.Attributes -match 'ReparsePoint')
    if ($PSVersionTable.PSVersion.Major -ge 6 -and -not $IsWindows) {
        if ($null -eq (Get-Command -Name 'SslbindLabLockFolderSddl' -ErrorAction SilentlyContinue)) {
            throw ('cannot read the security descriptor of ' + $Path + ': off Windows sslbind scripts run only on the sslbind lab')
        }
        $facts.sddl = [string](SslbindLabLockFolderSddl -Path $Path)
        return $facts
    }
    $facts.sddl = [string](Get-Acl -LiteralPath $Path).Sddl
    return $facts
}

function Initialize-SslLockFolder {
    # Creates the lock's folder for SYSTEM and Administrators only: owner Administrators,
    # inheritance removed (ProgramData lets every user create and write), full control for
    # S-1-5-18 and S-1-5-32-544. icacls is a native command, so this works in ConstrainedLanguage.
    # New-Item without -Force fails if the folder appeared meanwhile; the caller checks the folder
    # whoever made it. Off Windows (the sslbind lab) the folder is the lab's state folder.
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][string]$Path)
    $null = New-Item -ItemType Directory -Path $Path -WhatIf:$false -Confirm:$false -ErrorAction Stop
    if ($PSVersionTable.PSVersion.Major -ge 6 -and -not $IsWindows) {
        return
    }
    foreach ($arguments in @(
            , @($Path, '/inheritance:r', '/grant:r', '*S-1-5-18:(OI)(CI)F', '*S-1-5-32-544:(OI)(CI)F')
            , @($Path, '/setowner', '*S-1-5-32-544')
        )) {
        $previous = $ErrorActionPreference
        $ErrorActionPreference = 'Continue'
        try {
            $output = @(& icacls.exe @arguments 2>&1 | ForEach-Object { [string]$_ })
            $exitCode = $LASTEXITCODE
        }
        finally {
            $ErrorActionPreference = $previous
        }
        if ($exitCode -ne 0) {
            throw ('icacls ' + ($arguments -join ' ') + ' failed with exit code ' + $exitCode + ': ' + (($output | Where-Object { $_.Trim().Length -gt 0 }) -join ' '))
        }
    }
}

function New-SslLockFile {
    # Creates the file -Path with -Text; $false when it exists already (New-Item without -Force
    # creates only a new file), so two sessions never both succeed. Reads it back (create, then
    # verify): $true only when it holds -Text.
    [CmdletBinding()]
    [OutputType([bool])]
    param([Parameter(Mandatory = $true)][string]$Path, [Parameter(Mandatory = $true)][string]$Text)
    try {
        $null = New-Item -ItemType File -Path $Path -Value $Text -WhatIf:$false -Confirm:$false -ErrorAction Stop
    }
    catch {
        if (Test-Path -LiteralPath $Path) {
            return $false
        }
        throw
    }
    return ([string](Get-Content -Raw -LiteralPath $Path) -ceq $Text)
}

function Read-SslLockFile {
    # What is at the lock path: @{ state = 'absent' | 'text' | 'unreadable'; text; reason }. A
    # directory, or a file this account may not read, is 'unreadable' (the caller counts it held).
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][string]$Path)
    $seen = [ordered]@{ state = 'absent'; text = $null; reason = $null }
    if (-not (Test-Path -LiteralPath $Path)) {
        return $seen
    }
    if (Test-Path -LiteralPath $Path -PathType Container) {
        $seen.state = 'unreadable'
        $seen.reason = 'a directory'
        return $seen
    }
    try {
        $seen.text = [string](Get-Content -Raw -LiteralPath $Path -ErrorAction Stop)
        $seen.state = 'text'
    }
    catch {
        $seen.state = 'unreadable'
        $seen.reason = $_.Exception.Message
        if (-not (Test-Path -LiteralPath $Path)) {
            # removed between the two calls
            $seen.state = 'absent'
            $seen.reason = $null
        }
    }
    return $seen
}

function Remove-SslLockFile {
    # Removes the lock file; $true when nothing is left at the path (a removal that failed, say
    # for want of the right to delete, is $false: the caller counts the lock held).
    [CmdletBinding()]
    [OutputType([bool])]
    param([Parameter(Mandatory = $true)][string]$Path)
    Remove-Item -LiteralPath $Path -Force -WhatIf:$false -Confirm:$false -ErrorAction SilentlyContinue
    return (-not (Test-Path -LiteralPath $Path))
}

function Get-SslProcessStart {
    # When process -Id started (UTC ticks: a number, which ConvertFrom-Json keeps as it is, unlike
    # a date string that PowerShell 7 turns into a DateTime), or $null when it no longer runs: a
    # lock whose holder is gone (or whose pid now belongs to another process) is stale; -1 when it
    # runs but this account may not read its start time (an elevated holder seen unelevated).
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][int]$Id)
    $process = Get-Process -Id $Id -ErrorAction SilentlyContinue
    if ($null -eq $process) {
        return $null
    }
    $started = $process.StartTime
    if ($null -eq $started) {
        return [long]-1
    }
    return [long]$started.ToUniversalTime().Ticks
}

function Invoke-SslTlsHandshake {
    # One TLS handshake to Address:Port (SNI = -ServerName; none when it is empty or an IP address),
    # to read which certificate the server presents: @{ ok; thumbprint; protocol;
    # client_cert_requested; error; listening; timed_out } (listening $false: no TCP connection at
    # all; timed_out: connected, but no answer within -TimeoutMs). -Fresh: a new TLS session, none
    # resumed from an earlier handshake of this process (the restore's confirmation). Read-only: the certificate is only read, never trusted (the
    # caller compares thumbprints), no HTTP request is sent, the connection closes after the
    # handshake, every wait is bounded by -TimeoutMs. Needs .NET (TcpClient, SslStream): the caller
    # never calls it in ConstrainedLanguage. Off Windows (the sslbind lab) the lab's TLS front
    # listens on a loopback port mapped from the binding's: SslbindLabTlsEndpoint -Address -Port
    # names it ('host:port'), or nothing when the lab serves no TLS for it (ok = $null, not checked).
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][string]$Address,
        [Parameter(Mandatory = $true)][int]$Port,
        [AllowEmptyString()][string]$ServerName = '',
        [int]$TimeoutMs = 3000,
        [switch]$Fresh
    )
    $result = [ordered]@{ ok = $false; thumbprint = $null; protocol = $null; client_cert_requested = $null; error = $null; listening = $null; timed_out = $false }
    $connectAddress = $Address
    $connectPort = $Port
    if ($PSVersionTable.PSVersion.Major -ge 6 -and -not $IsWindows) {
        $endpoint = $null
        if ($null -ne (Get-Command -Name 'SslbindLabTlsEndpoint' -ErrorAction SilentlyContinue)) {
            $endpoint = [string](SslbindLabTlsEndpoint -Address $Address -Port $Port)
        }
        if ([string]::IsNullOrEmpty($endpoint)) {
            $result.ok = $null
            $result.error = 'not checked: the sslbind lab serves no TLS for ' + $Address + ':' + $Port
            return $result
        }
        $connectAddress = $endpoint.Substring(0, $endpoint.LastIndexOf(':')).Trim('[', ']')
        $connectPort = [int]$endpoint.Substring($endpoint.LastIndexOf(':') + 1)
    }
    $state = @{ requested = $false; certificate = $null }
    $client = $null
    $stream = $null
    try {
        $family = [System.Net.Sockets.AddressFamily]::InterNetwork
        if ($connectAddress.Contains(':')) {
            $family = [System.Net.Sockets.AddressFamily]::InterNetworkV6
        }
        $client = New-Object -TypeName System.Net.Sockets.TcpClient -ArgumentList $family
        $client.ReceiveTimeout = $TimeoutMs
        $client.SendTimeout = $TimeoutMs
        $connect = $client.ConnectAsync($connectAddress, $connectPort)
        $result.listening = $false
        if (-not $connect.Wait($TimeoutMs)) {
            throw ('no TCP connection within ' + $TimeoutMs + ' ms')
        }
        $result.listening = $true
        # Accept any certificate: it is only read (its thumbprint is compared by the caller), and a
        # lab CA or an internal one must not hide which certificate HTTP.sys selected.
        $accept = [System.Net.Security.RemoteCertificateValidationCallback] {
            param($sender, $certificate, $chain, $errors)
            $state.certificate = $certificate
            return $true
        }
        # Called when the server asks for a client certificate (with its own certificate known
        # then); none is offered.
        $select = [System.Net.Security.LocalCertificateSelectionCallback] {
            param($sender, $targetHost, $localCertificates, $remoteCertificate, $acceptableIssuers)
            if ($null -ne $remoteCertificate) {
                $state.requested = $true
            }
            return $null
        }
        $stream = New-Object -TypeName System.Net.Security.SslStream -ArgumentList $client.GetStream(), $false, $accept, $select
        $protocols = [System.Security.Authentication.SslProtocols]::None
        if ($PSVersionTable.PSVersion.Major -lt 6 -or $Fresh) {
            # .NET Framework before 4.7 has no system default: offer TLS 1.0 to 1.2 (and 1.3 where known).
            $protocols = [System.Security.Authentication.SslProtocols]'Tls, Tls11, Tls12'
            if ([enum]::IsDefined([System.Security.Authentication.SslProtocols], 'Tls13')) {
                $protocols = $protocols -bor [System.Security.Authentication.SslProtocols]'Tls13'
            }
        }
        if ($Fresh) {
            # .NET caches the client credential per protocol set, and Schannel resumes sessions per
            # credential: a set no other handshake of this process uses (TLS 1.0 left out) gets a new
            # credential, so no session of an earlier handshake is resumed [unverified on Windows].
            $protocols = $protocols -band (-bnot [System.Security.Authentication.SslProtocols]::Tls)
        }
        $name = $ServerName
        if ([string]::IsNullOrEmpty($name)) {
            # An IP address as the target host sends no SNI, as a client connecting by address.
            $name = $connectAddress
        }
        $stream.AuthenticateAsClient($name, $null, $protocols, $false)
        $certificate = $stream.RemoteCertificate
        if ($null -eq $certificate) {
            $certificate = $state.certificate
        }
        if ($null -eq $certificate) {
            throw 'the server presented no certificate'
        }
        $result.thumbprint = $certificate.GetCertHashString().ToLowerInvariant()
        $result.protocol = [string]$stream.SslProtocol
        $result.client_cert_requested = [bool]$state.requested
        $result.ok = $true
    }
    catch {
        $failure = $_.Exception
        while ($null -ne $failure.InnerException) {
            if ($failure -is [System.TimeoutException]) {
                $result.timed_out = $true
            }
            $failure = $failure.InnerException
        }
        # Connected, then no answer within the timeout (a socket read timeout): the caller tries
        # again; a reset or an alert is an answer. No TCP connection at all is listening = $false.
        if ($result.listening -and ($failure -is [System.TimeoutException] -or
                ($failure -is [System.Net.Sockets.SocketException] -and [string]$failure.SocketErrorCode -eq 'TimedOut'))) {
            $result.timed_out = $true
        }
        if (-not $result.listening) {
            $result.timed_out = $false
        }
        $result.error = 'TLS handshake with ' + $connectAddress + ':' + $connectPort + ' failed: ' + $failure.Message
        if ($null -ne $state.certificate) {
            $result.thumbprint = $state.certificate.GetCertHashString().ToLowerInvariant()
        }
    }
    finally {
        if ($null -ne $stream) {
            $stream.Dispose()
        }
        if ($null -ne $client) {
            $client.Dispose()
        }
    }
    return $result
}
