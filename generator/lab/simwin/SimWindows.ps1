# The lab's simulated Windows, loaded into every runspace of a lab shell by
#   pwsh -NoLogo -NoProfile -s -Command ". '<this file>'"
# (pwsh's server mode runs -Command as the initialization script of each runspace it creates).
#
# Functions win over cmdlets in PowerShell's command lookup, so the global functions defined here
# shadow Test-Path, Get-Item, Get-ChildItem, Get-ItemProperty and Set-ItemProperty (and stand in
# for Get-NetTCPConnection, which Linux lacks). A call on a
# path of the simulated Windows (the HTTP.sys registry root, Cert:) is answered from the lab state
# by the lab's service (service.py, query.py) over a Unix socket; every other call goes to the real cmdlet through
# a steppable pipeline, with its static and dynamic parameters intact. netsh is not here: it is a
# real executable (bin/netsh) first on PATH, so $LASTEXITCODE behaves as on Windows.

function global:SslbindLabPathOf {
    # The single literal path a call names, when it belongs to the simulated Windows; else $null.
    param($Bound)
    $paths = $null
    if ($Bound.ContainsKey('LiteralPath')) { $paths = $Bound['LiteralPath'] }
    elseif ($Bound.ContainsKey('Path')) { $paths = $Bound['Path'] }
    if ($null -eq $paths) { return $null }
    $paths = @($paths)
    if ($paths.Count -ne 1) { return $null }
    $path = [string]$paths[0]
    $registry = '^((Microsoft\.PowerShell\.Core\\)?Registry::)?(HKLM:|HKEY_LOCAL_MACHINE)\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters(\\|$)'
    $cert = '^((Microsoft\.PowerShell\.Security\\)?Certificate::|Cert:)'
    if ($path -match $registry -or $path -match $cert) { return $path }
    return $null
}

function global:SslbindLabQuery {
    # Asks the lab's service (service.py) over its Unix socket; returns its JSON answer as an object.
    # Waits in short polls, so a pipeline stopped meanwhile stops here and closes the socket, and
    # the service then skips a call still in a fault's hang (as a killed native command would).
    param([string[]]$Arguments)
    $path = $env:SSLBIND_LAB_SERVICE
    if ([string]::IsNullOrEmpty($path)) { throw 'sslbind lab: SSLBIND_LAB_SERVICE is not set: this runs only inside an `sslbind lab` shell' }
    $request = ConvertTo-Json -Compress -InputObject ([ordered]@{
        call = 'query'; argv = @($Arguments); pid = $PID; shell = [string]$env:SSLBIND_LAB_SHELL_ID })
    $socket = [System.Net.Sockets.Socket]::new([System.Net.Sockets.AddressFamily]::Unix,
        [System.Net.Sockets.SocketType]::Stream, [System.Net.Sockets.ProtocolType]::Unspecified)
    try {
        $socket.Connect([System.Net.Sockets.UnixDomainSocketEndPoint]::new($path))
        [void]$socket.Send([System.Text.Encoding]::UTF8.GetBytes($request + "`n"))
        $buffer = [byte[]]::new(65536)
        $answer = [System.IO.MemoryStream]::new()
        while ($true) {
            if (-not $socket.Poll(200000, [System.Net.Sockets.SelectMode]::SelectRead)) { continue }
            $count = $socket.Receive($buffer)
            if ($count -eq 0) { break }
            $answer.Write($buffer, 0, $count)
        }
    } finally {
        $socket.Dispose()
    }
    $text = [System.Text.Encoding]::UTF8.GetString($answer.ToArray())
    if ($text.Length -eq 0) { throw "sslbind lab: the simulated Windows gave no answer to '$($Arguments -join ' ')'" }
    $result = $text | ConvertFrom-Json
    if ($null -ne $result.PSObject.Properties['failed']) {
        throw "sslbind lab: the simulated Windows failed on '$($Arguments -join ' ')': $($result.failed)"
    }
    return $result
}

function global:SslbindLabWriteError {
    param($Cmdlet, [string]$Message, [string]$Category, [string]$Id, $Target)
    $exception = [System.Management.Automation.ItemNotFoundException]::new($Message)
    if ($Category -eq 'PermissionDenied') { $exception = [System.UnauthorizedAccessException]::new($Message) }
    $record = [System.Management.Automation.ErrorRecord]::new(
        $exception, $Id, [System.Management.Automation.ErrorCategory]$Category, $Target)
    $Cmdlet.WriteError($record)
}

function global:SslbindLabMissing {
    param($Cmdlet, [string]$Path, [string]$Command)
    SslbindLabWriteError $Cmdlet "Cannot find path '$Path' because it does not exist." 'ObjectNotFound' "PathNotFound,Microsoft.PowerShell.Commands.$Command" $Path
}

function global:SslbindLabValue {
    param($Value)
    if ($Value.kind -eq 'binary') { return ,[byte[]][System.Convert]::FromHexString([string]$Value.value) }
    if ($Value.kind -eq 'dword') { return [int]$Value.value }
    return [string]$Value.value
}

function global:SslbindLabItem {
    # The object the real provider returns for a registry key, a certificate or a container.
    param($Node)
    if ($Node.type -eq 'cert') {
        $usages = [System.Collections.Generic.List[object]]::new()
        foreach ($eku in $Node.eku) {
            $usages.Add([pscustomobject]@{ FriendlyName = [string]$eku.name; ObjectId = [string]$eku.oid })
        }
        return [pscustomobject][ordered]@{
            PSPath = $Node.pspath; PSParentPath = $Node.parent_pspath; PSChildName = $Node.child
            PSIsContainer = $false
            Thumbprint = $Node.thumbprint; Subject = $Node.subject; Issuer = $Node.issuer
            FriendlyName = $Node.friendly_name; HasPrivateKey = [bool]$Node.has_private_key
            NotBefore = [System.DateTimeOffset]::FromUnixTimeSeconds([long]$Node.not_before).LocalDateTime
            NotAfter = [System.DateTimeOffset]::FromUnixTimeSeconds([long]$Node.not_after).LocalDateTime
            EnhancedKeyUsageList = $usages
        }
    }
    if ($Node.type -eq 'regkey') {
        return [pscustomobject][ordered]@{
            PSPath = $Node.pspath; PSParentPath = $Node.parent_pspath; PSChildName = $Node.child
            PSIsContainer = $true; Name = $Node.name
            Property = [string[]]@($Node.values | ForEach-Object { $_.name })
            SubKeyCount = [int]$Node.subkeys; ValueCount = @($Node.values).Count
        }
    }
    return [pscustomobject][ordered]@{
        PSPath = $Node.pspath; PSChildName = $Node.child; PSIsContainer = $true; Name = $Node.name
    }
}

function global:SslbindLabTestPath {
    param([string]$Path, $Bound, $Cmdlet)
    $answer = SslbindLabQuery @('get', $Path)
    if (-not $answer.exists) { return $false }
    $type = 'Any'
    if ($Bound.ContainsKey('PathType')) { $type = [string]$Bound['PathType'] }
    if ($type -eq 'Leaf') { return ($answer.item.type -eq 'cert') }
    if ($type -eq 'Container') { return ($answer.item.type -ne 'cert') }
    return $true
}

function global:SslbindLabGetItem {
    param([string]$Path, $Bound, $Cmdlet)
    $answer = SslbindLabQuery @('get', $Path)
    if (-not $answer.exists) { SslbindLabMissing $Cmdlet $Path 'GetItemCommand'; return }
    SslbindLabItem $answer.item
}

function global:SslbindLabGetChildItem {
    param([string]$Path, $Bound, $Cmdlet)
    $answer = SslbindLabQuery @('get', $Path)
    if (-not $answer.exists) { SslbindLabMissing $Cmdlet $Path 'GetChildItemCommand'; return }
    foreach ($child in $answer.children) { SslbindLabItem $child }
}

function global:SslbindLabGetItemProperty {
    param([string]$Path, $Bound, $Cmdlet)
    $answer = SslbindLabQuery @('get', $Path)
    if (-not $answer.exists) { SslbindLabMissing $Cmdlet $Path 'GetItemPropertyCommand'; return }
    if ($answer.item.type -ne 'regkey') { SslbindLabItem $answer.item; return }
    $wanted = $null
    if ($Bound.ContainsKey('Name')) { $wanted = @($Bound['Name']) }
    $properties = [ordered]@{}
    foreach ($value in $answer.item.values) {
        if ($null -eq $wanted -or $wanted -contains $value.name) { $properties[$value.name] = SslbindLabValue $value }
    }
    if ($null -ne $wanted) {
        foreach ($name in $wanted) {
            if (-not $properties.Contains($name)) {
                SslbindLabWriteError $Cmdlet "Property $name does not exist at path $($answer.item.name)." 'InvalidArgument' 'System.Management.Automation.PSArgumentException,Microsoft.PowerShell.Commands.GetItemPropertyCommand' $name
            }
        }
        if ($properties.Count -eq 0) { return }
    }
    $properties['PSPath'] = $answer.item.pspath
    $properties['PSParentPath'] = $answer.item.parent_pspath
    $properties['PSChildName'] = $answer.item.child
    $properties['PSDrive'] = 'HKLM'
    $properties['PSProvider'] = 'Microsoft.PowerShell.Core\Registry'
    [pscustomobject]$properties
}

function global:SslbindLabSetItemProperty {
    param([string]$Path, $Bound, $Cmdlet)
    $value = $Bound['Value']
    $type = 'String'
    if ($value -is [byte[]]) { $type = 'Binary'; $value = [System.Convert]::ToHexString($value) }
    elseif ($value -is [int] -or $value -is [long]) { $type = 'DWord' }
    if ($Bound.ContainsKey('Type')) { $type = [string]$Bound['Type'] }
    $answer = SslbindLabQuery @('set', $Path, [string]$Bound['Name'], [string]$value, $type)
    if ($answer.PSObject.Properties['error']) {
        SslbindLabWriteError $Cmdlet $answer.error $answer.category 'SetItemPropertyCommand' $Path
    }
}

function global:SslbindLabProxyText {
    # A global function named like the cmdlet that hands lab paths to $Handler and every other call
    # to the real cmdlet (ProxyCommand's own begin/process/end, dynamic parameters included).
    param([string]$Name, [string]$Module, [string]$Handler, [string]$ExtraParams)
    $command = Get-Command -Name "$Module\$Name" -CommandType Cmdlet
    $meta = [System.Management.Automation.CommandMetadata]::new($command)
    $proxy = [System.Management.Automation.ProxyCommand]
    $params = $proxy::GetParamBlock($meta)
    if ($ExtraParams) { $params = $params + ",`n" + $ExtraParams }
    return @"
function global:$Name {
$($proxy::GetCmdletBindingAttribute($meta))
param($params)
dynamicparam {
    if (`$null -eq (SslbindLabPathOf `$PSBoundParameters)) {
$($proxy::GetDynamicParam($meta))
    }
}
begin {
    `$labPath = SslbindLabPathOf `$PSBoundParameters
    `$steppablePipeline = `$null
    if (`$null -eq `$labPath) {
$($proxy::GetBegin($meta))
    }
}
process {
    if (`$null -eq `$labPath) {
$($proxy::GetProcess($meta))
    } else {
        $Handler -Path `$labPath -Bound `$PSBoundParameters -Cmdlet `$PSCmdlet
    }
}
end {
    if (`$null -eq `$labPath) {
$($proxy::GetEnd($meta))
    }
}
}
"@
}

. ([scriptblock]::Create((@(
    SslbindLabProxyText 'Test-Path' 'Microsoft.PowerShell.Management' 'SslbindLabTestPath'
    SslbindLabProxyText 'Get-Item' 'Microsoft.PowerShell.Management' 'SslbindLabGetItem'
    SslbindLabProxyText 'Get-ChildItem' 'Microsoft.PowerShell.Management' 'SslbindLabGetChildItem'
    SslbindLabProxyText 'Get-ItemProperty' 'Microsoft.PowerShell.Management' 'SslbindLabGetItemProperty'
    SslbindLabProxyText 'Set-ItemProperty' 'Microsoft.PowerShell.Management' 'SslbindLabSetItemProperty' '[Parameter()] [string] ${Type}'
) -join "`n")))

function global:SslbindLabCimNotFound {
    # The non-terminating error NetTCPIP's cmdletization writes when a filter matches nothing.
    param($Cmdlet, $Miss)
    $target = [string]$Miss.value
    if ($Miss.property -eq 'LocalPort' -or $Miss.property -eq 'RemotePort') { $target = [uint16]$Miss.value }
    elseif ($Miss.property -eq 'OwningProcess') { $target = [uint32]$Miss.value }
    $exception = [Microsoft.PowerShell.Cmdletization.Cim.CimJobException]::new([string]$Miss.message)
    $record = [System.Management.Automation.ErrorRecord]::new(
        $exception, [string]$Miss.id, [System.Management.Automation.ErrorCategory]::ObjectNotFound, $target)
    $Cmdlet.WriteError($record)
}

# NetTCPIP is a Windows-only CDXML module, so there is no cmdlet to proxy here: this function is the
# whole command, with the Windows cmdlet's filter parameters (not -CimSession, -AsJob, -AppliedSetting,
# -CreationTime, -OffloadState). It answers from the state's "listeners" (generator/lab/simwin/tcp.py):
# one row per listening port, and when a filter matches nothing the error Windows writes, which the
# caller's -ErrorAction governs as on Windows (SilentlyContinue: nothing, Stop: a throw).
function global:Get-NetTCPConnection {
    [CmdletBinding()]
    param(
        [Parameter(Position = 0)][ValidateNotNull()][string[]]$LocalAddress,
        [Parameter(Position = 1)][ValidateNotNull()][uint16[]]$LocalPort,
        [ValidateNotNull()][string[]]$RemoteAddress,
        [ValidateNotNull()][uint16[]]$RemotePort,
        [ValidateSet('Closed', 'Listen', 'SynSent', 'SynReceived', 'Established', 'FinWait1', 'FinWait2',
            'CloseWait', 'Closing', 'LastAck', 'TimeWait', 'DeleteTCB', 'Bound')][string[]]$State,
        [ValidateNotNull()][uint32[]]$OwningProcess
    )
    $filters = [ordered]@{}
    foreach ($name in @('LocalAddress', 'LocalPort', 'RemoteAddress', 'RemotePort', 'State', 'OwningProcess')) {
        if ($PSBoundParameters.ContainsKey($name)) { $filters[$name] = @($PSBoundParameters[$name]) }
    }
    $answer = SslbindLabQuery @('tcp', (ConvertTo-Json -Compress -InputObject $filters))
    foreach ($row in $answer.rows) {
        [pscustomobject][ordered]@{
            LocalAddress = [string]$row.LocalAddress; LocalPort = [uint16]$row.LocalPort
            RemoteAddress = [string]$row.RemoteAddress; RemotePort = [uint16]$row.RemotePort
            State = [string]$row.State; OwningProcess = [uint32]$row.OwningProcess
        }
    }
    foreach ($miss in $answer.errors) { SslbindLabCimNotFound $PSCmdlet $miss }
}

# The TLS front (generator/lab/front.py) serves a binding's address:port on a mapped loopback
# endpoint. The template's Invoke-SslTlsHandshake touchpoint asks here, off Windows, where to
# connect: 'host:port' ('[::1]:port' for IPv6), or nothing when no front serves this lab.
function global:SslbindLabTlsEndpoint {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][string]$Address,
        [Parameter(Mandatory = $true)][int]$Port
    )
    $answer = SslbindLabQuery @('tls-endpoint', $Address, [string]$Port)
    if ($null -ne $answer.endpoint) { return [string]$answer.endpoint }
}

# The host lock's folder (Get-SslLockFolderFacts): Linux has no Windows ACLs, so the lab simulates
# the security descriptor sslbind gives the folder it creates (owner Administrators, protected,
# SYSTEM and Administrators full control), or the state's 'lock_folder_sddl' to model another.
# What the lab proves about the ACL rule is only that the scripts read and apply it; Pester
# proves the refusals.
function global:SslbindLabLockFolderSddl {
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][string]$Path)
    $state = [System.IO.File]::ReadAllText($env:SSLBIND_LAB_STATE) | ConvertFrom-Json
    if ($null -ne $state.PSObject.Properties['lock_folder_sddl']) { return [string]$state.lock_folder_sddl }
    return 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)'
}

function global:SslbindLabLanguageMode {
    # The language mode the state gives the client's runspaces (validated like the Python side).
    $path = $env:SSLBIND_LAB_STATE
    $state = [System.IO.File]::ReadAllText($path) | ConvertFrom-Json  # replaced atomically: no lock needed
    $mode = 'FullLanguage'
    if ($null -ne $state.PSObject.Properties['language_mode']) { $mode = [string]$state.language_mode }
    $modes = @('FullLanguage', 'ConstrainedLanguage', 'RestrictedLanguage', 'NoLanguage')
    if ($modes -cnotcontains $mode) {
        throw "${path}: language_mode: must be one of $($modes -join ', ')"
    }
    return $mode
}

# Last, because it applies to this very runspace: the client's pipelines run in the state's
# language mode, while the functions above, defined in FullLanguage, keep running in it (as
# Windows' own signed modules do under WDAC / AppLocker).
$ExecutionContext.SessionState.LanguageMode = SslbindLabLanguageMode
