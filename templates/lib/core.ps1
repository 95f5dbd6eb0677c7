# ---------------------------------------------------------------------------------------------
# Binding logic on plain data: validation, registry decoding, preserve/exact resolution, the netsh
# argument list, comparison and the certificate check. Reaches Windows only through the
# touchpoint functions above.
# ---------------------------------------------------------------------------------------------

$script:SslSettingByName = @{}
foreach ($sslSetting in $script:SslSettingTable) {
    $script:SslSettingByName[$sslSetting.Name] = $sslSetting
}
$script:SslKinds = @($script:SslKeyPattern.Keys)
# Central certificate store kinds: the certificate comes from the store, the binding has no certhash.
$script:SslCentralStoreKinds = @('ccs', 'scopedccs')
$script:SslSettingCheckModeBits = [long]0
foreach ($sslSetting in $script:SslSettingTable) {
    $script:SslSettingCheckModeBits = $script:SslSettingCheckModeBits -bor $sslSetting.CheckModeBit
}
# netsh help per verb, read once per script: its text and the tags it lists.
$script:SslNetshHelp = @{}
$script:SslNetshTags = @{}
# Kinds the update API (HttpUpdateServiceConfiguration) covers.
$script:SslUpdateKinds = @('ipport', 'hostnameport', 'ccs')
# The trial binding apply adds before touching anything live: on loopback, on the first port from
# here with no binding and no listener, under an appid that says it is sslbind's.
$script:SslTrialAddress = '127.0.0.1'
$script:SslTrialFirstPort = 50443
$script:SslTrialPortCount = 200
$script:SslTrialAppId = '{73736c62-696e-4474-7269-616c62696e64}'
$script:SslTransientAddCode = 87
# The host lock this script holds (Enter-SslHostLock), released in the script's finally.
$script:SslLockHeld = $null
$script:SslRestartNote = 'HTTP.sys reads DefaultSslCertCheckMode only after the HTTP service or the server restarts.'

function Write-SslLog {
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][string]$Message)
    # Write-Information needs 5.0; before that only the pre-flight's refusal is logged (verbose).
    if ($PSVersionTable.PSVersion.Major -lt 5) {
        Write-Verbose -Message ('sslbind: ' + $Message)
        return
    }
    Write-Information -MessageData ('sslbind: ' + $Message)
}

function Get-SslElapsedMs {
    # Milliseconds since -Since. Get-Date, not Stopwatch: Constrained Language forbids Stopwatch.
    param([Parameter(Mandatory = $true)][datetime]$Since)
    return [long]((Get-Date) - $Since).TotalMilliseconds
}

function Get-SslProperty {
    # A property of an object, or $null when absent (strict mode forbids touching a missing one).
    param([AllowNull()]$Object, [Parameter(Mandatory = $true)][string]$Name)
    if ($null -eq $Object) {
        return $null
    }
    if ($Object -is [System.Collections.IDictionary]) {
        return , $Object[$Name]
    }
    $property = $Object.PSObject.Properties[$Name]
    if ($null -eq $property) {
        return $null
    }
    return , $property.Value
}

function Test-SslInteger {
    param([AllowNull()]$Value)
    return ($Value -is [int] -or $Value -is [long] -or $Value -is [uint32] -or $Value -is [uint64] -or
        $Value -is [int16] -or $Value -is [uint16] -or $Value -is [byte] -or $Value -is [sbyte])
}

function Test-SslText {
    # Printable ASCII matching the pattern; values may arrive over PSRP, so every one is checked.
    param([AllowNull()]$Value, [Parameter(Mandatory = $true)][string]$Pattern)
    if ($Value -isnot [string]) {
        return $false
    }
    if ($Value -cnotmatch '\A[\x20-\x7E]*\z') {
        return $false
    }
    return ($Value -cmatch $Pattern)
}

function ConvertTo-SslSettingValue {
    # Checks one setting value against the table and returns it normalized.
    param(
        [Parameter(Mandatory = $true)]$Setting,
        [AllowNull()]$Value,
        [Parameter(Mandatory = $true)][string]$Where
    )
    $label = $Where + ': ' + $Setting.Name
    if ($null -eq $Value) {
        throw ($label + ': a value is required')
    }
    if ($Setting.Kind -eq 'onoff') {
        if ($Value -is [string] -and ($Value -ceq 'enable' -or $Value -ceq 'disable')) {
            return $Value
        }
        throw ($label + ': expected enable or disable')
    }
    if ($Setting.Kind -eq 'uint32') {
        # Digit strings too: over PSRP a number above 2147483647 can only travel as text.
        if ($Value -is [string] -and $Value -cmatch '\A[0-9]{1,10}\z') {
            $Value = [long]$Value
        }
        if ((Test-SslInteger -Value $Value) -and $Value -ge 0 -and $Value -le $script:SslUInt32Max) {
            return [long]$Value
        }
        throw ($label + ': expected a whole number from 0 to ' + $script:SslUInt32Max)
    }
    if (-not (Test-SslText -Value $Value -Pattern $script:SslValuePattern[$Setting.Kind])) {
        throw ($label + ': not a valid ' + $Setting.Kind + ' value')
    }
    if ($Setting.Kind -eq 'hash' -or $Setting.Kind -eq 'guid') {
        return $Value.ToLowerInvariant()
    }
    return $Value
}

function Get-SslSubject {
    param([Parameter(Mandatory = $true)][string]$Kind, [Parameter(Mandatory = $true)][string]$Key)
    return ($Kind + '=' + $Key)
}

function Assert-SslBindingKey {
    param([AllowNull()]$Kind, [AllowNull()]$Key, [Parameter(Mandatory = $true)][string]$Where)
    if ($Kind -isnot [string] -or $script:SslKinds -cnotcontains $Kind) {
        throw ($Where + ': Kind must be one of ' + ($script:SslKinds -join ', '))
    }
    if (-not (Test-SslText -Value $Key -Pattern $script:SslKeyPattern[$Kind])) {
        throw ($Where + ': Key is not a valid ' + $Kind + ' value')
    }
    $port = [long]($Key.Substring($Key.LastIndexOf(':') + 1))
    if ($port -lt 1 -or $port -gt 65535) {
        throw ($Where + ': port must be from 1 to 65535')
    }
}

function ConvertTo-SslBindingSpec {
    # Re-validates the -Binding parameter (it may come over PSRP, not from this file) and returns
    # one object per binding: Kind, Key, Mode, Method, Settings (only what the spec names), Subject.
    param([AllowNull()][AllowEmptyCollection()][hashtable[]]$Binding)
    if ($null -eq $Binding -or $Binding.Count -eq 0) {
        throw 'Binding: at least one binding is required'
    }
    $entries = @('Kind', 'Key', 'Mode', 'Method', 'Swap', 'Settings')
    $seen = @{}
    $specs = @()
    for ($index = 0; $index -lt $Binding.Count; $index++) {
        $entry = $Binding[$index]
        $where = 'Binding[' + $index + ']'
        if ($null -eq $entry) {
            throw ($where + ': empty entry')
        }
        foreach ($name in @($entry.Keys)) {
            if ($entries -cnotcontains [string]$name) {
                throw ($where + ': unknown entry ' + [string]$name + '; expected ' + ($entries -join ', '))
            }
        }
        Assert-SslBindingKey -Kind $entry['Kind'] -Key $entry['Key'] -Where $where
        $kind = [string]$entry['Kind']
        $key = [string]$entry['Key']
        $mode = $entry['Mode']
        if ($mode -isnot [string] -or ($mode -cne 'preserve' -and $mode -cne 'exact')) {
            throw ($where + ': Mode must be preserve or exact')
        }
        # Method and Swap may be left out (the host scripts' defaults name them only when not the default).
        $method = $entry['Method']
        if ($null -eq $method) {
            $method = 'netsh'
        }
        if ($method -isnot [string] -or ($method -cne 'netsh' -and $method -cne 'registry')) {
            throw ($where + ': Method must be netsh or registry')
        }
        # Swap: auto (update in place where this netsh can), update (only that), replace (delete+add).
        $swap = $entry['Swap']
        if ($null -eq $swap) {
            $swap = 'auto'
        }
        if ($swap -isnot [string] -or @('auto', 'update', 'replace') -cnotcontains $swap) {
            throw ($where + ': Swap must be auto, update or replace')
        }
        $given = $entry['Settings']
        if ($null -eq $given) {
            $given = @{}
        }
        if ($given -isnot [System.Collections.IDictionary]) {
            throw ($where + ': Settings must be a hashtable')
        }
        $settings = @{}
        foreach ($name in @($given.Keys)) {
            $setting = $script:SslSettingByName[[string]$name]
            if ($null -eq $setting -or $setting.Name -cne [string]$name) {
                throw ($where + ': unknown setting ' + [string]$name)
            }
            if ($method -eq 'registry' -and $setting.CheckModeBit -eq 0) {
                throw ($where + ': method registry changes only revocation-check settings, not ' + $setting.Name)
            }
            $settings[$setting.Name] = ConvertTo-SslSettingValue -Setting $setting -Value $given[$name] -Where $where
        }
        $subject = Get-SslSubject -Kind $kind -Key $key
        $identity = $subject.ToLowerInvariant()
        if ($seen.ContainsKey($identity)) {
            throw ($where + ': ' + $subject + ' is listed twice')
        }
        $seen[$identity] = $true
        $specs += , @{ Kind = $kind; Key = $key; Mode = $mode; Method = $method; Swap = $swap; Settings = $settings; Subject = $subject }
    }
    return $specs
}

# --- capture: the registry, decoded through the table; unknown values or bits stop the change ---

function Find-SslBindingPath {
    # Registry path of the binding's key, or $null when the binding does not exist.
    param([Parameter(Mandatory = $true)]$Spec)
    $base = $script:SslRegistryRoot + '\' + $script:SslRegistrySubkey[$Spec.Kind]
    if (-not (Test-SslRegistryKey -Path $base)) {
        return $null
    }
    if ($Spec.Kind -eq 'ipport') {
        $path = $base + '\' + $Spec.Key
        if (Test-SslRegistryKey -Path $path) {
            return $path
        }
        return $null
    }
    $found = @()
    foreach ($name in (Get-SslRegistrySubkeyName -Path $base)) {
        $path = $base + '\' + [string]$name
        if ($Spec.Kind -eq 'ccs') {
            $port = ([string]$name).Substring(([string]$name).LastIndexOf(':') + 1)
            if ($port -eq $Spec.Key) {
                $found += , $path
            }
            continue
        }
        # SNI and scoped CCS keys are matched on their HostnamePort value; the key name is opaque
        # (taken as the identity only when a key has no HostnamePort value).
        $hostnamePort = Get-SslProperty -Object (Get-SslRegistryValue -Path $path) -Name 'HostnamePort'
        if ($null -eq $hostnamePort) {
            $hostnamePort = [string]$name
        }
        if ($hostnamePort -is [string] -and $hostnamePort -ieq $Spec.Key) {
            $found += , $path
        }
    }
    if ($found.Count -gt 1) {
        throw ($Spec.Subject + ': more than one registry key holds this binding: ' + ($found -join ', '))
    }
    if ($found.Count -eq 1) {
        return $found[0]
    }
    return $null
}

function ConvertFrom-SslDword {
    # A REG_DWORD as read (Int32, so values from 0x80000000 come back negative) as an unsigned long.
    param([AllowNull()]$Value, [Parameter(Mandatory = $true)][string]$Where)
    if ($null -eq $Value) {
        return [long]0
    }
    if (-not (Test-SslInteger -Value $Value)) {
        throw ($Where + ': expected a REG_DWORD number')
    }
    $number = [long]$Value
    if ($number -lt 0) {
        $number += 4294967296
    }
    return $number
}

function ConvertFrom-SslBinary {
    # A REG_BINARY value as hex (hash) or a braced GUID (AppId, Guid.ToByteArray() order).
    param([AllowNull()]$Value, [Parameter(Mandatory = $true)][string]$Kind, [Parameter(Mandatory = $true)][string]$Where)
    $length = 20
    if ($Kind -eq 'guid') {
        $length = 16
    }
    $items = @($Value)
    if ($items.Count -ne $length) {
        throw ($Where + ': expected ' + $length + ' bytes')
    }
    $bytes = New-Object -TypeName 'byte[]' -ArgumentList $length
    for ($i = 0; $i -lt $length; $i++) {
        $item = $items[$i]
        if (-not (Test-SslInteger -Value $item) -or $item -lt 0 -or $item -gt 255) {
            throw ($Where + ': expected bytes')
        }
        $bytes[$i] = [byte]$item
    }
    if ($Kind -eq 'guid') {
        return (New-Object -TypeName 'System.Guid' -ArgumentList (, $bytes)).ToString('B')
    }
    return (($bytes | ForEach-Object { $_.ToString('x2') }) -join '')
}

function New-SslAbsentBinding {
    param([Parameter(Mandatory = $true)]$Spec)
    return [ordered]@{ kind = $Spec.Kind; key = $Spec.Key; exists = $false; settings = $null; registry = $null }
}

function Get-SslCapturedBinding {
    # The binding as HTTP.sys holds it: every setting decoded from the registry values.
    param([Parameter(Mandatory = $true)]$Spec)
    $path = Find-SslBindingPath -Spec $Spec
    if ($null -eq $path) {
        return (New-SslAbsentBinding -Spec $Spec)
    }
    $where = $Spec.Subject + ' (' + $path + ')'
    $values = Get-SslRegistryValue -Path $path
    $known = @{ HostnamePort = $true }
    $known[$script:SslCheckModeValue] = $true
    $known[$script:SslFlagsValue] = $true
    foreach ($setting in $script:SslSettingTable) {
        if ($null -ne $setting.RegistryValue) {
            $known[$setting.RegistryValue] = $true
        }
    }
    $providerProperties = @('PSPath', 'PSParentPath', 'PSChildName', 'PSDrive', 'PSProvider')
    if ($null -ne $values) {
        foreach ($property in $values.PSObject.Properties) {
            if ($providerProperties -notcontains $property.Name -and -not $known.ContainsKey($property.Name)) {
                throw ($where + ': unknown registry value ' + $property.Name +
                    '; sslbind cannot recreate this binding, so nothing is changed')
            }
        }
    }
    $checkMode = ConvertFrom-SslDword -Value (Get-SslProperty -Object $values -Name $script:SslCheckModeValue) -Where ($where + ' ' + $script:SslCheckModeValue)
    $flags = ConvertFrom-SslDword -Value (Get-SslProperty -Object $values -Name $script:SslFlagsValue) -Where ($where + ' ' + $script:SslFlagsValue)
    # Bits no netsh parameter sets (newer builds, the HTTP API) are kept and reported, never a reason
    # to refuse reading; a change that would re-create the binding without them is refused later.
    $extraCheckMode = $checkMode -band (-bnot [long]$script:SslKnownCheckModeBits)
    $extraFlags = $flags -band (-bnot [long]$script:SslKnownFlagBits)
    $settings = [ordered]@{}
    foreach ($setting in $script:SslSettingTable) {
        $value = $setting.Default
        if ($setting.CheckModeBit -ne 0) {
            $bitSet = ($checkMode -band $setting.CheckModeBit) -ne 0
            $value = 'enable'
            if ($bitSet -eq $setting.Inverted) {
                $value = 'disable'
            }
        }
        elseif ($setting.FlagBit -ne 0) {
            $value = 'disable'
            if (($flags -band $setting.FlagBit) -ne 0) {
                $value = 'enable'
            }
        }
        else {
            $raw = Get-SslProperty -Object $values -Name $setting.RegistryValue
            $label = $where + ' ' + $setting.RegistryValue
            if ($raw -is [string] -and $raw.Length -eq 0) {
                $raw = $null
            }
            if ($null -ne $raw) {
                if ($setting.Kind -eq 'hash' -or $setting.Kind -eq 'guid') {
                    $value = ConvertFrom-SslBinary -Value $raw -Kind $setting.Kind -Where $label
                }
                elseif ($setting.Kind -eq 'uint32') {
                    $value = ConvertFrom-SslDword -Value $raw -Where $label
                }
                else {
                    $value = ConvertTo-SslSettingValue -Setting $setting -Value $raw -Where $label
                }
            }
        }
        $settings[$setting.Name] = $value
    }
    if ($null -eq $settings['appid'] -or ($script:SslCentralStoreKinds -notcontains $Spec.Kind -and $null -eq $settings['certhash'])) {
        throw ($where + ': the binding has no certificate hash or appid; netsh could not recreate it, so nothing is changed')
    }
    return [ordered]@{
        kind = $Spec.Kind
        key = $Spec.Key
        exists = $true
        settings = $settings
        registry = [ordered]@{
            path = $path; DefaultSslCertCheckMode = $checkMode; DefaultFlags = $flags
            extra_check_mode = $extraCheckMode; extra_flags = $extraFlags
            extra = @(Format-SslExtraBit -CheckMode $extraCheckMode -Flags $extraFlags)
        }
    }
}

# What a plain 'netsh http add sslcert' leaves in each Extended Properties block (real Server 2022
# and 2025 output): 0 = HTTP/2 receive window, 1 = HTTP/2 settings per frame and per minute, 2-4 empty.
$script:SslExtendedPropertyDefault = @{ '0' = '1048576'; '1' = '2796202,4294967295'; '2' = ''; '3' = ''; '4' = '' }

function Get-SslExtendedPropertyChange {
    # The HTTP/2 "Extended Properties" blocks of 'netsh http show sslcert' (Server 2022 and later)
    # that differ from what a plain add leaves; netsh add and update cannot set them, so a change
    # that re-creates such a binding would silently reset them. Read by shape, not by label
    # (localized builds translate the labels): a header indented by one space and ending in a
    # colon, then 'label : number' lines, the first being the property id.
    param([AllowEmptyString()][string]$Text)
    $blocks = @()
    $current = $null
    foreach ($line in @($Text -split "`r?`n")) {
        if ($line -match '^ \S[^:]*:\s*$') {
            $current = [ordered]@{ values = @() }
            $blocks += , $current
            continue
        }
        if ($null -eq $current) {
            continue
        }
        if ($line -match '^\s{2,}\S.*:\s*(\d{1,20})\s*$') {
            $current.values += , ([string]$Matches[1])
        }
        elseif ($line.Trim().Length -gt 0) {
            $current = $null
        }
    }
    $changed = @()
    foreach ($block in $blocks) {
        if ($block.values.Count -eq 0) {
            continue
        }
        $id = $block.values[0]
        $rest = @($block.values | Select-Object -Skip 1)
        $plain = $script:SslExtendedPropertyDefault[$id]
        if ($null -eq $plain -or ($rest -join ',') -ne $plain) {
            $changed += , ('PropertyId ' + $id + ' = ' + ($rest -join ', '))
        }
    }
    return $changed
}

function Format-SslExtraBit {
    # 'DefaultFlags 0x8000 ENABLE_CACHE_CLIENT_HELLO (...)', one line per bit no netsh parameter sets.
    param([Parameter(Mandatory = $true)][long]$CheckMode, [Parameter(Mandatory = $true)][long]$Flags)
    foreach ($field in @(@($script:SslCheckModeValue, $CheckMode, $script:SslExtraCheckModeName), @($script:SslFlagsValue, $Flags, $script:SslExtraFlagName))) {
        $bit = [long]1
        for ($i = 0; $i -lt 32; $i++) {
            if (($field[1] -band $bit) -ne 0) {
                $name = $field[2]['0x' + $bit.ToString('X')]
                if ($null -eq $name) {
                    $name = '(unnamed)'
                }
                $field[0] + ' 0x' + $bit.ToString('X') + ' ' + $name
            }
            $bit = $bit * 2
        }
    }
}

# --- resolution, the netsh command and comparison ---------------------------------------------

function Resolve-SslDesired {
    # Every setting the binding should have: the spec's values; unnamed ones from the host
    # (preserve, existing binding) or at the netsh defaults (exact, or a new binding); an omitted
    # appid is kept from the existing binding. Method registry changes only check-mode settings.
    param([Parameter(Mandatory = $true)]$Spec, [Parameter(Mandatory = $true)]$Captured)
    $fromHost = ($Spec.Mode -eq 'preserve' -and $Captured.exists)
    $desired = [ordered]@{}
    foreach ($setting in $script:SslSettingTable) {
        if ($Spec.Settings.ContainsKey($setting.Name)) {
            $value = $Spec.Settings[$setting.Name]
        }
        elseif ($fromHost -or ($Captured.exists -and ($setting.Name -eq 'appid' -or
                    ($Spec.Method -eq 'registry' -and $setting.CheckModeBit -eq 0)))) {
            $value = $Captured.settings[$setting.Name]
        }
        else {
            $value = $setting.Default
        }
        $desired[$setting.Name] = $value
    }
    if ($Spec.Method -eq 'registry') {
        if (-not $Captured.exists) {
            throw ($Spec.Subject + ': method registry needs an existing binding, and there is none')
        }
        return $desired
    }
    if ($null -eq $desired['appid']) {
        throw ($Spec.Subject + ': the binding does not exist yet, so the spec must name its appid')
    }
    if ($script:SslCentralStoreKinds -notcontains $Spec.Kind -and $null -eq $desired['certhash']) {
        throw ($Spec.Subject + ': the binding does not exist yet, so the spec must name its certhash')
    }
    return $desired
}

function Get-SslCheckModeValue {
    # DefaultSslCertCheckMode for the settings (generator.binding.encode_check_mode without bit
    # 0x4): only the bits netsh parameters set; -Keep carries every other bit of a captured value
    # over unchanged (0x4, whose relation to revocationfreshnesstime is not established, and bits
    # of newer builds).
    param([Parameter(Mandatory = $true)]$Settings, [long]$Keep = 0)
    $mode = $Keep -band (-bnot $script:SslSettingCheckModeBits)
    foreach ($setting in $script:SslSettingTable) {
        if ($setting.CheckModeBit -ne 0 -and (($Settings[$setting.Name] -ceq 'disable') -eq $setting.Inverted)) {
            $mode = $mode -bor $setting.CheckModeBit
        }
    }
    return $mode
}

function Test-SslSameValue {
    param([AllowNull()]$Left, [AllowNull()]$Right, [bool]$IgnoreCase)
    if ($null -eq $Left -or $null -eq $Right) {
        return ($null -eq $Left -and $null -eq $Right)
    }
    if ($Left -is [string] -and $Right -is [string]) {
        if ($IgnoreCase) {
            return ($Left -ieq $Right)
        }
        return ($Left -ceq $Right)
    }
    if ((Test-SslInteger -Value $Left) -and (Test-SslInteger -Value $Right)) {
        return ([long]$Left -eq [long]$Right)
    }
    return $false
}

function Get-SslAddArgument {
    # Arguments after 'netsh http add sslcert' (generator.binding.netsh_add_arguments): settings at
    # their default are left out (zero timers, unknown-to-old-netsh flags); the store is always named
    # for ipport/hostnameport, for ccs/scopedccs only when it is not the default.
    param(
        [Parameter(Mandatory = $true)][string]$Kind,
        [Parameter(Mandatory = $true)][string]$Key,
        [Parameter(Mandatory = $true)]$Settings
    )
    $arguments = @()
    $arguments += , ($Kind + '=' + $Key)
    foreach ($setting in $script:SslSettingTable) {
        $value = $Settings[$setting.Name]
        if ($null -eq $value) {
            continue
        }
        $named = ($setting.Name -eq 'certstorename' -and ($Kind -eq 'ipport' -or $Kind -eq 'hostnameport'))
        if (-not $named -and $null -ne $setting.Default -and
            (Test-SslSameValue -Left $value -Right $setting.Default -IgnoreCase $false)) {
            continue
        }
        $arguments += , ($setting.Name + '=' + [string]$value)
    }
    return $arguments
}

function Format-SslCommandLine {
    # The netsh command as a line to paste into PowerShell (generator.binding.powershell_command_line):
    # appid and any unusual value single-quoted, as bare braces would make a script block.
    param([Parameter(Mandatory = $true)][string]$Verb, [Parameter(Mandatory = $true)][string[]]$Arguments)
    $shown = foreach ($argument in $Arguments) {
        $at = $argument.IndexOf('=')
        $name = $argument
        $value = ''
        if ($at -ge 0) {
            $name = $argument.Substring(0, $at)
            $value = $argument.Substring($at + 1)
        }
        if ($name -ceq 'appid' -or $argument -cnotmatch '\A[A-Za-z0-9_.:\[\]=-]+\z') {
            $name + "='" + $value + "'"
        }
        else {
            $argument
        }
    }
    return ('netsh http ' + $Verb + ' sslcert ' + ($shown -join ' '))
}

function Compare-SslSetting {
    # Differences as objects (setting, expected, actual); store names, hashes and GUIDs compare
    # case-blind (generator.binding.diff_settings). -Name limits the comparison.
    param(
        [Parameter(Mandatory = $true)]$Expected,
        [AllowNull()]$Actual,
        [AllowNull()][string[]]$Name
    )
    foreach ($setting in $script:SslSettingTable) {
        if ($null -ne $Name -and $Name -cnotcontains $setting.Name) {
            continue
        }
        $want = $Expected[$setting.Name]
        $have = $null
        if ($null -ne $Actual) {
            $have = $Actual[$setting.Name]
        }
        $ignoreCase = @('store', 'hash', 'guid') -contains $setting.Kind
        if (-not (Test-SslSameValue -Left $want -Right $have -IgnoreCase $ignoreCase)) {
            [ordered]@{ setting = $setting.Name; expected = $want; actual = $have }
        }
    }
}

function Format-SslDifference {
    param([Parameter(Mandatory = $true)][string]$Subject, [AllowEmptyCollection()][object[]]$Difference)
    $parts = foreach ($item in $Difference) {
        $item.setting + ' expected ' + (Format-SslValue -Value $item.expected) + ', found ' + (Format-SslValue -Value $item.actual)
    }
    return ($Subject + ': ' + ($parts -join '; '))
}

function Format-SslValue {
    param([AllowNull()]$Value)
    if ($null -eq $Value) {
        return '(none)'
    }
    return [string]$Value
}

# --- the certificate and this host's netsh ----------------------------------------------------

function Get-SslCertificateCheck {
    # Is the certificate in LocalMachine\<store>, with a private key, inside its validity window and
    # usable for server authentication where it lists usages? Problems are listed, not thrown.
    param([Parameter(Mandatory = $true)]$Settings)
    $thumbprint = $Settings['certhash']
    if ($null -eq $thumbprint) {
        return $null
    }
    $store = $Settings['certstorename']
    if ($null -eq $store) {
        $store = 'MY'
    }
    $check = [ordered]@{
        store = $store; thumbprint = $thumbprint; subject = $null; not_before = $null; not_after = $null
        has_private_key = $null; server_auth = $null; problems = @()
    }
    $certificates = Get-SslStoreCertificate -StoreName $store
    if ($null -eq $certificates) {
        $check.problems += , ('certificate store LocalMachine\' + $store + ' does not exist')
        return $check
    }
    $certificate = $null
    foreach ($candidate in $certificates) {
        if ([string](Get-SslProperty -Object $candidate -Name 'Thumbprint') -ieq $thumbprint) {
            $certificate = $candidate
            break
        }
    }
    if ($null -eq $certificate) {
        $check.problems += , ('certificate ' + $thumbprint + ' is not in LocalMachine\' + $store)
        return $check
    }
    $now = Get-Date
    $notBefore = [datetime](Get-SslProperty -Object $certificate -Name 'NotBefore')
    $notAfter = [datetime](Get-SslProperty -Object $certificate -Name 'NotAfter')
    $check.subject = [string](Get-SslProperty -Object $certificate -Name 'Subject')
    $check.not_before = $notBefore.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ', [cultureinfo]::InvariantCulture)
    $check.not_after = $notAfter.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ', [cultureinfo]::InvariantCulture)
    $check.has_private_key = [bool](Get-SslProperty -Object $certificate -Name 'HasPrivateKey')
    $usageList = Get-SslProperty -Object $certificate -Name 'EnhancedKeyUsageList'
    $usages = @(@($usageList) | Where-Object { $null -ne $_ })
    $oids = @($usages | ForEach-Object { [string](Get-SslProperty -Object $_ -Name 'ObjectId') })
    $check.server_auth = ($usages.Count -eq 0 -or $oids -contains '1.3.6.1.5.5.7.3.1')
    if (-not $check.has_private_key) {
        $check.problems += , ('certificate ' + $thumbprint + ' has no private key')
    }
    if ($now -lt $notBefore) {
        $check.problems += , ('certificate ' + $thumbprint + ' is not valid before ' + $check.not_before)
    }
    if ($now -gt $notAfter) {
        $check.problems += , ('certificate ' + $thumbprint + ' expired on ' + $check.not_after)
    }
    if (-not $check.server_auth) {
        $check.problems += , ('certificate ' + $thumbprint + ' does not allow server authentication (1.3.6.1.5.5.7.3.1)')
    }
    return $check
}

function Test-SslNetshUsage {
    # Does netsh's output hold its sslcert usage text ('add sslcert ipport=...', '[hostnameport=]')?
    # Language-neutral: tags are never translated.
    param([AllowEmptyString()][string]$Text)
    return ($Text -cmatch '(?i:sslcert)\s+\[?[a-z]+=')
}

function Get-SslNetshHelpTag {
    # Every tag netsh's 'add sslcert /?' text offers: each 'tag=' token from the first line naming
    # sslcert on (a usage line may carry one tag or several, and examples), plus the tag column of
    # the parameter table ('    tag   - ...'). Tags are not localized, the words around them are,
    # so no English keyword is relied on.
    param([AllowEmptyString()][string]$Text)
    $at = $Text.IndexOf('sslcert')
    if ($at -lt 0) {
        return , @()
    }
    $block = $Text.Substring($at)
    $tags = @()
    foreach ($match in [regex]::Matches($block, '(?<![A-Za-z0-9_])\[?([a-z][a-z0-9]*)=')) {
        $tags += , $match.Groups[1].Value
    }
    foreach ($match in [regex]::Matches($block, '(?m)^\s+([a-z][a-z0-9]*)\s+-\s')) {
        $tags += , $match.Groups[1].Value
    }
    return , @($tags | Sort-Object -Unique)
}

function Get-SslNetshTag {
    # The tags this host's netsh lists for 'http <verb> sslcert' (read once per script and verb).
    # An empty list means netsh printed no usage: for update, the command does not exist here
    # ('The following command was not found: http update sslcert', 2012 R2).
    param([Parameter(Mandatory = $true)][ValidateSet('add', 'update')][string]$Verb)
    if (-not $script:SslNetshTags.Contains($Verb)) {
        $line = 'netsh http ' + $Verb + ' sslcert /?'
        $help = Invoke-SslNetsh -Operation help -Subject ('netsh http ' + $Verb + ' sslcert') -Arguments @('http', $Verb, 'sslcert', '/?') -CommandLine $line -AnyExitCode
        $script:SslNetshHelp[$Verb] = [string]$help.Output
        $script:SslNetshTags[$Verb] = Get-SslNetshHelpTag -Text ([string]$help.Output)
    }
    return , @($script:SslNetshTags[$Verb])
}

function Assert-SslNetshParameter {
    # A parameter this netsh build does not know is ignored with exit code 0 and no binding, so
    # every tag is looked up in 'netsh http <verb> sslcert /?' first.
    param([Parameter(Mandatory = $true)][string[]]$Name, [ValidateSet('add', 'update')][string]$Verb = 'add')
    $known = Get-SslNetshTag -Verb $Verb
    if ($known.Count -eq 0) {
        throw ('''netsh http ' + $Verb + ' sslcert /?'' printed no parameter list sslbind can read, so which parameters this netsh takes is unknown; nothing is changed. It printed: ' +
            $script:SslNetshHelp[$Verb])
    }
    $missing = @($Name | Sort-Object -Unique | Where-Object { $known -cnotcontains $_ })
    if ($missing.Count -gt 0) {
        throw ('this host''s netsh does not list ' + ($missing -join ', ') +
            ' in ''netsh http ' + $Verb + ' sslcert /?'' and would ignore it; nothing is changed')
    }
}

function Get-SslUpdateSupport {
    # Per kind: can this host change a binding in place with 'netsh http update sslcert'
    # (HttpUpdateServiceConfiguration, atomic; Windows 10 1703 / Server 2019 on)? Read from netsh's
    # own help, not from a version table. The API does not cover scoped CCS.
    $tags = Get-SslNetshTag -Verb update
    $support = [ordered]@{}
    foreach ($kind in $script:SslKinds) {
        $support[$kind] = ($script:SslUpdateKinds -contains $kind -and $tags -ccontains $kind)
    }
    return $support
}

function Get-SslUpdateArgument {
    # Arguments after 'netsh http update sslcert': the add command's complete list, plus every
    # on/off setting the binding now has at a non-default value, stated at its default, because
    # what update does with an omitted parameter is undocumented.
    param(
        [Parameter(Mandatory = $true)][string]$Kind,
        [Parameter(Mandatory = $true)][string]$Key,
        [Parameter(Mandatory = $true)]$Settings,
        [Parameter(Mandatory = $true)]$Current
    )
    $arguments = @(Get-SslAddArgument -Kind $Kind -Key $Key -Settings $Settings)
    $named = @(Get-SslArgumentName -Arguments $arguments)
    foreach ($setting in $script:SslSettingTable) {
        if ($setting.Kind -eq 'onoff' -and $named -cnotcontains $setting.Name -and
            -not (Test-SslSameValue -Left $Current[$setting.Name] -Right $setting.Default -IgnoreCase $false)) {
            $arguments += , ($setting.Name + '=' + [string]$Settings[$setting.Name])
        }
    }
    return $arguments
}

function Get-SslUpdateObstacle {
    # Why this binding cannot go from -Current to -Settings with one update, or $null when it can:
    # the kind or this netsh lacks update, a parameter is missing from its update help, or a value
    # must return to a default netsh cannot be told explicitly (timers at 0 are rejected as
    # "The parameter is incorrect" on Server 2025; a CTL cannot be named as absent).
    param(
        [Parameter(Mandatory = $true)][string]$Kind,
        [Parameter(Mandatory = $true)][string]$Key,
        [Parameter(Mandatory = $true)]$Settings,
        [Parameter(Mandatory = $true)]$Current
    )
    if ($script:SslUpdateKinds -notcontains $Kind) {
        return ('the update API does not cover ' + $Kind + ' bindings')
    }
    if (-not (Get-SslUpdateSupport)[$Kind]) {
        return ('this host''s netsh has no ''http update sslcert'' for ' + $Kind)
    }
    $reset = @(foreach ($setting in $script:SslSettingTable) {
            $want = $Settings[$setting.Name]
            $atDefault = ($null -eq $want -or ($setting.Kind -eq 'uint32' -and [long]$want -eq 0))
            $have = $Current[$setting.Name]
            if ($setting.Kind -ne 'onoff' -and $atDefault -and $null -ne $have -and
                -not (Test-SslSameValue -Left $have -Right $setting.Default -IgnoreCase $true)) {
                $setting.Name
            }
        })
    if ($reset.Count -gt 0) {
        return ('update cannot set ' + ($reset -join ', ') + ' back to the default')
    }
    $arguments = @(Get-SslUpdateArgument -Kind $Kind -Key $Key -Settings $Settings -Current $Current)
    $tags = Get-SslNetshTag -Verb update
    $missing = @(Get-SslArgumentName -Arguments $arguments | Where-Object { $tags -cnotcontains $_ })
    if ($missing.Count -gt 0) {
        return ('this host''s netsh does not list ' + ($missing -join ', ') + ' in ''netsh http update sslcert /?''')
    }
    return $null
}

function Get-SslArgumentName {
    param([Parameter(Mandatory = $true)][string[]]$Arguments)
    foreach ($argument in $Arguments) {
        $argument.Substring(0, $argument.IndexOf('='))
    }
}

# --- state passed back in as JSON (prepare/apply output): validated like the spec ---------------

function ConvertFrom-SslJsonText {
    param([AllowEmptyString()][string]$Json, [Parameter(Mandatory = $true)][string]$Parameter)
    try {
        return (ConvertFrom-Json -InputObject $Json)
    }
    catch {
        throw ($Parameter + ': not valid JSON: ' + $_.Exception.Message)
    }
}

function ConvertFrom-SslSettingObject {
    # A settings object from JSON, every table setting checked (null only where the table allows).
    param([AllowNull()]$Object, [Parameter(Mandatory = $true)][string]$Where)
    if ($null -eq $Object) {
        throw ($Where + ': settings are missing')
    }
    $settings = [ordered]@{}
    foreach ($setting in $script:SslSettingTable) {
        $value = Get-SslProperty -Object $Object -Name $setting.Name
        if ($null -eq $value -and $null -eq $setting.Default) {
            $settings[$setting.Name] = $null
            continue
        }
        $settings[$setting.Name] = ConvertTo-SslSettingValue -Setting $setting -Value $value -Where $Where
    }
    return $settings
}

function ConvertFrom-SslStateJson {
    # Captured bindings from JSON: the 'before' list of a prepare/apply/delete result, or a bare
    # list of captured bindings. Returns a hashtable keyed by lower-case 'kind=key'.
    param([AllowEmptyString()][string]$Json, [Parameter(Mandatory = $true)][string]$Parameter)
    $parsed = ConvertFrom-SslJsonText -Json $Json -Parameter $Parameter
    $list = $parsed
    if ($null -ne (Get-SslProperty -Object $parsed -Name 'before')) {
        $list = Get-SslProperty -Object $parsed -Name 'before'
    }
    $state = @{}
    foreach ($item in @($list)) {
        $kind = Get-SslProperty -Object $item -Name 'kind'
        $key = Get-SslProperty -Object $item -Name 'key'
        Assert-SslBindingKey -Kind $kind -Key $key -Where $Parameter
        $subject = Get-SslSubject -Kind $kind -Key $key
        $where = $Parameter + ' ' + $subject
        $exists = Get-SslProperty -Object $item -Name 'exists'
        if ($exists -isnot [bool]) {
            throw ($where + ': exists must be true or false')
        }
        $captured = [ordered]@{ kind = $kind; key = $key; exists = $exists; settings = $null; registry = $null }
        if ($exists) {
            $captured.settings = ConvertFrom-SslSettingObject -Object (Get-SslProperty -Object $item -Name 'settings') -Where $where
            $registry = Get-SslProperty -Object $item -Name 'registry'
            $captured.registry = [ordered]@{}
            foreach ($name in @($script:SslCheckModeValue, $script:SslFlagsValue)) {
                $value = Get-SslProperty -Object $registry -Name $name
                if (-not (Test-SslInteger -Value $value) -or $value -lt 0 -or $value -gt $script:SslUInt32Max) {
                    throw ($where + ': registry.' + $name + ' must be a whole number from 0 to ' + $script:SslUInt32Max)
                }
                $captured.registry[$name] = [long]$value
            }
            $captured.registry.extra_check_mode = $captured.registry[$script:SslCheckModeValue] -band (-bnot [long]$script:SslKnownCheckModeBits)
            $captured.registry.extra_flags = $captured.registry[$script:SslFlagsValue] -band (-bnot [long]$script:SslKnownFlagBits)
        }
        $state[$subject.ToLowerInvariant()] = $captured
    }
    return $state
}

function ConvertFrom-SslPreparedJson {
    # The desired settings per binding from prepare.ps1's output ('bindings[].desired').
    param([AllowEmptyString()][string]$Json, [Parameter(Mandatory = $true)][string]$Parameter)
    $parsed = ConvertFrom-SslJsonText -Json $Json -Parameter $Parameter
    $desired = @{}
    $bindings = Get-SslProperty -Object $parsed -Name 'bindings'
    foreach ($item in @($bindings)) {
        if ($null -eq $item) {
            continue
        }
        $kind = Get-SslProperty -Object $item -Name 'kind'
        $key = Get-SslProperty -Object $item -Name 'key'
        Assert-SslBindingKey -Kind $kind -Key $key -Where $Parameter
        $subject = Get-SslSubject -Kind $kind -Key $key
        $desired[$subject.ToLowerInvariant()] = ConvertFrom-SslSettingObject -Object (Get-SslProperty -Object $item -Name 'desired') -Where ($Parameter + ' ' + $subject)
    }
    return $desired
}

# --- the result object: one JSON document on the output stream --------------------------------

function New-SslResult {
    param([Parameter(Mandatory = $true)][string]$Phase, [Parameter(Mandatory = $true)][string]$TargetHost)
    return [ordered]@{
        change_id = $script:SslChange.change_id
        title = $script:SslChange.title
        host = $TargetHost
        phase = $Phase
        tool_version = $script:SslChange.tool_version
        spec_sha256 = $script:SslChange.spec_sha256
        outcome = $null
        whatif = [bool]$WhatIfPreference
        before = @()
        after = @()
        bindings = @()
        differences = @()
        tls = @()
        actions = @()
        timings = [ordered]@{ total_ms = 0; gaps = @() }
        notes = @()
        update_supported = $null
        host_facts = $null
        error = $null
    }
}

function Add-SslAction {
    param(
        [Parameter(Mandatory = $true)]$Result,
        [Parameter(Mandatory = $true)][string]$Step,
        [Parameter(Mandatory = $true)][string]$Subject,
        [AllowNull()]$Command = $null,
        [Parameter(Mandatory = $true)][string]$Outcome,
        [long]$Code = 0,
        [AllowNull()]$Output = $null,
        [long]$Milliseconds = 0
    )
    $Result.actions += , [ordered]@{
        step = $Step; binding = $Subject; command = $Command; result = $Outcome; code = $Code
        output = $Output; ms = $Milliseconds
    }
}

function Add-SslNote {
    param([Parameter(Mandatory = $true)]$Result, [Parameter(Mandatory = $true)][string]$Note)
    if ($Result.notes -notcontains $Note) {
        $Result.notes += , $Note
    }
    Write-SslLog -Message $Note
}

function Complete-SslResult {
    # Writes the one JSON object (and, run from a file, the same JSON beside the script), then
    # throws when the outcome is a failure so the pipeline fails.
    param(
        [Parameter(Mandatory = $true)]$Result,
        [Parameter(Mandatory = $true)][datetime]$Started,
        [AllowNull()][AllowEmptyString()][string]$ScriptPath,
        [Parameter(Mandatory = $true)][string[]]$Failure
    )
    $Result.timings.total_ms = Get-SslElapsedMs -Since $Started
    Write-SslLog -Message ($Result.phase + ' on ' + $Result.host + ': ' + $Result.outcome)
    $json = ConvertTo-Json -InputObject $Result -Depth 10 -Compress
    Save-SslResultFile -Result $Result -Json $json -ScriptPath $ScriptPath
    Write-Output $json
    if ($Failure -contains $Result.outcome) {
        throw ('sslbind ' + $Result.phase + ' ' + $Result.outcome + ' on ' + $Result.host + ': ' + $Result.error)
    }
}

function Save-SslResultFile {
    # By hand, '$r = .\apply.ps1' stays empty when the script throws, losing the captured state and
    # the actions; so a run from a file also leaves its result beside the script as
    # <phase>-<UTC stamp>.json, never overwriting one. Over PSRP there is no file: nothing is saved.
    param([Parameter(Mandatory = $true)]$Result, [Parameter(Mandatory = $true)][string]$Json, [AllowNull()][AllowEmptyString()][string]$ScriptPath)
    if ([string]::IsNullOrEmpty($ScriptPath)) {
        return
    }
    $folder = Split-Path -Parent $ScriptPath
    $stamp = (Get-Date).ToUniversalTime().ToString('yyyyMMddTHHmmssfffZ', [cultureinfo]::InvariantCulture)
    for ($attempt = 0; $attempt -lt 20; $attempt++) {
        $name = $Result.phase + '-' + $stamp
        if ($attempt -gt 0) {
            $name = $name + '-' + $attempt
        }
        $path = Join-Path -Path $folder -ChildPath ($name + '.json')
        try {
            if (Set-SslResultFile -Path $path -Text $Json) {
                Write-SslLog -Message ('result saved to ' + $path)
                return
            }
        }
        catch {
            Write-Warning ('sslbind: could not save the result beside the script: ' + $_.Exception.Message)
            return
        }
    }
}
