# ---------------------------------------------------------------------------------------------
# The phases. Each takes the validated bindings and fills the result object; the script's last
# lines emit it as JSON and throw on failure.
# ---------------------------------------------------------------------------------------------

function Invoke-SslNetshStep {
    # One netsh call recorded as an action (also when it fails, then rethrown). With -Retry (the
    # trial bind only, where nothing is down) an add failing with 87 is retried with back-off
    # 1/2/4/8 s (reference 2.3: right after a CNG key import, add fails with 87 for a few seconds);
    # a live add or update is never retried blindly.
    param(
        [Parameter(Mandatory = $true)]$Result,
        [Parameter(Mandatory = $true)][string]$Step,
        [Parameter(Mandatory = $true)][ValidateSet('add', 'delete', 'update')][string]$Operation,
        [Parameter(Mandatory = $true)][string]$Subject,
        [Parameter(Mandatory = $true)][string[]]$Arguments,
        [int[]]$AcceptCode = @(),
        [switch]$Retry
    )
    $line = Format-SslCommandLine -Verb $Operation -Arguments $Arguments
    $all = @('http', $Operation, 'sslcert') + $Arguments
    $delays = @()
    if ($Retry -and $Operation -eq 'add' -and $AcceptCode -notcontains $script:SslTransientAddCode) {
        $delays = @(1, 2, 4, 8)
    }
    for ($attempt = 0; ; $attempt++) {
        $accept = $AcceptCode
        if ($attempt -lt $delays.Count) {
            $accept = @($AcceptCode) + @($script:SslTransientAddCode)
        }
        $started = Get-Date
        try {
            $run = Invoke-SslNetsh -Operation $Operation -Subject $Subject -Arguments $all -CommandLine $line -AcceptCode $accept
        }
        catch {
            Add-SslAction -Result $Result -Step $Step -Subject $Subject -Command $line -Outcome 'failed' -Milliseconds (Get-SslElapsedMs -Since $started) -Output $_.Exception.Message
            throw
        }
        if ($attempt -lt $delays.Count -and $run.Code -eq $script:SslTransientAddCode) {
            Add-SslAction -Result $Result -Step $Step -Subject $Subject -Command $line -Outcome 'retry' -Code $run.Code -Output $run.Output -Milliseconds (Get-SslElapsedMs -Since $started)
            Write-SslLog -Message ($Subject + ': add failed with ' + $run.Code + ' (transient after a key import); retrying in ' + $delays[$attempt] + ' s')
            Wait-SslRetry -Seconds $delays[$attempt]
            continue
        }
        break
    }
    $outcome = 'ok'
    if ($run.Code -ne 0) {
        $outcome = 'absent'
    }
    Add-SslAction -Result $Result -Step $Step -Subject $Subject -Command $line -Outcome $outcome -Code $run.Code -Output $run.Output -Milliseconds (Get-SslElapsedMs -Since $started)
    return $run
}

function Wait-SslRetry {
    # The back-off between add attempts (its own function so tests need not wait).
    param([Parameter(Mandatory = $true)][int]$Seconds)
    Start-Sleep -Seconds $Seconds
}

function Get-SslRegistryCommandLine {
    param([Parameter(Mandatory = $true)][string]$Path, [Parameter(Mandatory = $true)][long]$Value)
    return ('Set-ItemProperty -LiteralPath ''' + $Path + ''' -Name ' + $script:SslCheckModeValue + ' -Value ' + $Value + ' -Type DWord')
}

function Set-SslCheckMode {
    # method registry: writes DefaultSslCertCheckMode under the binding's key and reads it back.
    param(
        [Parameter(Mandatory = $true)]$Result,
        [Parameter(Mandatory = $true)][string]$Step,
        [Parameter(Mandatory = $true)]$Spec,
        [Parameter(Mandatory = $true)][long]$Value
    )
    $path = Find-SslBindingPath -Spec $Spec
    if ($null -eq $path) {
        throw ($Spec.Subject + ': the binding does not exist, so its registry value cannot be set')
    }
    $line = Get-SslRegistryCommandLine -Path $path -Value $Value
    Write-SslLog -Message ('run: ' + $line)
    $started = Get-Date
    try {
        Set-SslRegistryDword -Path $path -Name $script:SslCheckModeValue -Value ([int]$Value)
    }
    catch {
        Add-SslAction -Result $Result -Step $Step -Subject $Spec.Subject -Command $line -Outcome 'failed' -Output $_.Exception.Message -Milliseconds (Get-SslElapsedMs -Since $started)
        throw
    }
    Add-SslAction -Result $Result -Step $Step -Subject $Spec.Subject -Command $line -Outcome 'ok' -Milliseconds (Get-SslElapsedMs -Since $started)
    Add-SslNote -Result $Result -Note ($Spec.Subject + ': ' + $script:SslRestartNote)
}

function Get-SslBindingPlan {
    # What this binding needs: desired settings, the exact add command (or registry write), the
    # differences from the captured binding and the certificate check.
    param(
        [Parameter(Mandatory = $true)]$Spec,
        [Parameter(Mandatory = $true)]$Captured,
        [AllowNull()]$Desired
    )
    if ($null -eq $Desired) {
        $Desired = Resolve-SslDesired -Spec $Spec -Captured $Captured
    }
    $plan = [ordered]@{
        binding = $Spec.Subject; kind = $Spec.Kind; key = $Spec.Key; mode = $Spec.Mode; method = $Spec.Method
        exists = $Captured.exists; change = 'none'; swap = $Spec.Swap; path = 'none'; commands = @()
        desired = $Desired; differences = @(); arguments = @(); update_arguments = @()
        command_line = $null; registry_value = $null; certificate = $null; restart_required = $false
        restorable = $null; undo_problem = $null; path_note = $null
    }
    if ($Spec.Method -eq 'registry') {
        if (-not $Captured.exists) {
            throw ($Spec.Subject + ': method registry needs an existing binding, and there is none')
        }
        $value = Get-SslCheckModeValue -Settings $Desired -Keep $Captured.registry.DefaultSslCertCheckMode
        $plan.registry_value = $value
        $plan.command_line = Get-SslRegistryCommandLine -Path $Captured.registry.path -Value $value
        $plan.differences = @(Compare-SslSetting -Expected $Desired -Actual $Captured.settings)
        if ($value -ne $Captured.registry.DefaultSslCertCheckMode) {
            $plan.change = 'set-registry'
            $plan.path = 'set-registry'
            $plan.commands = @($plan.command_line)
            $plan.restart_required = $true
            $plan.restorable = $true
        }
        return $plan
    }
    $plan.arguments = @(Get-SslAddArgument -Kind $Spec.Kind -Key $Spec.Key -Settings $Desired)
    $plan.command_line = Format-SslCommandLine -Verb 'add' -Arguments $plan.arguments
    if ($Captured.exists) {
        $plan.differences = @(Compare-SslSetting -Expected $Desired -Actual $Captured.settings)
        if ($plan.differences.Count -gt 0) {
            $plan.change = 'replace'
        }
    }
    else {
        $plan.differences = @(Compare-SslSetting -Expected $Desired -Actual $null)
        $plan.change = 'add'
    }
    if ($plan.change -eq 'add') {
        $plan.path = 'add'
        $plan.commands = @($plan.command_line)
        $plan.restorable = $true
    }
    if ($plan.change -eq 'replace') {
        # update replaces the whole record too, so it would lose such bits as well
        Assert-SslNoExtraBit -Subject $Spec.Subject -Captured $Captured -Why 'changing it with netsh'
        Assert-SslNoExtendedProperty -Spec $Spec
        Set-SslChangePath -Spec $Spec -Captured $Captured -Plan $plan
    }
    if ($plan.change -ne 'none') {
        $plan.certificate = Get-SslCertificateCheck -Settings $Desired
        if ($null -ne $plan.certificate -and $plan.certificate.problems.Count -gt 0) {
            throw ($Spec.Subject + ': ' + ($plan.certificate.problems -join '; ') + '; nothing is changed')
        }
    }
    return $plan
}

function Set-SslChangePath {
    # How an existing binding changes: one atomic 'netsh http update sslcert' where the host has it
    # and it can express the change (swap auto or update), else delete+add (swap auto or replace).
    param([Parameter(Mandatory = $true)]$Spec, [Parameter(Mandatory = $true)]$Captured, [Parameter(Mandatory = $true)]$Plan)
    $delete = Format-SslCommandLine -Verb delete -Arguments @($Spec.Kind + '=' + $Spec.Key)
    $obstacle = 'swap is replace'
    if ($Spec.Swap -ne 'replace') {
        $obstacle = Get-SslUpdateObstacle -Kind $Spec.Kind -Key $Spec.Key -Settings $Plan.desired -Current $Captured.settings
    }
    if ($null -eq $obstacle) {
        $Plan.path = 'update'
        $Plan.update_arguments = @(Get-SslUpdateArgument -Kind $Spec.Kind -Key $Spec.Key -Settings $Plan.desired -Current $Captured.settings)
        $Plan.commands = @(Format-SslCommandLine -Verb update -Arguments $Plan.update_arguments)
        return
    }
    if ($Spec.Swap -eq 'update') {
        throw ($Spec.Subject + ': swap is update, but ' + $obstacle + '; nothing is changed')
    }
    $Plan.path = 'replace'
    $Plan.path_note = $obstacle
    $Plan.commands = @($delete, $Plan.command_line)
}

function Get-SslUndoProblem {
    # Why a binding about to change could not be put back as captured, or $null: its certificate
    # must be in its store with a private key, and this netsh must take the restore command
    # (update where it can express it, else add with every captured parameter).
    param([Parameter(Mandatory = $true)]$Spec, [Parameter(Mandatory = $true)]$Captured, [Parameter(Mandatory = $true)]$Desired)
    $problems = @()
    $check = Get-SslCertificateCheck -Settings $Captured.settings
    if ($null -ne $check -and $check.has_private_key -ne $true) {
        $problems += , ('the prior certificate: ' + ($check.problems -join '; '))
    }
    $obstacle = 'swap is replace'
    if ($Spec.Swap -ne 'replace') {
        $obstacle = Get-SslUpdateObstacle -Kind $Spec.Kind -Key $Spec.Key -Settings $Captured.settings -Current $Desired
    }
    if ($null -ne $obstacle) {
        $names = @(Get-SslArgumentName -Arguments @(Get-SslAddArgument -Kind $Spec.Kind -Key $Spec.Key -Settings $Captured.settings))
        $known = Get-SslNetshTag -Verb add
        $missing = @($names | Where-Object { $known -cnotcontains $_ })
        if ($missing.Count -gt 0) {
            $problems += , ('this netsh does not list ' + ($missing -join ', ') + ', which the prior binding needs')
        }
    }
    if ($problems.Count -eq 0) {
        return $null
    }
    return ($problems -join '; ')
}

function Assert-SslNoExtendedProperty {
    # A binding whose HTTP/2 Extended Properties differ from a plain add's would lose them when
    # netsh re-creates it (delete+add; update is not known to keep them): refused before anything
    # changes, naming them and how to set them again by hand.
    param([Parameter(Mandatory = $true)]$Spec)
    $shown = Invoke-SslNetsh -Operation show -Subject $Spec.Subject -Arguments @('http', 'show', 'sslcert', ($Spec.Kind + '=' + $Spec.Key)) -CommandLine ('netsh http show sslcert ' + $Spec.Kind + '=' + $Spec.Key) -AnyExitCode
    $changed = @(Get-SslExtendedPropertyChange -Text $shown.Output)
    if ($changed.Count -gt 0) {
        throw ($Spec.Subject + ': the binding carries HTTP/2 Extended Properties (' + ($changed -join '; ') +
            ') that netsh add and update cannot set; changing it with netsh would reset them, so nothing is changed. ' +
            'Change it by hand and set them again with netsh http update sslpropertyex ' + $Spec.Kind + '=' + $Spec.Key + ' propertyid=...')
    }
}

function Assert-SslNoExtraBit {
    # netsh add cannot set bits no netsh parameter names: re-creating a binding that carries them
    # would silently drop them, so such a change is refused, naming each bit.
    param([Parameter(Mandatory = $true)][string]$Subject, [Parameter(Mandatory = $true)]$Captured, [Parameter(Mandatory = $true)][string]$Why)
    if (-not $Captured.exists) {
        return
    }
    $extra = @(Format-SslExtraBit -CheckMode $Captured.registry.extra_check_mode -Flags $Captured.registry.extra_flags)
    if ($extra.Count -gt 0) {
        throw ($Subject + ': the binding carries ' + ($extra -join ', ') + ', which no netsh parameter can set; ' + $Why +
            ' would lose it, so nothing is changed')
    }
}

function New-SslPlan {
    # Capture and prepare every binding before anything changes (short downtime, early refusal).
    param([Parameter(Mandatory = $true)][object[]]$Specs, [Parameter(Mandatory = $true)]$Result, [AllowNull()]$Prepared)
    $items = @()
    foreach ($spec in $Specs) {
        $captured = Get-SslCapturedBinding -Spec $spec
        $Result.before += , $captured
        $desired = $null
        if ($null -ne $Prepared) {
            $desired = $Prepared[$spec.Subject.ToLowerInvariant()]
            if ($null -eq $desired) {
                throw ('Prepared: no desired settings for ' + $spec.Subject)
            }
        }
        $plan = Get-SslBindingPlan -Spec $spec -Captured $captured -Desired $desired
        $Result.bindings += , $plan
        $items += , (@{ Spec = $spec; Captured = $captured; Plan = $plan })
    }
    $names = @($items | Where-Object { $_.Plan.path -eq 'add' -or $_.Plan.path -eq 'replace' } |
            ForEach-Object { Get-SslArgumentName -Arguments $_.Plan.arguments })
    if ($names.Count -gt 0) {
        Assert-SslNetshParameter -Name $names
    }
    foreach ($item in @($items | Where-Object { $_.Plan.change -eq 'replace' })) {
        $item.Plan.undo_problem = Get-SslUndoProblem -Spec $item.Spec -Captured $item.Captured -Desired $item.Plan.desired
        $item.Plan.restorable = ($null -eq $item.Plan.undo_problem)
    }
    if (@($items | Where-Object { $_.Plan.change -eq 'replace' }).Count -gt 0) {
        $Result.update_supported = Get-SslUpdateSupport
    }
    foreach ($item in $items) {
        if ($item.Plan.change -eq 'none') {
            Write-SslLog -Message ($item.Spec.Subject + ': already as desired')
        }
        else {
            Write-SslLog -Message ($item.Spec.Subject + ': ' + $item.Plan.path + ': ' + ($item.Plan.commands -join ' ; '))
        }
        if ($null -ne $item.Plan.path_note -and $item.Spec.Swap -eq 'auto') {
            Add-SslNote -Result $Result -Note ($item.Spec.Subject + ': delete+add, not update: ' + $item.Plan.path_note)
        }
        if ($item.Plan.restorable -eq $false) {
            Add-SslNote -Result $Result -Note ($item.Spec.Subject + ': cannot be undone: ' + $item.Plan.undo_problem)
        }
        if ($item.Plan.restart_required) {
            Add-SslNote -Result $Result -Note ($item.Spec.Subject + ': ' + $script:SslRestartNote)
        }
    }
    return $items
}

function Assert-SslBindingState {
    # verify: re-read from the registry and compare every setting (or the check-mode value).
    param(
        [Parameter(Mandatory = $true)]$Result,
        [Parameter(Mandatory = $true)][string]$Step,
        [Parameter(Mandatory = $true)]$Spec,
        [AllowNull()]$Expected,
        [switch]$Absent,
        [AllowNull()][string[]]$Name = $null
    )
    $started = Get-Date
    $current = Get-SslCapturedBinding -Spec $Spec
    $message = $null
    if ($Absent) {
        if ($current.exists) {
            $message = $Spec.Subject + ': the binding still exists'
        }
    }
    elseif (-not $current.exists) {
        $message = $Spec.Subject + ': the binding does not exist'
    }
    else {
        if ($Spec.Method -eq 'registry') {
            # method registry: the registry value is the state (HTTP.sys reads it after a restart);
            # only the bits of the revocation-check settings are compared (0x4 is not established).
            $want = Get-SslCheckModeValue -Settings $Expected
            $have = $current.registry.DefaultSslCertCheckMode -band $script:SslSettingCheckModeBits
            $difference = @()
            if ($want -ne $have) {
                $difference = @([ordered]@{ setting = $script:SslCheckModeValue; expected = $want; actual = $have })
            }
        }
        else {
            # Settings only; the check-mode bit 0x4 is not compared (whether netsh sets it for a
            # revocationfreshnesstime is not established).
            $difference = @(Compare-SslSetting -Expected $Expected -Actual $current.settings -Name $Name)
        }
        foreach ($item in $difference) {
            $Result.differences += , [ordered]@{
                binding = $Spec.Subject; setting = $item.setting; expected = $item.expected; actual = $item.actual
            }
        }
        if ($difference.Count -gt 0) {
            $message = Format-SslDifference -Subject $Spec.Subject -Difference $difference
        }
    }
    if ($null -ne $message) {
        Add-SslAction -Result $Result -Step $Step -Subject $Spec.Subject -Outcome 'failed' -Output $message -Milliseconds (Get-SslElapsedMs -Since $started)
        throw ('verify failed: ' + $message)
    }
    Add-SslAction -Result $Result -Step $Step -Subject $Spec.Subject -Outcome 'ok' -Milliseconds (Get-SslElapsedMs -Since $started)
    return $current
}

function Find-SslTrialPort {
    # The first port from SslTrialFirstPort that no HTTP.sys SSL binding uses on any address and on
    # which nothing listens, so the trial binding can affect no traffic.
    $used = @{}
    foreach ($kind in $script:SslKinds) {
        $base = $script:SslRegistryRoot + '\' + $script:SslRegistrySubkey[$kind]
        if (-not (Test-SslRegistryKey -Path $base)) {
            continue
        }
        foreach ($name in (Get-SslRegistrySubkeyName -Path $base)) {
            $label = [string]$name
            $hostnamePort = Get-SslProperty -Object (Get-SslRegistryValue -Path ($base + '\' + $label)) -Name 'HostnamePort'
            if ($hostnamePort -is [string]) {
                $label = $hostnamePort
            }
            $used[$label.Substring($label.LastIndexOf(':') + 1)] = $true
        }
    }
    for ($port = $script:SslTrialFirstPort; $port -lt $script:SslTrialFirstPort + $script:SslTrialPortCount; $port++) {
        if (-not $used.ContainsKey([string]$port) -and -not (Test-SslPortListening -Port $port)) {
            return $port
        }
    }
    throw ('no loopback port from ' + $script:SslTrialFirstPort + ' to ' + ($script:SslTrialFirstPort + $script:SslTrialPortCount - 1) +
        ' is free of bindings and listeners for the trial binding; nothing is changed')
}

function Get-SslLeftoverTrial {
    # Trial bindings an earlier run left behind (its pwsh killed between add and delete):
    # ipport 127.0.0.1:<port> under sslbind's trial appid.
    $base = $script:SslRegistryRoot + '\' + $script:SslRegistrySubkey['ipport']
    if (-not (Test-SslRegistryKey -Path $base)) {
        return
    }
    foreach ($name in (Get-SslRegistrySubkeyName -Path $base)) {
        if (-not ([string]$name).StartsWith($script:SslTrialAddress + ':')) {
            continue
        }
        $appId = Get-SslProperty -Object (Get-SslRegistryValue -Path ($base + '\' + [string]$name)) -Name 'AppId'
        try {
            $guid = ConvertFrom-SslBinary -Value $appId -Kind guid -Where ([string]$name)
        }
        catch {
            continue
        }
        if ($guid -ieq $script:SslTrialAppId) {
            [string]$name
        }
    }
}

function Remove-SslLeftoverTrial {
    param([Parameter(Mandatory = $true)]$Result)
    foreach ($key in @(Get-SslLeftoverTrial)) {
        $null = Invoke-SslNetshStep -Result $Result -Step 'trial-cleanup' -Operation delete -Subject ('ipport=' + $key) -Arguments @('ipport=' + $key) -AcceptCode @(2)
        Add-SslNote -Result $Result -Note ('removed trial binding ipport=' + $key + ', left by an earlier sslbind run that was stopped')
    }
}

function Invoke-SslTrialBind {
    # Before anything live is touched, HTTP.sys itself must accept each new certificate with its
    # store and parameters (HasPrivateKey says nothing about a key HTTP.sys cannot use, error 1312):
    # add it on loopback under sslbind's trial appid, check it exists, delete it in a finally (which
    # runs when the pipeline is stopped, too). Central-store kinds carry no certificate to try.
    param([Parameter(Mandatory = $true)]$Result, [Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$Items)
    $trials = @($Items | Where-Object {
            $_.Spec.Method -eq 'netsh' -and @('add', 'update', 'replace') -contains $_.Plan.path -and $null -ne $_.Plan.desired['certhash']
        })
    if ($trials.Count -eq 0) {
        return
    }
    $key = $script:SslTrialAddress + ':' + (Find-SslTrialPort)
    $path = $script:SslRegistryRoot + '\' + $script:SslRegistrySubkey['ipport'] + '\' + $key
    foreach ($item in $trials) {
        $settings = [ordered]@{}
        foreach ($name in @($item.Plan.desired.Keys)) {
            $settings[$name] = $item.Plan.desired[$name]
        }
        $settings['appid'] = $script:SslTrialAppId
        $arguments = @(Get-SslAddArgument -Kind ipport -Key $key -Settings $settings)
        $what = $item.Spec.Subject + ': the trial bind of certificate ' + $settings['certhash'] + ' in LocalMachine\' + $settings['certstorename']
        try {
            try {
                $null = Invoke-SslNetshStep -Result $Result -Step 'trial-add' -Operation add -Subject ('ipport=' + $key) -Arguments $arguments -Retry
            }
            catch {
                throw ($what + ' was refused, nothing live is touched: ' + $_.Exception.Message)
            }
            if (-not (Test-SslRegistryKey -Path $path)) {
                throw ($what + ' reported success but created no binding (a parameter this netsh ignores?); nothing live is touched')
            }
        }
        finally {
            $null = Invoke-SslNetshStep -Result $Result -Step 'trial-delete' -Operation delete -Subject ('ipport=' + $key) -Arguments @('ipport=' + $key) -AcceptCode @(2)
        }
    }
}

function Invoke-SslBindingChange {
    # apply: one update in place (no moment without a binding), or delete and add back to back
    # timing the gap without a binding; or the registry write.
    param([Parameter(Mandatory = $true)]$Result, [Parameter(Mandatory = $true)]$Item)
    $spec = $Item.Spec
    if ($spec.Method -eq 'registry') {
        Set-SslCheckMode -Result $Result -Step 'set-registry' -Spec $spec -Value $Item.Plan.registry_value
        return
    }
    if ($Item.Plan.path -eq 'update') {
        $null = Invoke-SslNetshStep -Result $Result -Step 'update' -Operation update -Subject $spec.Subject -Arguments $Item.Plan.update_arguments
        return
    }
    $started = Get-Date
    try {
        if ($Item.Captured.exists) {
            $null = Invoke-SslNetshStep -Result $Result -Step 'delete' -Operation delete -Subject $spec.Subject -Arguments @($spec.Kind + '=' + $spec.Key) -AcceptCode @(2)
        }
        $null = Invoke-SslNetshStep -Result $Result -Step 'add' -Operation add -Subject $spec.Subject -Arguments $Item.Plan.arguments
    }
    finally {
        if ($Item.Captured.exists) {
            $Result.timings.gaps += , [ordered]@{ binding = $spec.Subject; gap_ms = (Get-SslElapsedMs -Since $started) }
        }
    }
}

function Restore-SslBinding {
    # Puts one binding back as captured (re-add with every setting, or delete one that did not
    # exist) and verifies it. Returns $true when something had to change.
    param(
        [Parameter(Mandatory = $true)]$Result,
        [Parameter(Mandatory = $true)]$Spec,
        [Parameter(Mandatory = $true)]$Prior
    )
    if ($Spec.Method -eq 'registry') {
        if (-not $Prior.exists) {
            return $false
        }
        $current = Get-SslCapturedBinding -Spec $Spec
        $value = [long]$Prior.registry.DefaultSslCertCheckMode
        if ($current.exists -and $current.registry.DefaultSslCertCheckMode -eq $value) {
            return $false
        }
        Set-SslCheckMode -Result $Result -Step 'rollback-set-registry' -Spec $Spec -Value $value
        $after = Get-SslCapturedBinding -Spec $Spec
        if (-not $after.exists -or $after.registry.DefaultSslCertCheckMode -ne $value) {
            throw ($Spec.Subject + ': ' + $script:SslCheckModeValue + ' is not back to ' + $value)
        }
        Add-SslAction -Result $Result -Step 'rollback-verify' -Subject $Spec.Subject -Outcome 'ok'
        return $true
    }
    $current = $null
    $unreadable = $null
    try {
        $current = Get-SslCapturedBinding -Spec $Spec
    }
    catch {
        $unreadable = $_.Exception.Message
    }
    if ($Prior.exists) {
        if ($null -ne $current -and $current.exists -and @(Compare-SslSetting -Expected $Prior.settings -Actual $current.settings).Count -eq 0) {
            return $false
        }
        $arguments = @(Get-SslAddArgument -Kind $Spec.Kind -Key $Spec.Key -Settings $Prior.settings)
        $command = Format-SslCommandLine -Verb add -Arguments $arguments
        if ($null -eq $current) {
            # Without the current settings a failed re-add could not be undone: delete nothing.
            throw ($Spec.Subject + ': not restored, nothing deleted: the current binding cannot be read (' + $unreadable +
                '); a person must check it with netsh http show sslcert ' + $Spec.Kind + '=' + $Spec.Key + ' and restore it by hand: ' + $command)
        }
        if (Test-SslRestoreByUpdate -Spec $Spec -Prior $Prior -Current $current) {
            # In place, with no moment without a binding; a failed update changes nothing.
            Assert-SslRestorable -Result $Result -Spec $Spec -Prior $Prior -Arguments $arguments -Current $current -ViaUpdate
            $update = @(Get-SslUpdateArgument -Kind $Spec.Kind -Key $Spec.Key -Settings $Prior.settings -Current $current.settings)
            try {
                $null = Invoke-SslNetshStep -Result $Result -Step 'rollback-update' -Operation update -Subject $Spec.Subject -Arguments $update
            }
            catch {
                throw ($Spec.Subject + ': not restored, the current binding is kept: ' + $_.Exception.Message +
                    '; a person must restore it: ' + (Format-SslCommandLine -Verb update -Arguments $update))
            }
            $null = Assert-SslBindingState -Result $Result -Step 'rollback-verify' -Spec $Spec -Expected $Prior.settings
            return $true
        }
        Assert-SslRestorable -Result $Result -Spec $Spec -Prior $Prior -Arguments $arguments -Current $current
        if ($current.exists) {
            $null = Invoke-SslNetshStep -Result $Result -Step 'rollback-delete' -Operation delete -Subject $Spec.Subject -Arguments @($Spec.Kind + '=' + $Spec.Key) -AcceptCode @(2)
        }
        try {
            $null = Invoke-SslNetshStep -Result $Result -Step 'rollback-add' -Operation add -Subject $Spec.Subject -Arguments $arguments
        }
        catch {
            $failure = $_.Exception.Message
            if (-not $current.exists) {
                throw
            }
            Restore-SslCurrentBinding -Result $Result -Spec $Spec -Current $current -Failure $failure
        }
        $null = Assert-SslBindingState -Result $Result -Step 'rollback-verify' -Spec $Spec -Expected $Prior.settings
        return $true
    }
    # It did not exist before: deleting whatever is there now (even unreadable) restores that.
    if ($null -ne $current -and -not $current.exists) {
        return $false
    }
    $null = Invoke-SslNetshStep -Result $Result -Step 'rollback-delete' -Operation delete -Subject $Spec.Subject -Arguments @($Spec.Kind + '=' + $Spec.Key) -AcceptCode @(2)
    $null = Assert-SslBindingState -Result $Result -Step 'rollback-verify' -Spec $Spec -Expected $null -Absent
    return $true
}

function Test-SslRestoreByUpdate {
    # Whether the prior binding goes back in place with one update (no moment without a binding)
    # rather than by delete+add: the binding exists, the swap allows it, and update can express it.
    param([Parameter(Mandatory = $true)]$Spec, [Parameter(Mandatory = $true)]$Prior, [Parameter(Mandatory = $true)]$Current)
    return ($Current.exists -and $Spec.Swap -ne 'replace' -and
        $null -eq (Get-SslUpdateObstacle -Kind $Spec.Kind -Key $Spec.Key -Settings $Prior.settings -Current $Current.settings))
}

function Assert-SslRestorable {
    # Before rollback deletes anything: the prior certificate must be in its store with a private
    # key (expiry only warned about) and this netsh must take every parameter; otherwise the
    # current binding is kept, so the host never loses a binding it has.
    param(
        [Parameter(Mandatory = $true)]$Result,
        [Parameter(Mandatory = $true)]$Spec,
        [Parameter(Mandatory = $true)]$Prior,
        [Parameter(Mandatory = $true)][string[]]$Arguments,
        [Parameter(Mandatory = $true)]$Current,
        [switch]$ViaUpdate
    )
    $command = Format-SslCommandLine -Verb add -Arguments $Arguments
    $kept = 'the current binding is kept'
    if (-not $Current.exists) {
        $kept = 'the binding stays absent'
    }
    try {
        Assert-SslNoExtraBit -Subject $Spec.Subject -Captured $Prior -Why 're-adding it'
    }
    catch {
        throw ($Spec.Subject + ': not restored, ' + $kept + ': ' + $_.Exception.Message + '; a person must restore it with the HTTP API, or accept it without those bits: ' + $command)
    }
    $check = Get-SslCertificateCheck -Settings $Prior.settings
    if ($null -ne $check) {
        if ($check.has_private_key -ne $true) {
            throw ($Spec.Subject + ': not restored, ' + $kept + ': ' + ($check.problems -join '; ') +
                '; a person must import certificate ' + $check.thumbprint + ' with its private key into LocalMachine\' + $check.store +
                ' and run rollback.ps1 again, or restore the binding by hand: ' + $command)
        }
        foreach ($problem in $check.problems) {
            Add-SslNote -Result $Result -Note ($Spec.Subject + ': restored certificate: ' + $problem)
        }
    }
    if ($ViaUpdate) {
        return
    }
    try {
        Assert-SslNetshParameter -Name @(Get-SslArgumentName -Arguments $Arguments)
    }
    catch {
        throw ($Spec.Subject + ': not restored, ' + $kept + ': ' + $_.Exception.Message +
            '; a person must restore the binding by hand with the parameters this netsh takes: ' + $command)
    }
}

function Restore-SslCurrentBinding {
    # The prior binding could not be re-added after the delete: put back the binding that was
    # there a moment ago, verify it, and report the original failure.
    param(
        [Parameter(Mandatory = $true)]$Result,
        [Parameter(Mandatory = $true)]$Spec,
        [Parameter(Mandatory = $true)]$Current,
        [Parameter(Mandatory = $true)][string]$Failure
    )
    $arguments = @(Get-SslAddArgument -Kind $Spec.Kind -Key $Spec.Key -Settings $Current.settings)
    try {
        $null = Invoke-SslNetshStep -Result $Result -Step 'rollback-keep-add' -Operation add -Subject $Spec.Subject -Arguments $arguments
        $null = Assert-SslBindingState -Result $Result -Step 'rollback-keep-verify' -Spec $Spec -Expected $Current.settings
    }
    catch {
        throw ($Spec.Subject + ': not restored and NO BINDING LEFT: ' + $Failure + '; putting back the current binding failed too: ' +
            $_.Exception.Message + '; a person must add it by hand now: ' + (Format-SslCommandLine -Verb add -Arguments $arguments))
    }
    throw ($Spec.Subject + ': not restored, the current binding was put back: ' + $Failure)
}

function Add-SslAfterState {
    # The bindings as they are now, for the result; an unreadable one is reported, not thrown.
    param([Parameter(Mandatory = $true)]$Result, [Parameter(Mandatory = $true)][object[]]$Specs)
    foreach ($spec in $Specs) {
        try {
            $Result.after += , (Get-SslCapturedBinding -Spec $spec)
        }
        catch {
            $Result.after += , ([ordered]@{ kind = $spec.Kind; key = $spec.Key; error = $_.Exception.Message })
        }
    }
}

function Wait-SslLock {
    Start-Sleep -Milliseconds 500
}

# SIDs that may own and write to the host lock's folder: SYSTEM and Administrators, as SDDL
# writes them (alias or SID string).
$script:SslLockTrustedSid = @('SY', 'BA', 'S-1-5-18', 'S-1-5-32-544')
# SDDL access-right codes and their bits (the two-letter ones Windows writes for files and
# folders; generic, standard and directory-service names).
$script:SslSddlRight = @{
    CC = 0x1; DC = 0x2; LC = 0x4; SW = 0x8; RP = 0x10; WP = 0x20; DT = 0x40; LO = 0x80; CR = 0x100
    SD = 0x10000; RC = 0x20000; WD = 0x40000; WO = 0x80000
    GA = 0x10000000; GX = 0x20000000; GW = 0x40000000; GR = 0x80000000
    FA = 0x1F01FF; FR = 0x120089; FW = 0x120116; FX = 0x1200A0
    KA = 0xF003F; KR = 0x20019; KW = 0x20006; KX = 0x20019
}
# Rights that let a principal change the folder or what is in it: add file, add subfolder, write
# extended attributes, delete child, write attributes, delete, write DAC, write owner, generic
# all, generic write.
$script:SslLockWriteMask = 0x500D0156
$script:SslSddlName = @{
    WD = 'Everyone'; BU = 'BUILTIN\Users'; AU = 'Authenticated Users'; IU = 'INTERACTIVE'; CO = 'CREATOR OWNER'
    NS = 'NETWORK SERVICE'; LS = 'LOCAL SERVICE'; AN = 'ANONYMOUS LOGON'; PU = 'Power Users'; RD = 'Remote Desktop Users'
}

function Format-SslSddlPrincipal {
    param([Parameter(Mandatory = $true)][string]$Sid)
    if ($script:SslSddlName.ContainsKey($Sid)) {
        return ($script:SslSddlName[$Sid] + ' (' + $Sid + ')')
    }
    return $Sid
}

function Get-SslLockFolderProblem {
    # The one rule for the host lock's folder (from Get-SslLockFolderFacts): a folder, no reparse
    # point (junction or symbolic link), owned by Administrators or SYSTEM, and no allow ACE that
    # lets any other principal write (CREATOR OWNER inherit-only excepted: it stands for whoever
    # creates a child, which only SYSTEM and Administrators can). Returns what is wrong (one string each), or nothing.
    param([Parameter(Mandatory = $true)]$Facts)
    if (-not $Facts.exists) {
        return 'it does not exist'
    }
    $problems = @()
    if (-not $Facts.container) {
        $problems += , 'it is not a folder'
    }
    if ($Facts.reparse) {
        $problems += , 'it is a reparse point (junction or symbolic link)'
    }
    $sddl = [string]$Facts.sddl
    if ($sddl -match '(?:^|[)A-Z])O:(?<owner>S-1-[0-9-]+|[A-Z]{2})') {
        if ($script:SslLockTrustedSid -notcontains $Matches['owner']) {
            $problems += , ('its owner is ' + (Format-SslSddlPrincipal -Sid $Matches['owner']) + ', not Administrators or SYSTEM')
        }
    }
    else {
        $problems += , ('its owner cannot be read (security descriptor: ' + (Format-SslSafeText -Text $sddl) + ')')
    }
    if ($sddl -notmatch 'D:(?<flags>[A-Z_]*)(?<aces>(\([^)]*\))*)') {
        $problems += , 'it has no access list (everyone may write)'
        return $problems
    }
    if ($Matches['flags'] -match 'NO_ACCESS_CONTROL') {
        $problems += , 'it has no access control (everyone may write)'
    }
    foreach ($ace in @([regex]::Matches($Matches['aces'], '\(([^)]*)\)') | ForEach-Object { [string]$_.Groups[1].Value })) {
        $field = @($ace -split ';')
        if ($field.Count -lt 6 -or @('A', 'OA', 'XA', 'ZA') -notcontains $field[0]) {
            continue  # deny, audit and other non-granting entries
        }
        $sid = $field[5]
        if ($script:SslLockTrustedSid -contains $sid -or (($sid -eq 'CO' -or $sid -eq 'S-1-3-0') -and $field[1] -match 'IO')) {
            continue
        }
        $mask = [long]0
        $rights = $field[2]
        if ($rights -match '^0[xX][0-9a-fA-F]+$') {
            $mask = [long]$rights
        }
        else {
            # two letters per right ([math] is not a core type in Constrained Language)
            for ($i = 0; $i -lt $rights.Length; $i += 2) {
                $width = 2
                if ($rights.Length - $i -lt 2) {
                    $width = $rights.Length - $i
                }
                $code = $rights.Substring($i, $width)
                if ($script:SslSddlRight.ContainsKey($code)) {
                    $mask = $mask -bor [long]$script:SslSddlRight[$code]
                }
                else {
                    $mask = $mask -bor [long]$script:SslLockWriteMask  # unknown right: assume write
                }
            }
        }
        if (($mask -band [long]$script:SslLockWriteMask) -ne 0) {
            $problems += , ((Format-SslSddlPrincipal -Sid $sid) + ' may write to it (' + $rights + ')')
        }
    }
    return $problems
}

function Format-SslSafeText {
    # Text from the host lock (another process wrote it) as it may appear in a message: control
    # characters replaced, at most 200 characters.
    param([AllowNull()][AllowEmptyString()][string]$Text)
    $clean = ([string]$Text) -replace '[\x00-\x1F\x7F]', ' '
    if ($clean.Length -gt 200) {
        $clean = $clean.Substring(0, 200) + '...'
    }
    return $clean
}

function Test-SslStaleLock {
    # A holder whose process is gone, or whose pid now belongs to a process started at another
    # time, left the lock behind (pwsh killed): it may be taken over. An unreadable holder is not
    # stale: a person must look. Nor is a live one whose start time this account cannot read.
    # 'since' is for people only (ConvertFrom-Json may make it a date).
    param([AllowNull()]$Holder)
    $id = Get-SslProperty -Object $Holder -Name 'pid'
    $started = Get-SslProperty -Object $Holder -Name 'started'
    if (-not (Test-SslInteger -Value $id) -or -not (Test-SslInteger -Value $started)) {
        return $false
    }
    # Start times read by two processes may differ slightly (Linux derives them from the boot time,
    # read anew each time): within 2 s it is the same process; a reused pid starts much later.
    $now = Get-SslProcessStart -Id ([int]$id)
    if ($null -eq $now) {
        return $true
    }
    if ([long]$now -eq -1) {
        return $false
    }
    $difference = [long]$now - [long]$started
    return ($difference -gt 20000000 -or $difference -lt -20000000)
}

function Format-SslLockHolder {
    param([AllowNull()]$Holder, [AllowNull()][AllowEmptyString()][string]$Text)
    if ($null -eq $Holder) {
        return ('an unreadable lock: ' + (Format-SslSafeText -Text $Text))
    }
    return (Format-SslSafeText -Text ('change ' + (Get-SslProperty -Object $Holder -Name 'change_id') + ' (' + (Get-SslProperty -Object $Holder -Name 'phase') +
            ', pid ' + (Get-SslProperty -Object $Holder -Name 'pid') + ', since ' + (Get-SslProperty -Object $Holder -Name 'since') + ')'))
}

function Remove-SslStaleLock {
    # Takes over the stale lock -Text at -Path without deleting a lock another waiter has just
    # taken: only the waiter that creates the marker '<lock>.takeover-<pid>-<started>' (one per
    # stale holder; New-Item creates it for one waiter only) may delete, and only after reading
    # the lock again under the marker. Every other taker of the same stale lock needs that marker,
    # so the lock cannot change between that read and the delete. Returns 'removed', 'busy'
    # (another waiter holds the marker: it may have been interrupted, then the marker stays),
    # 'moved' (the lock is no longer that stale one) or 'stuck' (it could not be removed).
    param(
        [Parameter(Mandatory = $true)][string]$Path,
        [Parameter(Mandatory = $true)][string]$Text,
        [Parameter(Mandatory = $true)]$Holder,
        [Parameter(Mandatory = $true)][string]$Mine
    )
    $marker = $Path + '.takeover-' + [long](Get-SslProperty -Object $Holder -Name 'pid') + '-' + [long](Get-SslProperty -Object $Holder -Name 'started')
    if (-not (New-SslLockFile -Path $marker -Text $Mine)) {
        return 'busy'
    }
    try {
        $again = Read-SslLockFile -Path $Path
        if ($again.state -ne 'text' -or [string]$again.text -cne $Text) {
            return 'moved'
        }
        if (-not (Remove-SslLockFile -Path $Path)) {
            return 'stuck'
        }
        return 'removed'
    }
    finally {
        $null = Remove-SslLockFile -Path $marker
    }
}

function Assert-SslLockFolder {
    # The host lock's folder, checked on every run (Get-SslLockFolderProblem); created first with
    # a protected ACL unless -NoCreate. $false when it does not exist and -NoCreate: no change has
    # ever run here. Throws naming what is wrong.
    param([Parameter(Mandatory = $true)][string]$Folder, [switch]$NoCreate)
    $facts = Get-SslLockFolderFacts -Path $Folder
    if (-not $facts.exists) {
        if ($NoCreate) {
            return $false
        }
        try {
            Initialize-SslLockFolder -Path $Folder
        }
        catch {
            throw ('could not create the host lock folder ' + $Folder + ' for SYSTEM and Administrators only: ' + $_.Exception.Message + '; nothing is changed')
        }
        $facts = Get-SslLockFolderFacts -Path $Folder
    }
    $problems = @(Get-SslLockFolderProblem -Facts $facts)
    if ($problems.Count -gt 0) {
        throw ('the host lock folder ' + $Folder + ' is not safe: ' + ($problems -join '; ') +
            '; nothing is changed. An administrator must remove it (sslbind creates it again for SYSTEM and Administrators only) or give it owner Administrators and write access for SYSTEM and Administrators only')
    }
    return $true
}

function Enter-SslHostLock {
    # One sslbind phase per host at a time, across sessions: take the host lock, waiting up to
    # -Wait seconds for another phase to finish; take over a stale one (and say so). Every pass
    # of the wait checks the deadline and sleeps; a lock that exists but cannot be read (a
    # directory, a file this account may not read) or a stale one that cannot be removed counts
    # as held. On failure the outcome is refused with the lock and its holder named, and $false
    # comes back: nothing is touched. -ReadOnly (verify): the folder is never created; when it
    # does not exist no change has run here and verify reads without the lock ($true, none held).
    param([Parameter(Mandatory = $true)]$Result, [Parameter(Mandatory = $true)][int]$Wait, [switch]$ReadOnly)
    try {
        $path = Get-SslLockPath
        $folder = Split-Path -Parent $path
        if (-not (Assert-SslLockFolder -Folder $folder -NoCreate:$ReadOnly)) {
            Add-SslNote -Result $Result -Note ('no sslbind change has run on this host (no ' + $folder + '): verify reads without the host lock')
            return $true
        }
        $now = (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ss.fffZ', [cultureinfo]::InvariantCulture)
        $mine = ConvertTo-Json -Compress -InputObject ([ordered]@{
                pid = $PID; started = (Get-SslProcessStart -Id $PID); change_id = $script:SslChange.change_id
                phase = $Result.phase; host = $Result.host; since = $now
            })
        $deadline = (Get-Date).AddSeconds($Wait)
        $waited = $false
        while (-not (New-SslLockFile -Path $path -Text $mine)) {
            $seen = Read-SslLockFile -Path $path
            $described = 'a lock that was released just now'
            if ($seen.state -eq 'unreadable') {
                $described = 'a lock this session cannot read (' + (Format-SslSafeText -Text $seen.reason) + ')'
            }
            elseif ($seen.state -eq 'text') {
                $holder = $null
                try {
                    $holder = ConvertFrom-Json -InputObject ([string]$seen.text)
                }
                catch {
                    $holder = $null
                }
                $described = Format-SslLockHolder -Holder $holder -Text ([string]$seen.text)
                if ($null -ne $holder -and (Test-SslStaleLock -Holder $holder)) {
                    $taken = Remove-SslStaleLock -Path $path -Text ([string]$seen.text) -Holder $holder -Mine $mine
                    if ($taken -eq 'removed') {
                        Add-SslNote -Result $Result -Note ('took over the host lock left by ' + $described + ', whose process is gone')
                        if (New-SslLockFile -Path $path -Text $mine) {
                            break
                        }
                        $described = 'another phase that took the lock at the same moment'
                    }
                    elseif ($taken -eq 'stuck') {
                        $described = $described + ', whose process is gone, but this session cannot remove the lock'
                    }
                    elseif ($taken -eq 'busy') {
                        $described = $described + ', whose process is gone; another phase is taking it over (or was stopped doing so: then remove ' + $path + '.takeover-*)'
                    }
                }
            }
            if ((Get-Date) -ge $deadline) {
                throw ('another sslbind phase holds this host: ' + $described + ' [lock ' + $path + ']; waited ' + $Wait +
                    ' s, nothing is changed. If no sslbind runs on this host, an administrator may remove ' + $path)
            }
            if (-not $waited) {
                Write-SslLog -Message ('waiting for ' + $described + ' to finish [lock ' + $path + ']')
                $waited = $true
            }
            Wait-SslLock
        }
        $script:SslLockHeld = @{ Path = $path; Text = $mine }
        return $true
    }
    catch {
        $Result.outcome = 'refused'
        $Result.error = $_.Exception.Message
        return $false
    }
}

function Exit-SslHostLock {
    # Releases the host lock if this script still holds it.
    if ($null -eq $script:SslLockHeld) {
        return
    }
    $seen = Read-SslLockFile -Path $script:SslLockHeld.Path
    if ($seen.state -eq 'text' -and [string]$seen.text -ceq $script:SslLockHeld.Text) {
        $null = Remove-SslLockFile -Path $script:SslLockHeld.Path
    }
    $script:SslLockHeld = $null
}

function Test-SslAdministratorGroups {
    # From whoami /groups' lines: elevated as an administrator when the High (S-1-16-12288) or
    # System (S-1-16-16384) mandatory label and the Administrators group (S-1-5-32-544) are listed.
    param([AllowNull()][AllowEmptyCollection()][string[]]$Line)
    $lines = @($Line)
    $label = @($lines | Where-Object { $_ -match 'S-1-16-(12288|16384)\b' }).Count -gt 0
    $administrators = @($lines | Where-Object { $_ -match 'S-1-5-32-544\b' }).Count -gt 0
    return ($label -and $administrators)
}

function Test-SslPreflight {
    # One check before anything else in every phase: PowerShell 5.1 or later (#Requires is not
    # enforced for script text sent over PSRP), a language mode the scripts run in (Full or
    # Constrained; JEA's NoLanguage/RestrictedLanguage cannot run them) and, where the phase changes
    # bindings, elevation. Records what it found; on a gap sets outcome refused and returns $false.
    # Runs before any Write-Information (absent before 5.0), so a 4.0 host gets the JSON too.
    param([Parameter(Mandatory = $true)]$Result, [switch]$RequireElevation, [version]$Version = $PSVersionTable.PSVersion)
    $version = $Version
    $mode = [string]$ExecutionContext.SessionState.LanguageMode
    $Result.host_facts = [ordered]@{
        powershell = [string]$version; edition = [string](Get-SslProperty -Object $PSVersionTable -Name 'PSEdition')
        language_mode = $mode; elevated = $null
    }
    $missing = @()
    if ($version.Major -lt 5 -or ($version.Major -eq 5 -and $version.Minor -lt 1)) {
        $missing += , ('needs PowerShell 5.1 or later (this host runs ' + [string]$version + ')')
    }
    if (@('FullLanguage', 'ConstrainedLanguage') -notcontains $mode) {
        $missing += , ('needs FullLanguage or ConstrainedLanguage (this session is ' + $mode + ')')
    }
    $wow64 = ''
    if ($missing.Count -eq 0) {
        $wow64 = [string](Get-SslWowArchitecture)
    }
    if ($wow64.Length -gt 0) {
        # netsh would resolve to SysWOW64\netsh.exe, whose helpers sit under the redirected registry.
        $missing += , ('needs 64-bit PowerShell: this is a 32-bit session on 64-bit Windows (PROCESSOR_ARCHITEW6432=' +
            $wow64 + ', e.g. the Microsoft.PowerShell32 endpoint); connect to the 64-bit endpoint (Microsoft.PowerShell)')
    }
    if ($missing.Count -eq 0) {
        $Result.host_facts.elevated = [bool](Test-SslElevated)
        if ($RequireElevation -and -not $Result.host_facts.elevated) {
            $missing += , 'must run elevated (as Administrator: the High or System label and the Administrators group S-1-5-32-544)'
        }
    }
    if ($missing.Count -gt 0) {
        $Result.outcome = 'refused'
        $Result.error = 'pre-flight: this script ' + ($missing -join '; ') + '; nothing is changed'
        return $false
    }
    return $true
}

function Test-SslShouldProcess {
    # $PSCmdlet.ShouldProcess where the language mode allows calling it. Constrained Language
    # forbids that method call, so there -WhatIf and -Confirm are honoured by hand: the scripts'
    # ConfirmImpact is High, so it asks unless -Confirm:$false, with Read-Host (which throws where
    # no one can answer, as ShouldProcess does).
    param(
        [Parameter(Mandatory = $true)]$Cmdlet,
        [Parameter(Mandatory = $true)][string]$Target,
        [Parameter(Mandatory = $true)][string]$Action
    )
    if ([string]$ExecutionContext.SessionState.LanguageMode -eq 'FullLanguage') {
        return $Cmdlet.ShouldProcess($Target, $Action)
    }
    if ($WhatIfPreference) {
        Write-Host ('What if: Performing the operation "' + $Action + '" on target "' + $Target + '".')
        return $false
    }
    if ([string]$ConfirmPreference -eq 'None') {
        return $true
    }
    $answer = Read-Host -Prompt ('Are you sure you want to perform this action? ' + $Action + ' on target "' + $Target + '" [Y] Yes [N] No (default is "N")')
    return ([string]$answer -match '\A\s*(y|yes)\s*\z')
}

function Invoke-SslPreparePhase {
    param([Parameter(Mandatory = $true)]$Result, [AllowNull()][hashtable[]]$Binding)
    try {
        $specs = @(ConvertTo-SslBindingSpec -Binding $Binding)
        $items = @(New-SslPlan -Specs $specs -Result $Result -Prepared $null)
        foreach ($key in @(Get-SslLeftoverTrial)) {
            Add-SslNote -Result $Result -Note ('trial binding ipport=' + $key + ' was left by an earlier sslbind run that was stopped; apply removes it')
        }
        if (@($items | Where-Object { @('add', 'update', 'replace') -contains $_.Plan.path -and $null -ne $_.Plan.desired['certhash'] }).Count -gt 0) {
            Add-SslNote -Result $Result -Note ('apply first trial-binds each new certificate on ' + $script:SslTrialAddress + ' (a free port from ' + $script:SslTrialFirstPort + ') and deletes it again; prepare does not')
        }
        $Result.outcome = 'unchanged'
        if (@($items | Where-Object { $_.Plan.change -ne 'none' }).Count -gt 0) {
            $Result.outcome = 'changes_pending'
        }
    }
    catch {
        $Result.outcome = 'refused'
        $Result.error = $_.Exception.Message
    }
}

function Invoke-SslDeletePhase {
    param([Parameter(Mandatory = $true)]$Cmdlet, [Parameter(Mandatory = $true)]$Result, [AllowNull()][hashtable[]]$Binding)
    $Result.outcome = 'unchanged'
    try {
        $specs = @(ConvertTo-SslBindingSpec -Binding $Binding)
        foreach ($spec in $specs) {
            if ($spec.Method -eq 'registry') {
                Add-SslNote -Result $Result -Note ($spec.Subject + ': method registry; delete.ps1 leaves it alone (add.ps1 writes ' + $script:SslCheckModeValue + ')')
                continue
            }
            $captured = Get-SslCapturedBinding -Spec $spec
            $Result.before += , $captured
            $arguments = @($spec.Kind + '=' + $spec.Key)
            if (-not $captured.exists) {
                Add-SslAction -Result $Result -Step 'delete' -Subject $spec.Subject -Command (Format-SslCommandLine -Verb delete -Arguments $arguments) -Outcome 'absent'
                continue
            }
            if (-not (Test-SslShouldProcess -Cmdlet $Cmdlet -Target $spec.Subject -Action 'Delete the SSL binding (netsh http delete sslcert)')) {
                Add-SslAction -Result $Result -Step 'delete' -Subject $spec.Subject -Command (Format-SslCommandLine -Verb delete -Arguments $arguments) -Outcome 'whatif'
                continue
            }
            $run = Invoke-SslNetshStep -Result $Result -Step 'delete' -Operation delete -Subject $spec.Subject -Arguments $arguments -AcceptCode @(2)
            if ($run.Code -eq 0) {
                $Result.outcome = 'deleted'
            }
        }
        Add-SslAfterState -Result $Result -Specs $specs
    }
    catch {
        $Result.outcome = 'failed'
        $Result.error = $_.Exception.Message
    }
}

function Invoke-SslAddPhase {
    param(
        [Parameter(Mandatory = $true)]$Cmdlet,
        [Parameter(Mandatory = $true)]$Result,
        [AllowNull()][hashtable[]]$Binding,
        [AllowEmptyString()][string]$Prepared
    )
    $Result.outcome = 'unchanged'
    try {
        $specs = @(ConvertTo-SslBindingSpec -Binding $Binding)
        $desiredBySubject = $null
        if ($Prepared.Length -gt 0) {
            $desiredBySubject = ConvertFrom-SslPreparedJson -Json $Prepared -Parameter 'Prepared'
        }
        foreach ($spec in $specs) {
            $captured = Get-SslCapturedBinding -Spec $spec
            if ($null -eq $desiredBySubject -and $spec.Method -eq 'netsh' -and $spec.Mode -eq 'preserve' -and -not $captured.exists) {
                throw ($spec.Subject + ': the binding is absent and mode is preserve; pass -Prepared with the output of prepare.ps1 (run before delete.ps1) so the preserved settings are kept')
            }
        }
        $items = @(New-SslPlan -Specs $specs -Result $Result -Prepared $desiredBySubject)
        foreach ($item in $items) {
            $spec = $item.Spec
            if ($item.Plan.change -eq 'none') {
                Add-SslAction -Result $Result -Step 'add' -Subject $spec.Subject -Command $item.Plan.command_line -Outcome 'present'
                continue
            }
            if ($item.Plan.change -eq 'replace') {
                throw ((Format-SslDifference -Subject $spec.Subject -Difference $item.Plan.differences) +
                    '; the binding exists with other settings: run delete.ps1 first (add never overwrites)')
            }
            if (-not (Test-SslShouldProcess -Cmdlet $Cmdlet -Target $spec.Subject -Action $item.Plan.command_line)) {
                Add-SslAction -Result $Result -Step $item.Plan.change -Subject $spec.Subject -Command $item.Plan.command_line -Outcome 'whatif'
                continue
            }
            if ($spec.Method -eq 'registry') {
                Set-SslCheckMode -Result $Result -Step 'set-registry' -Spec $spec -Value $item.Plan.registry_value
            }
            else {
                $null = Invoke-SslNetshStep -Result $Result -Step 'add' -Operation add -Subject $spec.Subject -Arguments $item.Plan.arguments
            }
            $null = Assert-SslBindingState -Result $Result -Step 'verify' -Spec $spec -Expected $item.Plan.desired
            $Result.outcome = 'added'
        }
        Add-SslAfterState -Result $Result -Specs $specs
    }
    catch {
        $Result.outcome = 'failed'
        $Result.error = $_.Exception.Message
    }
}

function Invoke-SslVerifyPhase {
    param([Parameter(Mandatory = $true)]$Result, [AllowNull()][hashtable[]]$Binding, [AllowEmptyString()][string]$Prepared)
    # verify only reads: it runs unelevated too (monitoring), and reports whether it was elevated.
    try {
        $specs = @(ConvertTo-SslBindingSpec -Binding $Binding)
        $desiredBySubject = $null
        if ($Prepared.Length -gt 0) {
            $desiredBySubject = ConvertFrom-SslPreparedJson -Json $Prepared -Parameter 'Prepared'
        }
    }
    catch {
        $Result.outcome = 'refused'
        $Result.error = $_.Exception.Message
        return
    }
    $failures = @()
    $tlsItems = @()
    foreach ($spec in $specs) {
        try {
            $captured = Get-SslCapturedBinding -Spec $spec
            $Result.after += , $captured
            $expected = $null
            $names = $null
            if ($null -ne $desiredBySubject) {
                $expected = $desiredBySubject[$spec.Subject.ToLowerInvariant()]
                if ($null -eq $expected) {
                    throw ('Prepared: no desired settings for ' + $spec.Subject)
                }
            }
            elseif ($captured.exists) {
                $expected = Resolve-SslDesired -Spec $spec -Captured $captured
                if ($spec.Mode -eq 'preserve') {
                    $names = @($spec.Settings.Keys)
                }
            }
            $null = Assert-SslBindingState -Result $Result -Step 'verify' -Spec $spec -Expected $expected -Name $names
            if ($captured.exists) {
                $tlsItems += , (Get-SslTlsItem -Spec $spec -Expected $expected -Prior $null)
            }
        }
        catch {
            $failures += , $_.Exception.Message
        }
    }
    $failures += @(Invoke-SslTlsCheck -Result $Result -Items $tlsItems)
    $Result.outcome = 'compliant'
    if ($failures.Count -gt 0) {
        $Result.outcome = 'drift'
        $Result.error = $failures -join ' | '
    }
}

function Confirm-SslChange {
    # The one ShouldProcess question of apply/rollback: 'yes', 'whatif' (outcome unchanged),
    # 'declined' (outcome declined) or 'refused' when asking failed (e.g. no UI over remoting), so
    # the JSON result is still written.
    param(
        [Parameter(Mandatory = $true)]$Cmdlet,
        [Parameter(Mandatory = $true)]$Result,
        [Parameter(Mandatory = $true)][string]$Target,
        [Parameter(Mandatory = $true)][string]$Action
    )
    try {
        if (Test-SslShouldProcess -Cmdlet $Cmdlet -Target $Target -Action $Action) {
            return 'yes'
        }
    }
    catch {
        $Result.outcome = 'refused'
        $Result.error = 'could not ask for confirmation (pass -Confirm:$false where no one can answer): ' + $_.Exception.Message
        return 'refused'
    }
    if ($Result.whatif) {
        $Result.outcome = 'unchanged'
        return 'whatif'
    }
    $Result.outcome = 'declined'
    $Result.error = 'confirmation declined; nothing is changed'
    return 'declined'
}

function Invoke-SslRollbackPhase {
    param(
        [Parameter(Mandatory = $true)]$Cmdlet,
        [Parameter(Mandatory = $true)]$Result,
        [AllowNull()][hashtable[]]$Binding,
        [AllowEmptyString()][string]$Prior
    )
    try {
        $specs = @(ConvertTo-SslBindingSpec -Binding $Binding)
        $state = ConvertFrom-SslStateJson -Json $Prior -Parameter 'Prior'
        foreach ($spec in $specs) {
            if (-not $state.ContainsKey($spec.Subject.ToLowerInvariant())) {
                throw ('Prior: the captured state does not include ' + $spec.Subject)
            }
            $Result.before += , ($state[$spec.Subject.ToLowerInvariant()])
        }
    }
    catch {
        $Result.outcome = 'refused'
        $Result.error = $_.Exception.Message
        return
    }
    $what = ($specs | ForEach-Object { $_.Subject }) -join ', '
    $answer = Confirm-SslChange -Cmdlet $Cmdlet -Result $Result -Target ($Result.host + ': ' + $what) -Action 'Restore the captured SSL bindings (netsh http delete sslcert, then add sslcert)'
    if ($answer -ne 'yes') {
        foreach ($spec in $specs) {
            $captured = $state[$spec.Subject.ToLowerInvariant()]
            $command = $null
            if ($captured.exists -and $spec.Method -eq 'netsh') {
                $command = Format-SslCommandLine -Verb add -Arguments @(Get-SslAddArgument -Kind $spec.Kind -Key $spec.Key -Settings $captured.settings)
            }
            Add-SslAction -Result $Result -Step 'rollback' -Subject $spec.Subject -Command $command -Outcome $answer
        }
        return
    }
    $Result.outcome = 'unchanged'
    $errors = @()
    try {
        Remove-SslLeftoverTrial -Result $Result
    }
    catch {
        $errors += , ('a trial binding left by an earlier run could not be removed: ' + $_.Exception.Message)
    }
    $now = Get-SslRollbackStart -Specs $specs
    $problems = @(Get-SslRollbackProblem -Result $Result -Specs $specs -Prior $state -Now $now)
    if ($problems.Count -gt 0) {
        $errors += , ('nothing was changed: ' + ($problems -join ' | '))
    }
    else {
        $errors += @(Restore-SslAllOrNothing -Result $Result -Specs $specs -Prior $state -Now $now)
    }
    if ($errors.Count -gt 0) {
        $Result.outcome = 'rollback_failed'
        $Result.error = $errors -join ' | '
    }
    else {
        Confirm-SslRestoredTls -Result $Result -Specs $specs -State $state
    }
    Add-SslAfterState -Result $Result -Specs $specs
}

function Get-SslRollbackStart {
    # Each binding as it is before rollback touches anything (null where unreadable): what a
    # rollback that fails half-way puts back, so the host ends all restored or all as it was.
    param([Parameter(Mandatory = $true)][object[]]$Specs)
    $now = @{}
    foreach ($spec in $Specs) {
        try {
            $now[$spec.Subject.ToLowerInvariant()] = Get-SslCapturedBinding -Spec $spec
        }
        catch {
            $now[$spec.Subject.ToLowerInvariant()] = $null
        }
    }
    return $now
}

function Get-SslRollbackProblem {
    # Why a binding could not be put back as captured (its certificate, this netsh, bits netsh
    # cannot set), found for every binding before the first one changes: the same checks
    # Restore-SslBinding makes, so a rollback that would stop half-way does not start.
    param([Parameter(Mandatory = $true)]$Result, [Parameter(Mandatory = $true)][object[]]$Specs, [Parameter(Mandatory = $true)]$Prior, [Parameter(Mandatory = $true)]$Now)
    $problems = @()
    foreach ($spec in $Specs) {
        $captured = $Prior[$spec.Subject.ToLowerInvariant()]
        $current = $Now[$spec.Subject.ToLowerInvariant()]
        if ($spec.Method -ne 'netsh' -or -not $captured.exists -or $null -eq $current) {
            continue
        }
        if ($current.exists -and @(Compare-SslSetting -Expected $captured.settings -Actual $current.settings).Count -eq 0) {
            continue
        }
        $arguments = @(Get-SslAddArgument -Kind $spec.Kind -Key $spec.Key -Settings $captured.settings)
        $viaUpdate = Test-SslRestoreByUpdate -Spec $spec -Prior $captured -Current $current
        try {
            Assert-SslRestorable -Result $Result -Spec $spec -Prior $captured -Arguments $arguments -Current $current -ViaUpdate:$viaUpdate
        }
        catch {
            $problems += , $_.Exception.Message
        }
    }
    return $problems
}

function Restore-SslAllOrNothing {
    # Restores every binding; when one fails (or the pipeline is stopped), the bindings already
    # restored go back to how this rollback found them, as apply does. Returns the errors.
    param([Parameter(Mandatory = $true)]$Result, [Parameter(Mandatory = $true)][object[]]$Specs, [Parameter(Mandatory = $true)]$Prior, [Parameter(Mandatory = $true)]$Now)
    $errors = @()
    $restored = @()
    $finished = $false
    try {
        foreach ($spec in $Specs) {
            if (Restore-SslBinding -Result $Result -Spec $spec -Prior $Prior[$spec.Subject.ToLowerInvariant()]) {
                $restored += , $spec
                $Result.outcome = 'rolled_back'
            }
        }
        $finished = $true
    }
    catch {
        $errors += , $_.Exception.Message
        $errors += @(Undo-SslRestored -Result $Result -Restored $restored -Now $Now)
        $finished = $true
    }
    finally {
        if (-not $finished) {
            $null = Undo-SslRestored -Result $Result -Restored $restored -Now $Now
        }
    }
    return $errors
}

function Undo-SslRestored {
    # Puts the bindings a failed rollback had already restored back as it found them, last first.
    param([Parameter(Mandatory = $true)]$Result, [Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$Restored, [Parameter(Mandatory = $true)]$Now)
    $errors = @()
    for ($index = $Restored.Count - 1; $index -ge 0; $index--) {
        $spec = $Restored[$index]
        $found = $Now[$spec.Subject.ToLowerInvariant()]
        if ($null -eq $found) {
            $errors += , ($spec.Subject + ': restored, but could not be put back as this rollback found it (it was unreadable then)')
            continue
        }
        Add-SslNote -Result $Result -Note ($spec.Subject + ': putting back as found, so the host is not left half rolled back')
        try {
            $null = Restore-SslBinding -Result $Result -Spec $spec -Prior $found
            $errors += , ($spec.Subject + ': was restored, then put back as found (all or nothing)')
        }
        catch {
            $errors += , ($spec.Subject + ': restored, but putting it back as found failed: ' + $_.Exception.Message)
        }
    }
    return $errors
}

function Assert-SslExpectedPrior {
    # apply -ExpectedPrior: the planned prior state must still hold, or nothing is touched.
    param([Parameter(Mandatory = $true)][object[]]$Items, [Parameter(Mandatory = $true)][string]$Json)
    $expected = ConvertFrom-SslStateJson -Json $Json -Parameter 'ExpectedPrior'
    $moved = @()
    foreach ($item in $Items) {
        $subject = $item.Spec.Subject
        $want = $expected[$subject.ToLowerInvariant()]
        if ($null -eq $want) {
            $moved += , ($subject + ': not in the expected prior state')
            continue
        }
        if ($want.exists -ne $item.Captured.exists) {
            $moved += , ($subject + ': expected ' + @('absent', 'present')[[int]$want.exists] + ', found ' + @('absent', 'present')[[int]$item.Captured.exists])
            continue
        }
        if ($want.exists) {
            $difference = @(Compare-SslSetting -Expected $want.settings -Actual $item.Captured.settings)
            if ($difference.Count -gt 0) {
                $moved += , (Format-SslDifference -Subject $subject -Difference $difference)
            }
        }
    }
    if ($moved.Count -gt 0) {
        throw ('the host changed since the plan, nothing is touched: ' + ($moved -join ' | '))
    }
}

function Invoke-SslApplyPhase {
    # One transaction per host: capture, check the expected prior state, prepare every binding,
    # delete+add each, verify; on any failure restore the captured bindings here and verify them.
    param(
        [Parameter(Mandatory = $true)]$Cmdlet,
        [Parameter(Mandatory = $true)]$Result,
        [AllowNull()][hashtable[]]$Binding,
        [AllowEmptyString()][string]$ExpectedPrior,
        [switch]$AcceptNoUndo
    )
    $specs = @()
    try {
        $specs = @(ConvertTo-SslBindingSpec -Binding $Binding)
        $items = @(New-SslPlan -Specs $specs -Result $Result -Prepared $null)
        if ($ExpectedPrior.Length -gt 0) {
            Assert-SslExpectedPrior -Items $items -Json $ExpectedPrior
        }
        Assert-SslUndoable -Result $Result -Items $items -AcceptNoUndo:$AcceptNoUndo
    }
    catch {
        $Result.outcome = 'refused'
        $Result.error = $_.Exception.Message
        return
    }
    $pending = @($items | Where-Object { $_.Plan.change -ne 'none' })
    if ($pending.Count -eq 0) {
        $Result.outcome = 'unchanged'
        foreach ($captured in $Result.before) {
            $Result.after += , $captured
        }
        return
    }
    $what = ($pending | ForEach-Object { $_.Spec.Subject + ' (' + $_.Plan.path + ')' }) -join ', '
    $answer = Confirm-SslChange -Cmdlet $Cmdlet -Result $Result -Target ($Result.host + ': ' + $what) -Action 'Change the SSL bindings (trial bind on loopback, then netsh http update sslcert, or delete and add sslcert)'
    if ($answer -ne 'yes') {
        foreach ($item in $pending) {
            $steps = @('delete', 'add')
            if ($item.Plan.path -ne 'replace') {
                $steps = @($item.Plan.path)
            }
            for ($index = 0; $index -lt $item.Plan.commands.Count; $index++) {
                Add-SslAction -Result $Result -Step $steps[$index] -Subject $item.Spec.Subject -Command $item.Plan.commands[$index] -Outcome $answer
            }
        }
        foreach ($captured in $Result.before) {
            $Result.after += , $captured
        }
        return
    }
    try {
        Remove-SslLeftoverTrial -Result $Result
        Invoke-SslTrialBind -Result $Result -Items $pending
    }
    catch {
        $Result.outcome = 'refused'
        $Result.error = $_.Exception.Message
        Add-SslAfterState -Result $Result -Specs $specs
        return
    }
    # What clients got before the change, per endpoint: a failure that was already there is not
    # this change's (nor its restore's).
    $baseline = @()
    try {
        $baseline = @(Get-SslTlsBaseline -Items @($pending | Where-Object { $_.Captured.exists } | ForEach-Object { Get-SslTlsItem -Spec $_.Spec -Expected $_.Captured.settings -Prior $null }))
    }
    catch {
        Add-SslNote -Result $Result -Note ('no TLS baseline before the change (every TLS failure after it counts): ' + $_.Exception.Message)
    }
    $touched = @()
    $finished = $false
    try {
        foreach ($item in $pending) {
            $touched += , $item
            Invoke-SslBindingChange -Result $Result -Item $item
        }
        foreach ($item in $pending) {
            $null = Assert-SslBindingState -Result $Result -Step 'verify' -Spec $item.Spec -Expected $item.Plan.desired
        }
        $first = @($Result.tls).Count
        $tlsFailures = @(Invoke-SslTlsCheck -Result $Result -Items @($pending | ForEach-Object { Get-SslTlsItem -Spec $_.Spec -Expected $_.Plan.desired -Prior $_.Captured }))
        # A binding this change did not touch answering first is named, not this change's failure.
        $tlsFailures = @(Select-SslTlsFailure -Result $Result -First $first -Failure $tlsFailures -Changed @($pending | ForEach-Object { $_.Spec }) -Note 'TLS not checked, an untouched binding answers first: ' -Baseline $baseline)
        if ($tlsFailures.Count -gt 0) {
            throw ('verify failed: ' + ($tlsFailures -join ' | '))
        }
        $Result.outcome = 'applied'
        $finished = $true
    }
    catch {
        $Result.error = $_.Exception.Message
        Restore-SslTouched -Result $Result -Touched $touched -Baseline $baseline
        $finished = $true
    }
    finally {
        # A stopped pipeline (dropped connection, Ctrl-C) skips catch: restore here so the host is
        # not left without its binding between delete and add.
        if (-not $finished) {
            $Result.error = 'stopped before the change completed'
            Restore-SslTouched -Result $Result -Touched $touched -Stopped
        }
    }
    Add-SslAfterState -Result $Result -Specs $specs
}

function Assert-SslUndoable {
    # Every binding about to change must be restorable before the first one changes; -AcceptNoUndo
    # (sslbind apply --accept-no-undo) lets a person go ahead anyway, and the result says so.
    param([Parameter(Mandatory = $true)]$Result, [Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$Items, [switch]$AcceptNoUndo)
    $blocked = @($Items | Where-Object { $_.Plan.restorable -eq $false } | ForEach-Object { $_.Spec.Subject + ': ' + $_.Plan.undo_problem })
    if ($blocked.Count -eq 0) {
        return
    }
    if (-not $AcceptNoUndo) {
        throw ('apply changes nothing it could not undo: ' + ($blocked -join ' | ') +
            '; to go ahead anyway, accept it explicitly (-AcceptNoUndo; sslbind apply --accept-no-undo)')
    }
    foreach ($line in $blocked) {
        Add-SslNote -Result $Result -Note ('accepted without undo (-AcceptNoUndo): ' + $line)
    }
}

function Restore-SslTouched {
    # apply's rollback: every touched binding back as captured, last touched first; then, as
    # rollback.ps1 does, a TLS handshake to each: restored in the registry but served with another
    # certificate is rollback_failed. -Stopped (a stopped pipeline) restores without handshakes.
    param(
        [Parameter(Mandatory = $true)]$Result,
        [Parameter(Mandatory = $true)][AllowEmptyCollection()]$Touched,
        [switch]$Stopped,
        [AllowNull()][AllowEmptyCollection()][object[]]$Baseline = @()
    )
    Write-SslLog -Message ('failed: ' + $Result.error + '; restoring the captured bindings')
    $Result.outcome = 'rolled_back'
    for ($index = $Touched.Count - 1; $index -ge 0; $index--) {
        $item = $Touched[$index]
        try {
            $null = Restore-SslBinding -Result $Result -Spec $item.Spec -Prior $item.Captured
        }
        catch {
            $Result.outcome = 'rollback_failed'
            $Result.error = $Result.error + ' | rollback of ' + $item.Spec.Subject + ' failed: ' + $_.Exception.Message
        }
    }
    if ($Result.outcome -ne 'rolled_back' -or $Stopped -or $Touched.Count -eq 0) {
        return
    }
    $specs = @()
    $state = @{}
    foreach ($item in $Touched) {
        $specs += , $item.Spec
        $state[$item.Spec.Subject.ToLowerInvariant()] = $item.Captured
    }
    Confirm-SslRestoredTls -Result $Result -Specs $specs -State $state -Baseline $Baseline
}

# --- what clients see: a TLS handshake to each changed binding (read-only) ---

# The first handshake after a change may be slow (HTTP.sys acquires the credential, builds the
# chain): each endpoint is tried up to three times, waiting 3, 6 and 9 s (18 s in all), and only a
# handshake that got no answer is tried again; a reset or TLS alert after connect is an answer.
$script:SslTlsAttemptMs = @(3000, 6000, 9000)
# The name asked for under a wildcard SNI binding (*.contoso.com -> sslbind-tls-check.contoso.com).
$script:SslTlsWildcardLabel = 'sslbind-tls-check'

function Invoke-SslTlsAttempt {
    # One endpoint's handshake with the bounded retry: the first answer counts (a certificate, a
    # reset, an alert); when every attempt timed out, ok is $null ('not checked: no answer within
    # N s') and timed_out is $true: a warning, never a failure.
    param([Parameter(Mandatory = $true)]$Endpoint, [switch]$Fresh)
    $waited = 0
    $seen = $null
    foreach ($ms in $script:SslTlsAttemptMs) {
        $seen = Invoke-SslTlsHandshake -Address $Endpoint.address -Port $Endpoint.port -ServerName $Endpoint.server_name -TimeoutMs $ms -Fresh:$Fresh
        $waited += $ms
        if (-not [bool](Get-SslProperty -Object $seen -Name 'timed_out')) {
            return $seen
        }
        Write-SslLog -Message ('tls ' + $Endpoint.address + ':' + $Endpoint.port + ': no answer within ' + ($ms / 1000) + ' s')
    }
    $seen.ok = $null
    $seen.error = 'not checked: no answer within ' + ($waited / 1000) + ' s'
    return $seen
}

function Get-SslPortBinding {
    # Every binding on -Port as the registry holds it (any kind): kind, key, certhash (or $null).
    # The handshake's thumbprint is looked up here to name the binding that answered instead.
    param([Parameter(Mandatory = $true)][int]$Port)
    $hashValue = $script:SslSettingByName['certhash'].RegistryValue
    $found = @()
    foreach ($kind in @('ipport', 'hostnameport', 'ccs', 'scopedccs')) {
        $base = $script:SslRegistryRoot + '\' + $script:SslRegistrySubkey[$kind]
        if (-not (Test-SslRegistryKey -Path $base)) {
            continue
        }
        foreach ($name in (Get-SslRegistrySubkeyName -Path $base)) {
            $values = Get-SslRegistryValue -Path ($base + '\' + [string]$name)
            $key = [string]$name
            if ($kind -eq 'hostnameport' -or $kind -eq 'scopedccs') {
                $hostnamePort = Get-SslProperty -Object $values -Name 'HostnamePort'
                if ($hostnamePort -is [string]) {
                    $key = $hostnamePort
                }
            }
            if ([string]$Port -ne $key.Substring($key.LastIndexOf(':') + 1)) {
                continue
            }
            $hash = $null
            $raw = Get-SslProperty -Object $values -Name $hashValue
            if ($null -ne $raw) {
                try {
                    $hash = ConvertFrom-SslBinary -Value $raw -Kind 'hash' -Where $key
                }
                catch {
                    $hash = $null
                }
            }
            $found += , @{ kind = $kind; key = $key; certhash = $hash; subject = (Get-SslSubject -Kind $kind -Key $key) }
        }
    }
    return $found
}

function Get-SslTlsAddress {
    # The address part of an ipport key as one connects to it: a wildcard is the host's own
    # loopback (0.0.0.0 -> 127.0.0.1, [::] -> ::1); $null for a wildcard when -SpecificOnly.
    param([Parameter(Mandatory = $true)][string]$Key, [switch]$SpecificOnly)
    $address = $Key.Substring(0, $Key.LastIndexOf(':')).Trim('[', ']')
    if ($address -eq '0.0.0.0' -or $address -eq '::') {
        if ($SpecificOnly) {
            return $null
        }
        if ($address -eq '::') {
            return '::1'
        }
        return '127.0.0.1'
    }
    return $address
}

function Get-SslTlsEndpoint {
    # Where a client of this binding connects, seen from the host: an ipport binding at its address
    # (no SNI); an SNI or scoped CCS binding with its host name as SNI, on loopback and on every
    # address that has an IP-specific binding on the same port (there that binding may answer
    # first). A ccs binding names no host, so there is no server name to ask for: none.
    param([Parameter(Mandatory = $true)]$Spec, [Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$PortBinding)
    $port = [int]$Spec.Key.Substring($Spec.Key.LastIndexOf(':') + 1)
    if ($Spec.Kind -eq 'ipport') {
        return @{ address = (Get-SslTlsAddress -Key $Spec.Key); port = $port; server_name = ''; primary = $true }
    }
    if ($Spec.Kind -eq 'ccs') {
        return
    }
    $name = $Spec.Key.Substring(0, $Spec.Key.LastIndexOf(':'))
    if ($name.StartsWith('*.')) {
        # A wildcard SNI binding answers any name under it; SNI cannot carry the '*' itself.
        $name = $script:SslTlsWildcardLabel + $name.Substring(1)
    }
    $addresses = @('127.0.0.1')
    foreach ($other in $PortBinding) {
        if ($other.kind -eq 'ipport') {
            $address = Get-SslTlsAddress -Key $other.key -SpecificOnly
            # A link-local IPv6 address needs a zone index to connect to: not tried.
            if ($null -ne $address -and $addresses -notcontains $address -and -not $address.ToLowerInvariant().StartsWith('fe80:')) {
                $addresses += , $address
            }
        }
    }
    foreach ($address in $addresses) {
        @{ address = $address; port = $port; server_name = $name; primary = ($address -eq '127.0.0.1') }
    }
}

function Test-SslTlsCanAnswer {
    # Could this binding answer a handshake at the endpoint? An IP binding on the endpoint's own
    # address or a wildcard of its family; an SNI or scoped CCS binding for the name asked; a CCS
    # binding whenever a name is asked.
    param([Parameter(Mandatory = $true)]$Binding, [Parameter(Mandatory = $true)]$Endpoint)
    if ($Binding.kind -eq 'ipport') {
        $address = Get-SslTlsAddress -Key $Binding.key -SpecificOnly
        if ($null -ne $address) {
            return ($address -eq $Endpoint.address)
        }
        return ((Get-SslTlsAddress -Key $Binding.key).Contains(':') -eq $Endpoint.address.Contains(':'))
    }
    if ($Endpoint.server_name.Length -eq 0) {
        return $false
    }
    if ($Binding.kind -eq 'ccs') {
        return $true
    }
    return ($Binding.key.Substring(0, $Binding.key.LastIndexOf(':')) -ieq $Endpoint.server_name)
}

function Find-SslTlsShadow {
    # Which binding the seen certificate belongs to, and why it answered: the report names it.
    param(
        [Parameter(Mandatory = $true)]$Spec,
        [Parameter(Mandatory = $true)]$Endpoint,
        [Parameter(Mandatory = $true)][string]$Thumbprint,
        [AllowNull()][string]$Prior,
        [Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$PortBinding
    )
    $holders = @($PortBinding | Where-Object { $_.subject -ne $Spec.Subject -and $_.certhash -eq $Thumbprint })
    $answering = @($holders | Where-Object { Test-SslTlsCanAnswer -Binding $_ -Endpoint $Endpoint })
    if ($answering.Count -gt 0) {
        # An IP-specific binding on this address first, then a wildcard, then the others.
        $best = $answering[0]
        foreach ($other in $answering) {
            if ($other.kind -eq 'ipport' -and $null -ne (Get-SslTlsAddress -Key $other.key -SpecificOnly)) {
                $best = $other
                break
            }
            if ($other.kind -eq 'ipport' -and $best.kind -ne 'ipport') {
                $best = $other
            }
        }
        $label = $best.kind
        if ($best.kind -eq 'ipport') {
            $label = 'ip'
            if ($null -eq (Get-SslTlsAddress -Key $best.key -SpecificOnly)) {
                $label = 'wildcard ip'
            }
        }
        return @{
            shadowed_by = $best.subject
            detail = ($label + ' binding ' + $best.key + ' answers before ' + $Spec.Kind + ' ' + $Spec.Key + ' (its certificate ' + $Thumbprint + ' was served)')
        }
    }
    if (-not [string]::IsNullOrEmpty($Prior) -and $Prior -eq $Thumbprint) {
        return @{ shadowed_by = $null; detail = ('still serves the prior certificate of ' + $Spec.Subject + ' (' + $Thumbprint + '): HTTP.sys has not taken the change') }
    }
    if ($holders.Count -gt 0) {
        return @{ shadowed_by = $null; detail = ('serves certificate ' + $Thumbprint + ' of ' + (($holders | ForEach-Object { $_.subject }) -join ', ') + ', which should not answer here') }
    }
    return @{ shadowed_by = $null; detail = ('serves certificate ' + $Thumbprint + ', which no binding on port ' + $Endpoint.port + ' holds') }
}

function Test-SslTlsBinding {
    # Handshakes to every endpoint of one binding; adds one entry per endpoint to $Result.tls and
    # returns the failure messages (a mismatch, a failed handshake).
    param(
        [Parameter(Mandatory = $true)]$Result,
        [Parameter(Mandatory = $true)]$Spec,
        [AllowNull()][string]$Expected,
        [AllowNull()][string]$Prior,
        [Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$PortBinding,
        [switch]$Fresh
    )
    $failures = @()
    $endpoints = @(Get-SslTlsEndpoint -Spec $Spec -PortBinding $PortBinding)
    if ($endpoints.Count -eq 0) {
        $Result.tls += , [ordered]@{
            binding = $Spec.Subject; address = $null; port = $null; server_name = $null; expected = $Expected
            thumbprint = $null; protocol = $null; client_cert_requested = $null; result = 'not checked'
            detail = 'not checked: a ccs binding names no host name to ask for'; shadowed_by = $null
        }
        return $failures
    }
    foreach ($endpoint in $endpoints) {
        $seen = Invoke-SslTlsAttempt -Endpoint $endpoint -Fresh:$Fresh
        $entry = [ordered]@{
            binding = $Spec.Subject; address = $endpoint.address; port = $endpoint.port; server_name = $endpoint.server_name
            expected = $Expected; thumbprint = $seen.thumbprint; protocol = $seen.protocol
            client_cert_requested = $seen.client_cert_requested; result = 'match'; detail = $seen.error; shadowed_by = $null
        }
        $where = $endpoint.address + ':' + $endpoint.port
        if ($endpoint.server_name.Length -gt 0) {
            $where = $where + ' (SNI ' + $endpoint.server_name + ')'
        }
        if ($null -eq $seen.ok) {
            $entry.result = 'not checked'
            if ([bool](Get-SslProperty -Object $seen -Name 'timed_out')) {
                Add-SslNote -Result $Result -Note ('warning: TLS ' + $Spec.Subject + ' at ' + $where + ' ' + $seen.error + ' (a slow first handshake after a change: HSM or TPM key, revocation fetch); not counted as a failure, check it by hand')
            }
        }
        elseif (-not $seen.ok -and (Get-SslProperty -Object $seen -Name 'listening') -eq $false) {
            # No TCP connection at all: no application has this port registered with HTTP.sys (a
            # stopped site), which no binding change causes or cures; what a client would get
            # cannot be asked, so it is reported, not failed.
            $entry.result = 'not checked'
            $entry.detail = 'not checked: nothing listens on ' + $where + ' (' + $seen.error + ')'
        }
        elseif (-not $seen.ok -and -not $endpoint.primary) {
            # Another address with an IP binding on this port that does not answer (an address the
            # host no longer has, say) is reported; only a certificate seen there can shadow.
            $entry.result = 'not checked'
        }
        elseif (-not $seen.ok) {
            $entry.result = 'failed'
            $failures += , ($Spec.Subject + ': TLS handshake to ' + $where + ' failed: ' + $seen.error)
        }
        elseif ([string]::IsNullOrEmpty($Expected)) {
            # A central-store binding: which certificate the store serves is not known here.
            $entry.result = 'seen'
        }
        elseif ($seen.thumbprint -ne $Expected.ToLowerInvariant()) {
            $entry.result = 'mismatch'
            $shadow = Find-SslTlsShadow -Spec $Spec -Endpoint $endpoint -Thumbprint $seen.thumbprint -Prior $Prior -PortBinding $PortBinding
            $entry.detail = $shadow.detail
            $entry.shadowed_by = $shadow.shadowed_by
            $failures += , ($Spec.Subject + ': TLS handshake to ' + $where + ' got ' + $seen.thumbprint + ', not ' + $Expected.ToLowerInvariant() + ': ' + $shadow.detail)
        }
        Write-SslLog -Message ('tls ' + $Spec.Subject + ' at ' + $where + ': ' + $entry.result + ' ' + [string]$seen.thumbprint + ' ' + [string]$entry.detail)
        $Result.tls += , $entry
    }
    return $failures
}

function Invoke-SslTlsCheck {
    # After the registry read-back: does a client get the certificate the binding now holds? Each
    # item is @{ Spec; Expected (certhash, $null for central-store kinds); Prior (certhash before) }.
    # Returns the failures (empty when every handshake saw the expected certificate). The bindings
    # of each port are read from the registry here (Invoke-SslTlsSeen does the rest).
    # -Fresh: a new TLS session, none resumed from an earlier handshake (the restore's check).
    param([Parameter(Mandatory = $true)]$Result, [Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$Items, [switch]$Fresh)
    return Invoke-SslTlsSeen -Result $Result -Items $Items -PortBinding { param([int]$Port) Get-SslPortBinding -Port $Port } -Fresh:$Fresh
}

function Invoke-SslTlsSeen {
    # The handshakes of Invoke-SslTlsCheck's items: one $Result.tls entry per endpoint, and the
    # failures. -PortBinding { param($Port) } gives the bindings on a port (kind, key, certhash,
    # subject), read once per port: the registry during a change; what sslbind decoded for doctor
    # and import --host, which run this function alone (generator/importers/served.py). Needs
    # .NET: in ConstrainedLanguage every binding is reported 'not checked' and nothing fails for
    # that.
    param(
        [Parameter(Mandatory = $true)]$Result,
        [Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$Items,
        [Parameter(Mandatory = $true)][scriptblock]$PortBinding,
        [switch]$Fresh
    )
    $failures = @()
    $mode = [string]$ExecutionContext.SessionState.LanguageMode
    if ($mode -ne 'FullLanguage') {
        foreach ($item in $Items) {
            $Result.tls += , [ordered]@{
                binding = $item.Spec.Subject; address = $null; port = $null; server_name = $null; expected = $item.Expected
                thumbprint = $null; protocol = $null; client_cert_requested = $null; result = 'not checked'
                detail = ('not checked: ' + $mode); shadowed_by = $null
            }
        }
        if ($Items.Count -gt 0) {
            Add-SslNote -Result $Result -Note ('TLS handshake not checked: ' + $mode + ' allows no .NET sockets')
        }
        return $failures
    }
    $byPort = @{}
    foreach ($item in $Items) {
        $port = [int]$item.Spec.Key.Substring($item.Spec.Key.LastIndexOf(':') + 1)
        if (-not $byPort.ContainsKey($port)) {
            $byPort[$port] = @(& $PortBinding $port)
        }
        $failures += @(Test-SslTlsBinding -Result $Result -Spec $item.Spec -Expected $item.Expected -Prior $item.Prior -PortBinding $byPort[$port] -Fresh:$Fresh)
    }
    return $failures
}

function Get-SslTlsItem {
    # One Invoke-SslTlsCheck item: the certhash a binding should serve and the one it had.
    param([Parameter(Mandatory = $true)]$Spec, [AllowNull()]$Expected, [AllowNull()]$Prior)
    $want = $null
    if ($script:SslCentralStoreKinds -notcontains $Spec.Kind) {
        $want = Get-SslProperty -Object $Expected -Name 'certhash'
    }
    $had = $null
    if ($null -ne $Prior -and $Prior.exists) {
        $had = Get-SslProperty -Object $Prior.settings -Name 'certhash'
    }
    return @{ Spec = $Spec; Expected = $want; Prior = $had }
}

function Get-SslTlsBaseline {
    # apply, before its first live change: one handshake per endpoint of each binding it will
    # change, compared with the certificate the binding holds now (items from Get-SslTlsItem with
    # -Expected the captured settings). The entries, kept apart from the result, tell a failure
    # this change caused from one that was there before it (Test-SslTlsAsBefore).
    param([Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$Items)
    $scratch = @{ tls = @(); notes = @() }
    if ($Items.Count -gt 0) {
        $null = Invoke-SslTlsCheck -Result $scratch -Items $Items
    }
    return $scratch.tls
}

function Test-SslTlsAsBefore {
    # Did this endpoint fail in the same way before the change? The handshake failed then too, or
    # the same other certificate answered then (checked against the certificate the binding held
    # then, so "still the prior certificate" is never excused: it matched before).
    param([Parameter(Mandatory = $true)]$Entry, [AllowNull()][AllowEmptyCollection()][object[]]$Baseline)
    foreach ($before in @($Baseline)) {
        if ($null -eq $before -or [string]$before.binding -ne [string]$Entry.binding -or [string]$before.address -ne [string]$Entry.address -or
            [string]$before.server_name -ne [string]$Entry.server_name) {
            continue
        }
        if ($Entry.result -eq 'failed' -and $before.result -eq 'failed') {
            return $true
        }
        if ($Entry.result -eq 'mismatch' -and $before.result -eq 'mismatch' -and [string]$before.thumbprint -eq [string]$Entry.thumbprint) {
            return $true
        }
    }
    return $false
}

function Select-SslTlsFailure {
    # The one rule for a certificate served by a binding this run did not change (an IP binding
    # answering before the changed one): it answered so before the change too, so it is named in a
    # note (-Note, then the failure text), not counted. Returns the other failures. -First: the
    # index of the check's first $Result.tls entry; Test-SslTlsBinding gives one failure per
    # 'failed' or 'mismatch' entry, in order.
    param(
        [Parameter(Mandatory = $true)]$Result,
        [Parameter(Mandatory = $true)][int]$First,
        [Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$Failure,
        [Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$Changed,
        [Parameter(Mandatory = $true)][string]$Note,
        [AllowNull()][AllowEmptyCollection()][object[]]$Baseline = @()
    )
    $subjects = @($Changed | ForEach-Object { $_.Subject.ToLowerInvariant() })
    $entries = @($Result.tls)
    $failing = @()
    for ($index = $First; $index -lt $entries.Count; $index++) {
        if ($entries[$index].result -eq 'failed' -or $entries[$index].result -eq 'mismatch') {
            $failing += , $entries[$index]
        }
    }
    $kept = @()
    for ($index = 0; $index -lt $Failure.Count; $index++) {
        $entry = $null
        if ($index -lt $failing.Count) {
            $entry = $failing[$index]
        }
        if ($null -ne $entry -and $entry.result -eq 'mismatch' -and $null -ne $entry.shadowed_by -and $subjects -notcontains ([string]$entry.shadowed_by).ToLowerInvariant()) {
            Add-SslNote -Result $Result -Note ($Note + $Failure[$index])
            continue
        }
        if ($null -ne $entry -and (Test-SslTlsAsBefore -Entry $entry -Baseline $Baseline)) {
            $entry.detail = 'as before the change: ' + [string]$entry.detail
            Add-SslNote -Result $Result -Note ('TLS as before the change: ' + $Failure[$index])
            continue
        }
        $kept += , $Failure[$index]
    }
    return $kept
}

function Confirm-SslRestoredTls {
    # rollback, and apply's own restore: after the restore, do clients get the prior certificate
    # again? A binding restored but served with another certificate is a failed rollback, named
    # with what answered instead (after any error already in the result).
    param(
        [Parameter(Mandatory = $true)]$Result,
        [Parameter(Mandatory = $true)][object[]]$Specs,
        [Parameter(Mandatory = $true)]$State,
        [AllowNull()][AllowEmptyCollection()][object[]]$Baseline = @()
    )
    $items = @()
    foreach ($spec in $Specs) {
        $prior = $State[$spec.Subject.ToLowerInvariant()]
        if ($prior.exists) {
            $items += , (Get-SslTlsItem -Spec $spec -Expected $prior.settings -Prior $null)
        }
    }
    $first = @($Result.tls).Count
    # A fresh session: a resumed one from the change's own check would show its certificate again.
    $all = @(Invoke-SslTlsCheck -Result $Result -Items $items -Fresh)
    $failures = @(Select-SslTlsFailure -Result $Result -First $first -Failure $all -Changed $Specs -Note 'restored as before the change: ' -Baseline $Baseline)
    if ($failures.Count -gt 0) {
        $Result.outcome = 'rollback_failed'
        $message = 'restored in the registry, but clients do not get the prior certificate: ' + ($failures -join ' | ')
        if ([string]::IsNullOrEmpty($Result.error)) {
            $Result.error = $message
        }
        else {
            $Result.error = $Result.error + ' | ' + $message
        }
    }
}
