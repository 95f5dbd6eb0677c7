<#
.SYNOPSIS
An in-memory Windows host for tests: HTTP.sys registry keys, LocalMachine certificate stores and a
netsh that behaves like the real one (183 on a second add, 2 on deleting a missing binding, 1312
for a certificate it cannot find, exit 0 without a binding for a parameter it does not know).

.DESCRIPTION
Dot-source after the rendered sslbind library (it uses $global:FakeTable). The Fake*
functions have the touchpoint wrappers' parameters; Pester mocks the wrappers with them, and
Enable-FakeHostAlias points the wrapper names at them for runs without Pester.
#>

Set-StrictMode -Version 3.0

# Test state lives in globals: these functions run from inside the rendered scripts (via mocks),
# where $script: would mean the rendered script's scope.
$global:FakeTable = @($script:SslSettingTable)
$global:FakeRoot = $script:SslRegistryRoot
$global:FakeSubkey = $script:SslRegistrySubkey
$global:FakeAllTags = @('ipport', 'hostnameport', 'ccs', 'scopedccs') + @($global:FakeTable | ForEach-Object { $_.Name })

function Reset-FakeHost {
    # -NoUpdate: a netsh without 'http update sslcert' (Server 2012 R2 / 2016).
    param([string[]]$HelpTags = $global:FakeAllTags, [switch]$NoUpdate)
    $global:FakeKeys = [ordered]@{}
    $global:FakeStores = @{}
    $global:FakeLockSddl = 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)'
    $global:FakeLockReparse = $false
    $global:FakeFaults = New-Object -TypeName 'System.Collections.Generic.List[object]'
    $global:FakeExtended = @{}
    $global:FakeCalls = New-Object -TypeName 'System.Collections.Generic.List[string]'
    $global:FakeRegistryWrites = New-Object -TypeName 'System.Collections.Generic.List[string]'
    $global:FakeSniCounter = 0
    # Like the real usage text: '[tag=]<value>' lines, then the tags again in a table and in prose.
    $global:FakeHelp = "Usage: add sslcert`n" + (($HelpTags | ForEach-Object { '            [' + $_ + '=]<value>' }) -join "`n") +
        "`n`nParameters:`n" + (($HelpTags | ForEach-Object { '    ' + $_ + '  - parameter' }) -join "`n")
    $global:FakeUpdateHelp = $global:FakeHelp -replace 'Usage: add sslcert', 'Usage: update sslcert'
    if ($NoUpdate) {
        $global:FakeUpdateHelp = 'The following command was not found: http update sslcert /?.'
    }
    $global:FakeListeners = @()
    $root = $global:FakeRoot
    $global:FakeKeys[$root.ToLowerInvariant()] = [ordered]@{ Path = $root; Values = [ordered]@{} }
}

function ConvertTo-FakeHashByte {
    param([string]$Hex)
    $bytes = New-Object -TypeName 'byte[]' -ArgumentList ($Hex.Length / 2)
    for ($i = 0; $i -lt $bytes.Length; $i++) {
        $bytes[$i] = [Convert]::ToByte($Hex.Substring($i * 2, 2), 16)
    }
    return , $bytes
}

function Get-FakeBindingPath {
    param([string]$Kind, [string]$Key)
    $base = $global:FakeRoot + '\' + $global:FakeSubkey[$Kind]
    if ($Kind -eq 'ipport') {
        return ($base + '\' + $Key)
    }
    if ($Kind -eq 'ccs') {
        return ($base + '\0.0.0.0:' + $Key)
    }
    foreach ($entry in $global:FakeKeys.Values) {
        if ($entry.Path.StartsWith($base + '\') -and $entry.Values.Contains('HostnamePort') -and $entry.Values['HostnamePort'] -eq $Key) {
            return $entry.Path
        }
    }
    $global:FakeSniCounter++
    return ($base + '\{00000000-0000-0000-0000-' + $global:FakeSniCounter.ToString('000000000000') + '}')
}

function Set-FakeRawBinding {
    # A binding key with exactly these registry values (raw: byte[], int, string).
    param([string]$Kind, [string]$Key, [System.Collections.IDictionary]$Values)
    $path = Get-FakeBindingPath -Kind $Kind -Key $Key
    $base = $path.Substring(0, $path.LastIndexOf('\'))
    if (-not $global:FakeKeys.Contains($base.ToLowerInvariant())) {
        $global:FakeKeys[$base.ToLowerInvariant()] = [ordered]@{ Path = $base; Values = [ordered]@{} }
    }
    $all = [ordered]@{}
    if ($Kind -eq 'hostnameport' -or $Kind -eq 'scopedccs') {
        $all['HostnamePort'] = $Key
    }
    foreach ($name in $Values.Keys) {
        $all[$name] = $Values[$name]
    }
    $global:FakeKeys[$path.ToLowerInvariant()] = [ordered]@{ Path = $path; Values = $all }
    return $path
}

function ConvertTo-FakeRegistryValue {
    # What HTTP.sys writes for a binding's settings: only non-default values.
    param([System.Collections.IDictionary]$Settings)
    $values = [ordered]@{}
    $checkMode = 0
    $flags = 0
    foreach ($s in $global:FakeTable) {
        if (-not $Settings.Contains($s.Name) -or $null -eq $Settings[$s.Name]) {
            continue
        }
        $value = $Settings[$s.Name]
        if ($s.CheckModeBit -ne 0) {
            if (($value -eq 'disable') -eq $s.Inverted) { $checkMode = $checkMode -bor $s.CheckModeBit }
        }
        elseif ($s.FlagBit -ne 0) {
            if ($value -eq 'enable') { $flags = $flags -bor $s.FlagBit }
        }
        elseif ($s.Kind -eq 'hash') {
            $values[$s.RegistryValue] = ConvertTo-FakeHashByte -Hex $value
        }
        elseif ($s.Kind -eq 'guid') {
            $values[$s.RegistryValue] = ([guid]$value).ToByteArray()
        }
        elseif ($s.Kind -eq 'uint32') {
            # REG_DWORD reads back as Int32: values from 0x80000000 come back negative
            $number = [long]$value
            if ($number -gt [int]::MaxValue) { $number -= 4294967296 }
            if ($number -ne 0) { $values[$s.RegistryValue] = [int]$number }
        }
        else {
            $values[$s.RegistryValue] = [string]$value
        }
    }
    if ($Settings.Contains('revocationfreshnesstime') -and [long]$Settings['revocationfreshnesstime'] -gt 0) {
        $checkMode = $checkMode -bor 0x4
    }
    if ($checkMode -ne 0) { $values['DefaultSslCertCheckMode'] = [int]$checkMode }
    if ($flags -ne 0) { $values['DefaultFlags'] = [int]$flags }
    return $values
}

function Add-FakeBinding {
    param([string]$Kind, [string]$Key, [System.Collections.IDictionary]$Settings)
    return (Set-FakeRawBinding -Kind $Kind -Key $Key -Values (ConvertTo-FakeRegistryValue -Settings $Settings))
}

function Get-FakeBindingValue {
    param([string]$Kind, [string]$Key)
    $path = Get-FakeBindingPath -Kind $Kind -Key $Key
    $entry = $global:FakeKeys[$path.ToLowerInvariant()]
    if ($null -eq $entry) { return $null }
    return $entry.Values
}

function Add-FakeCertificate {
    param(
        [string]$Store = 'My',
        [string]$Thumbprint,
        [switch]$NoPrivateKey,
        [switch]$Expired,
        [switch]$NotYetValid,
        [switch]$KeyUnusable,
        [string[]]$Usage = @()
    )
    $notBefore = (Get-Date).AddDays(-10)
    $notAfter = (Get-Date).AddDays(300)
    if ($Expired) { $notAfter = (Get-Date).AddDays(-1) }
    if ($NotYetValid) { $notBefore = (Get-Date).AddDays(2) }
    if (-not $global:FakeStores.ContainsKey($Store)) {
        $global:FakeStores[$Store] = New-Object -TypeName 'System.Collections.Generic.List[object]'
    }
    $global:FakeStores[$Store].Add([pscustomobject]@{
            Thumbprint = $Thumbprint.ToUpperInvariant(); Subject = 'CN=test'; HasPrivateKey = (-not $NoPrivateKey)
            KeyUnusable = [bool]$KeyUnusable; NotBefore = $notBefore; NotAfter = $notAfter
            EnhancedKeyUsageList = @($Usage | ForEach-Object { [pscustomobject]@{ FriendlyName = $_; ObjectId = $_ } })
        })
}

function Remove-FakeCertificate {
    # A certificate taken out of its store (e.g. the old one deleted after a renewal).
    param([string]$Store = 'My', [string]$Thumbprint)
    $list = $global:FakeStores[$Store]
    foreach ($certificate in @($list | Where-Object { $_.Thumbprint -eq $Thumbprint.ToUpperInvariant() })) {
        [void]$list.Remove($certificate)
    }
}

function Add-FakeFault {
    # The next netsh <On> fails with <Code>; code 0 means "exit 0 but nothing happens", a negative
    # code hangs that many seconds; -Usage prints netsh's usage text (as for a command line it
    # cannot parse) and exits 1.
    # -Trial aims at the scripts' trial binding on 127.0.0.1; without it a fault hits only live keys.
    param([ValidateSet('add', 'delete', 'update')][string]$On, [int]$Code, [string]$Usage = '', [switch]$Trial)
    $global:FakeFaults.Add([pscustomobject]@{ On = $On; Code = $Code; Usage = $Usage; Trial = [bool]$Trial })
}

# --- the touchpoint fakes (same parameters as the wrappers) -----------------------------------

function Test-FakeRegistryKey {
    param([string]$Path)
    return $global:FakeKeys.Contains($Path.ToLowerInvariant())
}

function Get-FakeRegistrySubkeyName {
    param([string]$Path)
    $prefix = $Path.ToLowerInvariant() + '\'
    $names = foreach ($entry in $global:FakeKeys.Values) {
        $lower = $entry.Path.ToLowerInvariant()
        if ($lower.StartsWith($prefix) -and $lower.Substring($prefix.Length).IndexOf('\') -lt 0) {
            $entry.Path.Substring($prefix.Length)
        }
    }
    return , @($names)
}

function Get-FakeRegistryValue {
    param([string]$Path)
    $entry = $global:FakeKeys[$Path.ToLowerInvariant()]
    if ($null -eq $entry) { throw ('Cannot find path ' + $Path) }
    if ($entry.Values.Count -eq 0) { return $null }
    $object = [ordered]@{
        PSPath = 'Microsoft.PowerShell.Core\Registry::' + $Path; PSParentPath = 'x'; PSChildName = $Path.Substring($Path.LastIndexOf('\') + 1)
        PSDrive = 'HKLM'; PSProvider = 'Microsoft.PowerShell.Core\Registry'
    }
    foreach ($name in $entry.Values.Keys) { $object[$name] = $entry.Values[$name] }
    return [pscustomobject]$object
}

function Set-FakeRegistryDword {
    param([string]$Path, [string]$Name, [int]$Value)
    $entry = $global:FakeKeys[$Path.ToLowerInvariant()]
    if ($null -eq $entry) { throw ('Cannot find path ' + $Path) }
    $entry.Values[$Name] = $Value
    $global:FakeRegistryWrites.Add($Path + ' ' + $Name + '=' + $Value)
}

function Get-FakeStoreCertificate {
    param([string]$StoreName)
    if (-not $global:FakeStores.ContainsKey($StoreName)) { return $null }
    return , @($global:FakeStores[$StoreName].ToArray())
}

function Invoke-FakeNetsh {
    # netsh http add|delete sslcert ..., and 'add sslcert /?'; sets $LASTEXITCODE like netsh.
    $line = 'netsh ' + ($args -join ' ')
    $global:FakeCalls.Add($line)
    $global:LASTEXITCODE = 0
    $operation = [string]$args[1]
    $rest = @($args | Select-Object -Skip 3)
    if ($rest -contains '/?') {
        if ($operation -eq 'update') { return $global:FakeUpdateHelp }
        return $global:FakeHelp
    }
    $parameters = [ordered]@{}
    foreach ($item in $rest) {
        $at = ([string]$item).IndexOf('=')
        $parameters[([string]$item).Substring(0, $at)] = ([string]$item).Substring($at + 1)
    }
    $kind = @($parameters.Keys | Where-Object { @('ipport', 'hostnameport', 'ccs', 'scopedccs') -contains $_ })[0]
    $key = $parameters[$kind]
    $verb = @{ add = 'add'; delete = 'deletion'; update = 'update' }[$operation]
    $isTrial = ([string]$key).StartsWith('127.0.0.1:')
    $fault = @($global:FakeFaults | Where-Object { $_.On -eq $operation -and $_.Trial -eq $isTrial })
    if ($fault.Count -gt 0) {
        [void]$global:FakeFaults.Remove($fault[0])
        if ($fault[0].Usage.Length -gt 0) {
            $global:LASTEXITCODE = 1
            return @('', 'One or more essential parameters were not entered.', 'Verify the required parameters, and reenter them.', '') + @($fault[0].Usage -split "`n")
        }
        if ($fault[0].Code -eq 0) { return '' }
        if ($fault[0].Code -lt 0) {
            # a netsh that hangs (the caller stops the pipeline meanwhile)
            $global:FakeHanging = $true
            $signal = Get-Variable -Name 'FakeSignal' -Scope Global -ValueOnly -ErrorAction Ignore
            if ($null -ne $signal) { $signal['Hanging'] = $true }   # seen from another runspace
            Start-Sleep -Seconds (-$fault[0].Code)
            return ''
        }
        $global:LASTEXITCODE = 1
        return @('', ('SSL Certificate ' + $verb + ' failed, Error: ' + $fault[0].Code), '', 'Injected failure.')
    }
    $path = Get-FakeBindingPath -Kind $kind -Key $key
    $exists = $global:FakeKeys.Contains($path.ToLowerInvariant())
    if ($operation -eq 'show') {
        # Only what the scripts read from show: the binding's Extended Properties blocks, as set
        # by a test in $global:FakeExtended (a faked layout, not netsh's full text).
        if (-not $exists) {
            $global:LASTEXITCODE = 1
            return @('', 'The system cannot find the file specified.', '')
        }
        $lines = @('', 'SSL Certificate bindings:', '-------------------------', '', ('    ' + $kind + '    : ' + $key))
        $extended = $global:FakeExtended[$path.ToLowerInvariant()]
        if ($null -ne $extended) {
            $lines += @($extended -split "`n")
        }
        return $lines
    }
    if ($operation -eq 'delete') {
        if (-not $exists) {
            $global:LASTEXITCODE = 1
            return @('', 'SSL Certificate deletion failed, Error: 2', 'The system cannot find the file specified.')
        }
        $global:FakeKeys.Remove($path.ToLowerInvariant())
        return @('', 'SSL Certificate successfully deleted', '')
    }
    if ($operation -eq 'update' -and $global:FakeUpdateHelp -notmatch 'Usage') {
        $global:LASTEXITCODE = 1
        return @('The following command was not found: http update sslcert ' + ($rest -join ' ') + '.')
    }
    if ($operation -eq 'update' -and -not $exists) {
        $global:LASTEXITCODE = 1
        return @('', 'SSL Certificate update failed, Error: 2', 'The system cannot find the file specified.')
    }
    if ($operation -eq 'add' -and $exists) {
        $global:LASTEXITCODE = 1
        return @('', 'SSL Certificate add failed, Error: 183', 'Cannot create a file when that file already exists.')
    }
    foreach ($name in $parameters.Keys) {
        if ($global:FakeHelp -notmatch ('\b' + $name + '\b')) { return '' }   # unknown tag: exit 0, nothing added
    }
    if ($parameters.Contains('certhash')) {
        $store = 'MY'
        if ($parameters.Contains('certstorename')) { $store = $parameters['certstorename'] }
        $certificates = Get-FakeStoreCertificate -StoreName $store
        # 1312 also for a certificate whose key HTTP.sys cannot use, though HasPrivateKey is true
        if ($null -eq $certificates -or @($certificates | Where-Object { $_.Thumbprint -eq $parameters['certhash'] -and -not $_.KeyUnusable }).Count -eq 0) {
            $global:LASTEXITCODE = 1
            return @('', ('SSL Certificate ' + $verb + ' failed, Error: 1312'), 'A specified logon session does not exist. It may already have been terminated.')
        }
    }
    $settings = [ordered]@{}
    foreach ($name in $parameters.Keys) {
        if ($name -ne $kind) {
            $value = $parameters[$name]
            $setting = @($global:FakeTable | Where-Object { $_.Name -eq $name })[0]
            if ($setting.Kind -eq 'uint32') { $value = [long]$value }
            $settings[$name] = $value
        }
    }
    if ($operation -eq 'update') {
        # the whole record is replaced in place: never a moment without the binding
        $global:FakeKeys.Remove($path.ToLowerInvariant())
        [void](Add-FakeBinding -Kind $kind -Key $key -Settings $settings)
        return @('', 'SSL Certificate successfully updated', '')
    }
    [void](Add-FakeBinding -Kind $kind -Key $key -Settings $settings)
    return @('', 'SSL Certificate successfully added', '')
}

function Enable-FakeHostAlias {
    # Without Pester: aliases win over the scripts' own functions, the SslBind module's, and netsh.
    # The module looks commands up in its own scope and then the global one, so the fakes the
    # aliases name are made global too.
    foreach ($fake in @(Get-ChildItem -Path 'function:' | Where-Object { $_.Name -like '*-Fake*' })) {
        Set-Item -Path ('function:global:' + $fake.Name) -Value $fake.ScriptBlock
    }
    Set-Alias -Name Test-SslRegistryKey -Value Test-FakeRegistryKey -Scope Global
    Set-Alias -Name Get-SslRegistrySubkeyName -Value Get-FakeRegistrySubkeyName -Scope Global
    Set-Alias -Name Get-SslRegistryValue -Value Get-FakeRegistryValue -Scope Global
    Set-Alias -Name Set-SslRegistryDword -Value Set-FakeRegistryDword -Scope Global
    Set-Alias -Name Get-SslStoreCertificate -Value Get-FakeStoreCertificate -Scope Global
    Set-Alias -Name netsh -Value Invoke-FakeNetsh -Scope Global
    Set-Alias -Name Test-SslPortListening -Value Test-FakePortListening -Scope Global
    Set-Alias -Name Get-SslLockPath -Value Get-FakeLockPath -Scope Global
    Set-Alias -Name Get-SslLockFolderFacts -Value Get-FakeLockFolderFacts -Scope Global
}

# The security descriptor the fake host's lock folder has: the one Initialize-SslLockFolder gives
# it on Windows, unless a test sets another (Linux has no Windows ACLs).
$global:FakeLockSddl = 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)'
$global:FakeLockReparse = $false

function Get-FakeLockFolderFacts {
    # Get-SslLockFolderFacts on the fake host: the real folder's existence (the temp folder), the
    # descriptor and reparse flag the test set.
    param([string]$Path)
    $exists = [bool](Test-Path -LiteralPath $Path)
    return [ordered]@{ exists = $exists; container = $exists -and [bool](Test-Path -LiteralPath $Path -PathType Container); reparse = $global:FakeLockReparse; sddl = $global:FakeLockSddl }
}

function Get-FakeLockPath {
    # The host lock of this fake host: a file of this process in the temp folder.
    return (Join-Path ([System.IO.Path]::GetTempPath()) ('sslbind-fakehost-' + $PID + '.lock'))
}

function Test-FakePortListening {
    param([int]$Port)
    return ($global:FakeListeners -contains $Port)
}
