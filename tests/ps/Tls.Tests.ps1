<#
The TLS handshake after the registry read-back (issue 11): apply, verify and rollback with the
touchpoint Invoke-SslTlsHandshake mocked by a fake TLS front that serves what the fake host's
registry binds (or a chosen certificate). Under run_pester.ps1 -LanguageMode ConstrainedLanguage
the scripts may not use .NET sockets: every case then expects 'not checked' and an unchanged
outcome, and the touchpoint is never called.
#>

Describe 'TLS handshake after the change' {
    BeforeAll {
        $Rendered = $env:SSLBIND_RENDERED
        . (Join-Path $Rendered 'lib.ps1')
        . (Join-Path $PSScriptRoot 'FakeHost.ps1')
        function netsh { }

        Mock Test-SslRegistryKey { Test-FakeRegistryKey -Path $Path }
        Mock Get-SslRegistrySubkeyName { Get-FakeRegistrySubkeyName -Path $Path }
        Mock Get-SslRegistryValue { Get-FakeRegistryValue -Path $Path }
        Mock Set-SslRegistryDword { Set-FakeRegistryDword -Path $Path -Name $Name -Value $Value }
        Mock Get-SslStoreCertificate { Get-FakeStoreCertificate -StoreName $StoreName }
        Mock netsh { Invoke-FakeNetsh @args }
        Mock Wait-SslRetry { }
        Mock Test-SslElevated { $true }
        Mock Test-SslPortListening { Test-FakePortListening -Port $Port }
        $global:FakeLockPath = Join-Path ([System.IO.Path]::GetTempPath()) ('sslbind-pester-tls-' + $PID + '.lock')
        Mock Get-SslLockPath { $global:FakeLockPath }
        Mock Get-SslLockFolderFacts { Get-FakeLockFolderFacts -Path $Path }
        Mock Wait-SslLock { }
        # The fake TLS front: $global:TlsServe decides the answer per endpoint.
        Mock Invoke-SslTlsHandshake { & $global:TlsServe $Address $Port $ServerName }
        # Where the scripts import the library as a module, the bridge lets the mocks reach it.
        $bridge = Join-Path $PSScriptRoot 'ModuleBridge.ps1'
        if (Test-Path -LiteralPath $bridge) {
            . $bridge
            Enable-SslModuleBridge
        }

        $Clm = $env:SSLBIND_PESTER_LANGUAGE -eq 'ConstrainedLanguage'
        $Hash = '40db5bb1bf5659a155258d1d007c530fcb8996c2'
        $OldHash = '1111111111111111111111111111111111111111'
        $ShadowHash = '2222222222222222222222222222222222222222'
        $AppId = '{4dc3e181-e14b-4a21-b022-59fc669b0914}'

        function Invoke-Phase {
            param([string]$Case, [string]$Phase, [hashtable]$Parameters = @{})
            $path = Join-Path $Rendered ($Case + '/hosts/' + $Case + '/' + $Phase + '.ps1')
            $arguments = @{ InformationAction = 'Ignore'; Confirm = $false } + $Parameters
            $runner = Get-Variable -Name SslPesterScriptRunner -Scope Global -ValueOnly -ErrorAction SilentlyContinue
            $out = @()
            $thrown = $null
            if ($null -ne $runner) {
                $run = & $runner $path $arguments
                $out = @($run.Output)
                if ($null -ne $run.Error) { $thrown = $run.Error.Exception.Message }
            }
            else {
                # The library dot-sourced so the mocks reach it (as Scripts.Tests.ps1's runner does).
                try {
                    . (Join-Path $Rendered 'library-script.ps1')
                    . $path @arguments -LibraryPreloaded | ForEach-Object { $out += , $_ }
                }
                catch { $thrown = $_.Exception.Message }
            }
            $json = $null
            if ($out.Count -eq 1) { $json = ConvertFrom-Json -InputObject ([string]$out[0]) }
            return [pscustomobject]@{ Output = $out; Json = $json; Thrown = $thrown }
        }

        function Get-FakeServedHash {
            # The certhash the fake registry binds for kind/key (lower-case hex), or $null.
            param([string]$Kind, [string]$Key)
            $values = Get-FakeBindingValue -Kind $Kind -Key $Key
            if ($null -eq $values) { return $null }
            return ((@($values['SslCertHash']) | ForEach-Object { ([byte]$_).ToString('x2') }) -join '')
        }

        function New-Seen {
            param([string]$Thumbprint)
            return [ordered]@{ ok = $true; thumbprint = $Thumbprint; protocol = 'Tls13'; client_cert_requested = $false; error = $null }
        }

        # HTTP.sys as the lab's default order has it: IP-specific, then SNI, then the wildcard.
        $global:HonestFront = {
            param($Address, $Port, $ServerName)
            $hash = Get-FakeServedHash -Kind 'ipport' -Key ($Address + ':' + $Port)
            if ($null -eq $hash -and $ServerName.Length -gt 0) {
                $hash = Get-FakeServedHash -Kind 'hostnameport' -Key ($ServerName + ':' + $Port)
            }
            if ($null -eq $hash) { $hash = Get-FakeServedHash -Kind 'ipport' -Key ('0.0.0.0:' + $Port) }
            if ($null -eq $hash) {
                return [ordered]@{ ok = $false; thumbprint = $null; protocol = $null; client_cert_requested = $null; error = 'TLS handshake with ' + $Address + ':' + $Port + ' failed: connection refused' }
            }
            return (New-Seen -Thumbprint $hash)
        }
    }

    BeforeEach {
        Remove-Item -LiteralPath $global:FakeLockPath -ErrorAction SilentlyContinue
        Reset-FakeHost
        Add-FakeCertificate -Store 'My' -Thumbprint $Hash -Usage @('1.3.6.1.5.5.7.3.1')
        Add-FakeCertificate -Store 'My' -Thumbprint $OldHash
        $null = Add-FakeBinding -Kind 'ipport' -Key '0.0.0.0:443' -Settings ([ordered]@{ certhash = $OldHash; appid = $AppId; certstorename = 'My' })
        $global:TlsServe = $global:HonestFront
    }

    AfterAll {
        if (Get-Command -Name Disable-SslModuleBridge -ErrorAction SilentlyContinue) {
            Disable-SslModuleBridge
        }
        Remove-Item -LiteralPath $global:FakeLockPath -ErrorAction SilentlyContinue
    }

    It 'applies when the handshake to the wildcard binding (on loopback, no SNI) sees the new thumbprint' {
        $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
        $run.Json.error | Should -BeNullOrEmpty
        $run.Json.outcome | Should -Be 'applied'
        $run.Json.tls.Count | Should -Be 1
        $run.Json.tls[0].binding | Should -Be 'ipport=0.0.0.0:443'
        $run.Json.tls[0].expected | Should -Be $Hash
        if ($Clm) {
            $run.Json.tls[0].result | Should -Be 'not checked'
            $run.Json.tls[0].detail | Should -Be 'not checked: ConstrainedLanguage'
            $run.Json.notes -join ' ' | Should -Match 'TLS handshake not checked: ConstrainedLanguage'
            Should -Invoke Invoke-SslTlsHandshake -Times 0 -Exactly
            return
        }
        $run.Json.tls[0].result | Should -Be 'match'
        $run.Json.tls[0].thumbprint | Should -Be $Hash
        $run.Json.tls[0].protocol | Should -Be 'Tls13'
        $run.Json.tls[0].client_cert_requested | Should -Be $false
        # one before the change (the baseline), one after it; no restore, so no fresh session
        Should -Invoke Invoke-SslTlsHandshake -Times 2 -Exactly -ParameterFilter { $Address -eq '127.0.0.1' -and $Port -eq 443 -and $ServerName -eq '' -and $TimeoutMs -eq 3000 -and -not $Fresh }
    }

    It 'rolls back when the front keeps serving the prior certificate, and says so' {
        $global:TlsServe = { param($Address, $Port, $ServerName) New-Seen -Thumbprint $OldHash }
        $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
        if ($Clm) {
            $run.Json.outcome | Should -Be 'applied'
            return
        }
        $run.Json.outcome | Should -Be 'rolled_back'
        $run.Thrown | Should -Match 'rolled_back'
        $run.Json.error | Should -Match ('verify failed: ipport=0.0.0.0:443: TLS handshake to 127.0.0.1:443 got ' + $OldHash + ', not ' + $Hash)
        $run.Json.error | Should -Match 'still serves the prior certificate of ipport=0.0.0.0:443'
        $run.Json.tls[0].result | Should -Be 'mismatch'
        Get-FakeServedHash -Kind 'ipport' -Key '0.0.0.0:443' | Should -Be $OldHash
        @($run.Json.actions | ForEach-Object { $_.step })[-1] | Should -Match '^rollback'
    }

    It 'rolls back when the handshake fails' {
        # The handshake fails while the new certificate is bound; once restored, the prior is served.
        $global:TlsServe = {
            param($Address, $Port, $ServerName)
            if ((Get-FakeServedHash -Kind 'ipport' -Key ('0.0.0.0:' + $Port)) -eq $Hash) {
                return [ordered]@{ ok = $false; thumbprint = $null; protocol = $null; client_cert_requested = $null; error = 'TLS handshake with 127.0.0.1:443 failed: Connection refused' }
            }
            & $global:HonestFront $Address $Port $ServerName
        }
        $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
        if ($Clm) {
            $run.Json.outcome | Should -Be 'applied'
            return
        }
        $run.Json.outcome | Should -Be 'rolled_back'
        $run.Json.error | Should -Match 'TLS handshake to 127.0.0.1:443 failed: .*Connection refused'
        @($run.Json.tls | ForEach-Object { $_.expected + ' ' + $_.result }) | Should -Be @(($Hash + ' failed'), ($OldHash + ' match'))
        Get-FakeServedHash -Kind 'ipport' -Key '0.0.0.0:443' | Should -Be $OldHash
    }

    It 'reports, without failing, a port nothing listens on (no application registered on it)' {
        $global:TlsServe = { param($Address, $Port, $ServerName) [ordered]@{ ok = $false; thumbprint = $null; protocol = $null; client_cert_requested = $null; error = 'TLS handshake with 127.0.0.1:443 failed: Connection refused'; listening = $false } }
        $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
        $run.Json.outcome | Should -Be 'applied'
        if ($Clm) {
            return
        }
        $run.Json.tls[0].result | Should -Be 'not checked'
        $run.Json.tls[0].detail | Should -Be 'not checked: nothing listens on 127.0.0.1:443 (TLS handshake with 127.0.0.1:443 failed: Connection refused)'
    }

    It 'names the untouched IP-specific binding that answers before the changed SNI binding, and does not fail the change for it' {
        Add-FakeCertificate -Store 'My' -Thumbprint $ShadowHash
        $null = Add-FakeBinding -Kind 'hostnameport' -Key 'api.contoso.com:443' -Settings ([ordered]@{ certhash = $OldHash; appid = $AppId; certstorename = 'My' })
        $null = Add-FakeBinding -Kind 'ipport' -Key '10.0.0.5:443' -Settings ([ordered]@{ certhash = $ShadowHash; appid = $AppId; certstorename = 'My' })
        $run = Invoke-Phase -Case 'multi' -Phase 'apply'
        if ($Clm) {
            $run.Json.outcome | Should -Be 'applied'
            @($run.Json.tls | ForEach-Object { $_.result }) | Should -Be @('not checked', 'not checked')
            return
        }
        $run.Json.outcome | Should -Be 'applied'
        $run.Json.error | Should -BeNullOrEmpty
        $shadowed = @($run.Json.tls | Where-Object { $_.result -eq 'mismatch' -and $_.expected -eq $Hash })
        $shadowed.Count | Should -Be 1
        $shadowed[0].binding | Should -Be 'hostnameport=api.contoso.com:443'
        $shadowed[0].address | Should -Be '10.0.0.5'
        $shadowed[0].server_name | Should -Be 'api.contoso.com'
        $shadowed[0].shadowed_by | Should -Be 'ipport=10.0.0.5:443'
        $shadowed[0].detail | Should -Match '^ip binding 10\.0\.0\.5:443 answers before hostnameport api\.contoso\.com:443'
        $run.Json.notes -join ' ' | Should -Match 'TLS not checked, an untouched binding answers first: hostnameport=api\.contoso\.com:443: TLS handshake to 10\.0\.0\.5:443 .*ip binding 10\.0\.0\.5:443 answers before hostnameport api\.contoso\.com:443'
        # on loopback the SNI binding answers as it should
        @($run.Json.tls | Where-Object { $_.binding -eq 'hostnameport=api.contoso.com:443' -and $_.address -eq '127.0.0.1' })[0].result | Should -Be 'match'
        Get-FakeServedHash -Kind 'hostnameport' -Key 'api.contoso.com:443' | Should -Be $Hash
        Get-FakeServedHash -Kind 'ipport' -Key '0.0.0.0:443' | Should -Be $Hash
    }

    It 'keeps a failure whose answering binding this change touched, and names only untouched ones' {
        $result = @{ tls = @(); notes = @() }
        $result.tls += , [ordered]@{ binding = 'ipport=0.0.0.0:443'; result = 'match'; shadowed_by = $null }
        $result.tls += , [ordered]@{ binding = 'hostnameport=a:443'; result = 'mismatch'; shadowed_by = 'ipport=10.0.0.5:443' }
        $result.tls += , [ordered]@{ binding = 'hostnameport=b:443'; result = 'mismatch'; shadowed_by = 'IPPORT=0.0.0.0:443' }
        $result.tls += , [ordered]@{ binding = 'hostnameport=c:443'; result = 'failed'; shadowed_by = $null }
        $changed = @(@{ Subject = 'ipport=0.0.0.0:443' }, @{ Subject = 'hostnameport=a:443' }, @{ Subject = 'hostnameport=b:443' }, @{ Subject = 'hostnameport=c:443' })
        $kept = @(Select-SslTlsFailure -Result $result -First 0 -Failure @('a shadowed', 'b shadowed by a changed one', 'c failed') -Changed $changed -Note 'named: ')
        $kept | Should -Be @('b shadowed by a changed one', 'c failed')
        $result.notes | Should -Be @('named: a shadowed')
    }

    It 'tries a handshake that got no answer again, and applies when the second attempt answers' {
        $global:Slowed = $false
        $global:TlsServe = {
            param($Address, $Port, $ServerName)
            if (-not $global:Slowed -and (Get-FakeServedHash -Kind 'ipport' -Key ('0.0.0.0:' + $Port)) -eq $Hash) {
                # the first handshake after the change gets no answer in time
                $global:Slowed = $true
                return [ordered]@{ ok = $false; thumbprint = $null; protocol = $null; client_cert_requested = $null; error = 'TLS handshake with 127.0.0.1:443 failed: Connection timed out'; listening = $true; timed_out = $true }
            }
            & $global:HonestFront $Address $Port $ServerName
        }
        $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
        $run.Json.outcome | Should -Be 'applied'
        if ($Clm) {
            return
        }
        $run.Json.tls[0].result | Should -Be 'match'
        # the baseline before the change and the first attempt after it; then the retry
        Should -Invoke Invoke-SslTlsHandshake -Times 2 -Exactly -ParameterFilter { $TimeoutMs -eq 3000 }
        Should -Invoke Invoke-SslTlsHandshake -Times 1 -Exactly -ParameterFilter { $TimeoutMs -eq 6000 }
        Should -Invoke Invoke-SslTlsHandshake -Times 0 -Exactly -ParameterFilter { $TimeoutMs -eq 9000 }
    }

    It 'reports a binding that never answers within the attempts as not checked, a warning, not a failure' {
        $global:TlsServe = {
            param($Address, $Port, $ServerName)
            if ((Get-FakeServedHash -Kind 'ipport' -Key ('0.0.0.0:' + $Port)) -eq $Hash) {
                return [ordered]@{ ok = $false; thumbprint = $null; protocol = $null; client_cert_requested = $null; error = 'TLS handshake with 127.0.0.1:443 failed: Connection timed out'; listening = $true; timed_out = $true }
            }
            & $global:HonestFront $Address $Port $ServerName
        }
        $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
        $run.Json.outcome | Should -Be 'applied'
        if ($Clm) {
            return
        }
        $run.Json.tls[0].result | Should -Be 'not checked'
        $run.Json.tls[0].detail | Should -Be 'not checked: no answer within 18 s'
        $run.Json.notes -join ' ' | Should -Match 'warning: TLS ipport=0\.0\.0\.0:443 at 127\.0\.0\.1:443 not checked: no answer within 18 s'
        # the baseline before the change, then three attempts
        Should -Invoke Invoke-SslTlsHandshake -Times 4 -Exactly
        Should -Invoke Invoke-SslTlsHandshake -Times 1 -Exactly -ParameterFilter { $TimeoutMs -eq 9000 }
        Get-FakeServedHash -Kind 'ipport' -Key '0.0.0.0:443' | Should -Be $Hash
    }

    It 'reports an endpoint that failed in the same way before the change as before, not as this change''s failure' {
        # clients of 127.0.0.1 got a reset before the change and still do (say a filter in front of
        # the loopback address); the registry and the other checks are fine
        $global:TlsServe = {
            param($Address, $Port, $ServerName)
            [ordered]@{ ok = $false; thumbprint = $null; protocol = $null; client_cert_requested = $null; error = 'TLS handshake with 127.0.0.1:443 failed: Connection reset by peer'; listening = $true; timed_out = $false }
        }
        $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
        $run.Json.outcome | Should -Be 'applied'
        if ($Clm) {
            return
        }
        $run.Json.tls[0].result | Should -Be 'failed'
        $run.Json.tls[0].detail | Should -Match '^as before the change: TLS handshake with 127\.0\.0\.1:443 failed: Connection reset by peer'
        $run.Json.notes -join ' ' | Should -Match 'TLS as before the change: ipport=0\.0\.0\.0:443: TLS handshake to 127\.0\.0\.1:443 failed'
        Get-FakeServedHash -Kind 'ipport' -Key '0.0.0.0:443' | Should -Be $Hash
    }

    It 'never excuses a binding that still serves its prior certificate: that matched before the change' {
        $global:TlsServe = { param($Address, $Port, $ServerName) New-Seen -Thumbprint $OldHash }
        $baseline = @([ordered]@{ binding = 'ipport=0.0.0.0:443'; address = '127.0.0.1'; server_name = ''; result = 'match'; thumbprint = $OldHash })
        Test-SslTlsAsBefore -Entry ([ordered]@{ binding = 'ipport=0.0.0.0:443'; address = '127.0.0.1'; server_name = ''; result = 'mismatch'; thumbprint = $OldHash }) -Baseline $baseline | Should -BeFalse
        Test-SslTlsAsBefore -Entry ([ordered]@{ binding = 'ipport=0.0.0.0:443'; address = '127.0.0.1'; server_name = ''; result = 'failed'; thumbprint = $null }) -Baseline $baseline | Should -BeFalse
        $other = @([ordered]@{ binding = 'ipport=0.0.0.0:443'; address = '127.0.0.1'; server_name = ''; result = 'mismatch'; thumbprint = $ShadowHash })
        Test-SslTlsAsBefore -Entry ([ordered]@{ binding = 'ipport=0.0.0.0:443'; address = '127.0.0.1'; server_name = ''; result = 'mismatch'; thumbprint = $ShadowHash }) -Baseline $other | Should -BeTrue
        Test-SslTlsAsBefore -Entry ([ordered]@{ binding = 'ipport=0.0.0.0:443'; address = '::1'; server_name = ''; result = 'mismatch'; thumbprint = $ShadowHash }) -Baseline $other | Should -BeFalse
    }

    It 'does not try a reset or alert after connect again: it stays a failure' {
        $global:TlsServe = {
            param($Address, $Port, $ServerName)
            if ((Get-FakeServedHash -Kind 'ipport' -Key ('0.0.0.0:' + $Port)) -eq $Hash) {
                return [ordered]@{ ok = $false; thumbprint = $null; protocol = $null; client_cert_requested = $null; error = 'TLS handshake with 127.0.0.1:443 failed: Connection reset by peer'; listening = $true; timed_out = $false }
            }
            & $global:HonestFront $Address $Port $ServerName
        }
        $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
        if ($Clm) {
            return
        }
        $run.Json.outcome | Should -Be 'rolled_back'
        $run.Json.error | Should -Match 'Connection reset by peer'
        Should -Invoke Invoke-SslTlsHandshake -Times 0 -Exactly -ParameterFilter { $TimeoutMs -eq 6000 }
    }

    It 'reports, without failing, an address of an IP binding on the port that does not answer' {
        $null = Add-FakeBinding -Kind 'hostnameport' -Key 'api.contoso.com:443' -Settings ([ordered]@{ certhash = $OldHash; appid = $AppId; certstorename = 'My' })
        $null = Add-FakeBinding -Kind 'ipport' -Key '10.0.0.9:443' -Settings ([ordered]@{ certhash = $OldHash; appid = $AppId; certstorename = 'My' })
        $global:TlsServe = {
            param($Address, $Port, $ServerName)
            if ($Address -eq '10.0.0.9') {
                return [ordered]@{ ok = $false; thumbprint = $null; protocol = $null; client_cert_requested = $null; error = 'TLS handshake with 10.0.0.9:443 failed: No route to host' }
            }
            & $global:HonestFront $Address $Port $ServerName
        }
        $run = Invoke-Phase -Case 'multi' -Phase 'apply'
        $run.Json.outcome | Should -Be 'applied'
        if ($Clm) {
            return
        }
        $other = @($run.Json.tls | Where-Object { $_.address -eq '10.0.0.9' })
        $other.Count | Should -Be 1
        $other[0].result | Should -Be 'not checked'
        $other[0].detail | Should -Match 'No route to host'
    }

    It 'names a wildcard binding that answers for the SNI name' {
        $null = Add-FakeBinding -Kind 'hostnameport' -Key 'api.contoso.com:443' -Settings ([ordered]@{ certhash = $Hash; appid = $AppId; certstorename = 'My' })
        # a front that puts the wildcard before SNI: the SNI name gets the 0.0.0.0:443 certificate
        $global:TlsServe = { param($Address, $Port, $ServerName) New-Seen -Thumbprint $ShadowHash }
        $null = Set-FakeRawBinding -Kind 'ipport' -Key '0.0.0.0:443' -Values (ConvertTo-FakeRegistryValue -Settings ([ordered]@{ certhash = $ShadowHash; appid = $AppId; certstorename = 'My' }))
        Add-FakeCertificate -Store 'My' -Thumbprint $ShadowHash
        $run = Invoke-Phase -Case 'multi' -Phase 'verify'
        if ($Clm) {
            return
        }
        $run.Json.outcome | Should -Be 'drift'
        $run.Json.error | Should -Match 'wildcard ip binding 0\.0\.0\.0:443 answers before hostnameport api\.contoso\.com:443'
    }

    It 'verify is compliant when clients get the bound certificate and drifts when they do not' {
        $null = Invoke-Phase -Case 'motivating' -Phase 'apply'
        $run = Invoke-Phase -Case 'motivating' -Phase 'verify'
        $run.Json.outcome | Should -Be 'compliant'
        if ($Clm) {
            $run.Json.tls[0].result | Should -Be 'not checked'
            return
        }
        $run.Json.tls[0].result | Should -Be 'match'
        $global:TlsServe = { param($Address, $Port, $ServerName) New-Seen -Thumbprint $ShadowHash }
        $run = Invoke-Phase -Case 'motivating' -Phase 'verify'
        $run.Json.outcome | Should -Be 'drift'
        $run.Json.error | Should -Match ('got ' + $ShadowHash + ', not ' + $Hash + ': serves certificate ' + $ShadowHash + ', which no binding on port 443 holds')
    }

    It 'rollback checks that clients get the prior certificate again' {
        $prior = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
        $null = Invoke-Phase -Case 'motivating' -Phase 'apply'
        $run = Invoke-Phase -Case 'motivating' -Phase 'rollback' -Parameters @{ Prior = $prior }
        $run.Json.outcome | Should -Be 'rolled_back'
        $run.Json.tls[0].expected | Should -Be $OldHash
        if ($Clm) {
            $run.Json.tls[0].result | Should -Be 'not checked'
            return
        }
        $run.Json.tls[0].result | Should -Be 'match'
        $null = Invoke-Phase -Case 'motivating' -Phase 'apply'
        $global:TlsServe = { param($Address, $Port, $ServerName) New-Seen -Thumbprint $Hash }
        $run = Invoke-Phase -Case 'motivating' -Phase 'rollback' -Parameters @{ Prior = $prior }
        $run.Json.outcome | Should -Be 'rollback_failed'
        $run.Json.error | Should -Match 'restored in the registry, but clients do not get the prior certificate'
    }

    It 'apply''s own restore checks that clients get the prior certificate again, else rollback_failed' {
        # Once the change is made every handshake gets a certificate no binding holds (before it,
        # the prior one: so this is the change's doing): the change fails its check, the registry
        # is restored, and the restore's own check still does not see the prior one.
        $global:Changed = $false
        $global:TlsServe = {
            param($Address, $Port, $ServerName)
            if ((Get-FakeServedHash -Kind 'ipport' -Key ('0.0.0.0:' + $Port)) -eq $Hash) { $global:Changed = $true }
            if ($global:Changed) { return (New-Seen -Thumbprint $ShadowHash) }
            & $global:HonestFront $Address $Port $ServerName
        }
        $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
        if ($Clm) {
            $run.Json.outcome | Should -Be 'applied'
            Should -Invoke Invoke-SslTlsHandshake -Times 0 -Exactly
            return
        }
        $run.Json.outcome | Should -Be 'rollback_failed'
        Get-FakeServedHash -Kind 'ipport' -Key '0.0.0.0:443' | Should -Be $OldHash
        $run.Json.error | Should -Match ('^verify failed: ipport=0\.0\.0\.0:443: TLS handshake to 127\.0\.0\.1:443 got ' + $ShadowHash + ', not ' + $Hash)
        $run.Json.error | Should -Match (' \| restored in the registry, but clients do not get the prior certificate: ipport=0\.0\.0\.0:443: TLS handshake to 127\.0\.0\.1:443 got ' + $ShadowHash + ', not ' + $OldHash)
        @($run.Json.tls | ForEach-Object { $_.expected + ' ' + $_.result }) | Should -Be @(($Hash + ' mismatch'), ($OldHash + ' mismatch'))
        # the baseline before the change, the check after it, the restore's (a fresh TLS session:
        # a resumed one would show the certificate the change's own check saw)
        Should -Invoke Invoke-SslTlsHandshake -Times 3 -Exactly
        Should -Invoke Invoke-SslTlsHandshake -Times 1 -Exactly -ParameterFilter { $Fresh }
    }

    It 'apply''s restore reports an endpoint served as before the change as restored' {
        # the same foreign certificate answers before the change and after the restore; only the
        # change itself fails (the front refuses the new certificate)
        $global:TlsServe = {
            param($Address, $Port, $ServerName)
            if ((Get-FakeServedHash -Kind 'ipport' -Key ('0.0.0.0:' + $Port)) -eq $Hash) {
                return [ordered]@{ ok = $false; thumbprint = $null; protocol = $null; client_cert_requested = $null; error = 'TLS handshake with 127.0.0.1:443 failed: alert handshake failure'; listening = $true; timed_out = $false }
            }
            New-Seen -Thumbprint $ShadowHash
        }
        $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
        if ($Clm) {
            return
        }
        $run.Json.outcome | Should -Be 'rolled_back'
        $run.Json.error | Should -Match 'alert handshake failure'
        $run.Json.error | Should -Not -Match 'restored in the registry, but clients do not get'
        $run.Json.notes -join ' ' | Should -Match ('TLS as before the change: ipport=0\.0\.0\.0:443: TLS handshake to 127\.0\.0\.1:443 got ' + $ShadowHash + ', not ' + $OldHash)
        Get-FakeServedHash -Kind 'ipport' -Key '0.0.0.0:443' | Should -Be $OldHash
    }

    It 'reports a scoped CCS binding''s certificate as seen, with its host name as SNI' {
        Reset-FakeHost
        $global:TlsServe = { param($Address, $Port, $ServerName) New-Seen -Thumbprint $ShadowHash }
        $run = Invoke-Phase -Case 'scopedccs' -Phase 'apply'
        $run.Json.outcome | Should -Be 'applied'
        if ($Clm) {
            return
        }
        $run.Json.tls[0].result | Should -Be 'seen'
        $run.Json.tls[0].thumbprint | Should -Be $ShadowHash
        Should -Invoke Invoke-SslTlsHandshake -Times 1 -Exactly -ParameterFilter { $ServerName -eq 'www.contoso.com' -and $Address -eq '127.0.0.1' }
    }
}

Describe 'Invoke-SslTlsHandshake itself (FullLanguage)' -Skip:($env:SSLBIND_PESTER_LANGUAGE -eq 'ConstrainedLanguage') {
    BeforeAll {
        . (Join-Path $env:SSLBIND_RENDERED 'lib.ps1')
    }

    It 'is not checked in the lab when the lab serves no TLS for the endpoint' -Skip:($IsWindows) {
        function global:SslbindLabTlsEndpoint { param($Address, $Port) $null }
        try {
            $seen = Invoke-SslTlsHandshake -Address '127.0.0.1' -Port 443 -ServerName ''
            $seen.ok | Should -BeNullOrEmpty
            $seen.error | Should -Be 'not checked: the sslbind lab serves no TLS for 127.0.0.1:443'
        }
        finally {
            Remove-Item -Path Function:\SslbindLabTlsEndpoint
        }
    }

    It 'asks for a name under a wildcard SNI binding, and skips link-local addresses' {
        $spec = @{ Kind = 'hostnameport'; Key = '*.contoso.com:443'; Subject = 'hostnameport=*.contoso.com:443' }
        $others = @(@{ kind = 'ipport'; key = '[fe80::1]:443' }, @{ kind = 'ipport'; key = '10.0.0.5:443' }, @{ kind = 'ipport'; key = '0.0.0.0:443' })
        $endpoints = @(Get-SslTlsEndpoint -Spec $spec -PortBinding $others)
        @($endpoints | ForEach-Object { $_.address + '|' + $_.server_name + '|' + $_.primary }) | Should -Be @('127.0.0.1|sslbind-tls-check.contoso.com|True', '10.0.0.5|sslbind-tls-check.contoso.com|False')
        $ip = @(Get-SslTlsEndpoint -Spec @{ Kind = 'ipport'; Key = '[::]:8443'; Subject = 'ipport=[::]:8443' } -PortBinding @())
        $ip[0].address + '|' + $ip[0].port + '|' + $ip[0].server_name | Should -Be '::1|8443|'
        @(Get-SslTlsEndpoint -Spec @{ Kind = 'ccs'; Key = '443'; Subject = 'ccs=443' } -PortBinding @()).Count | Should -Be 0
    }

    It 'fails within its timeout when nothing answers on the mapped port' -Skip:($IsWindows) {
        # a port nothing listens on: bind one, note it, close it
        $listener = New-Object System.Net.Sockets.TcpListener ([System.Net.IPAddress]::Loopback), 0
        $listener.Start()
        $port = $listener.LocalEndpoint.Port
        $listener.Stop()
        function global:SslbindLabTlsEndpoint { param($Address, $Port) '127.0.0.1:' + $global:ClosedPort }
        $global:ClosedPort = $port
        try {
            $started = Get-Date
            $seen = Invoke-SslTlsHandshake -Address '127.0.0.1' -Port 443 -ServerName 'www.contoso.com' -TimeoutMs 1000
            ((Get-Date) - $started).TotalSeconds | Should -BeLessThan 5
            $seen.ok | Should -Be $false
            $seen.listening | Should -Be $false
            $seen.error | Should -Match ('^TLS handshake with 127\.0\.0\.1:' + $port + ' failed: ')
            $seen.thumbprint | Should -BeNullOrEmpty
        }
        finally {
            Remove-Item -Path Function:\SslbindLabTlsEndpoint
        }
    }
}

Describe 'doctor and import --host: which certificate a handshake from the host receives' {
    # The pipeline doctor and import --host send: the library functions served.ps1 calls as the
    # in-memory SslBind module, then served.ps1; the touchpoint mocked in that module. In
    # ConstrainedLanguage nothing is asked and every binding says why.
    BeforeAll {
        $Served = Join-Path $env:SSLBIND_RENDERED 'served.ps1'
        $Clm = $env:SSLBIND_PESTER_LANGUAGE -eq 'ConstrainedLanguage'
        $Wild = '1111111111111111111111111111111111111111'
        $Ip = '2222222222222222222222222222222222222222'
        $Sni = '3333333333333333333333333333333333333333'
        $Bindings = @(
            @{ kind = 'ipport'; key = '0.0.0.0:443'; subject = 'ipport=0.0.0.0:443'; port = 443; certhash = $Wild },
            @{ kind = 'ipport'; key = '10.0.0.5:443'; subject = 'ipport=10.0.0.5:443'; port = 443; certhash = $Ip },
            @{ kind = 'hostnameport'; key = 'api.contoso.com:443'; subject = 'hostnameport=api.contoso.com:443'; port = 443; certhash = $Sni },
            @{ kind = 'scopedccs'; key = 'www.contoso.com:8443'; subject = 'scopedccs=www.contoso.com:8443'; port = 8443; certhash = $null },
            @{ kind = 'ccs'; key = '443'; subject = 'ccs=443'; port = 443; certhash = $null }
        )
        function Invoke-Served {
            # Both statements in one run; under ConstrainedLanguage through run_pester.ps1's file
            # runner (bound to CLM), so the module is created in CLM as on a hardened host.
            param([object[]]$Bindings)
            if (-not $Clm) {
                return (& $Served -Bindings $Bindings | ConvertFrom-Json)
            }
            $wrapper = Join-Path $TestDrive 'served-run.ps1'
            $library = Join-Path $env:SSLBIND_RENDERED 'served-library.ps1'
            Set-Content -LiteralPath $wrapper -Value @('param([object[]]$Bindings)', (". '" + $library + "'"), ("& '" + $Served + "' -Bindings `$Bindings"))
            $run = & $global:SslPesterFileRunner $wrapper @{ Bindings = $Bindings }
            $run.Error | Should -BeNullOrEmpty
            return ($run.Output | ConvertFrom-Json)
        }
        if ($Clm) {
            return
        }
        # An earlier suite's scripts imported the record's SslBind; Mock needs one module of that name.
        Get-Module -Name SslBind -All | Remove-Module -Force
        . (Join-Path $env:SSLBIND_RENDERED 'served-library.ps1')
        # IP-specific first, then SNI, then the wildcard; the central store serves $Sni for www.
        Mock Invoke-SslTlsHandshake -ModuleName SslBind {
            $hash = '1111111111111111111111111111111111111111'
            if ($Address -eq '10.0.0.5') { $hash = '2222222222222222222222222222222222222222' }
            elseif ($ServerName -eq 'api.contoso.com' -or $Port -eq 8443) { $hash = '3333333333333333333333333333333333333333' }
            return [ordered]@{ ok = $true; thumbprint = $hash; protocol = 'Tls13'; client_cert_requested = ($Port -eq 8443); error = $null; listening = $true }
        }
    }

    AfterAll {
        Remove-Module -Name SslBind -ErrorAction SilentlyContinue
    }

    It 'names the IP binding that answers for the SNI name, and reports the rest' {
        $document = Invoke-Served -Bindings $Bindings
        $document.collector | Should -Be 'sslbind-served'
        $document.language_mode | Should -Be $env:SSLBIND_PESTER_LANGUAGE
        $lines = @($document.tls | ForEach-Object { $_.binding + '|' + $_.address + '|' + $_.server_name + '|' + $_.result + '|' + $_.thumbprint + '|' + $_.shadowed_by })
        if ($Clm) {
            @($document.tls | ForEach-Object { $_.detail }) | Should -Be @(1..5 | ForEach-Object { 'not checked: ConstrainedLanguage' })
            $document.notes | Should -Be @('TLS handshake not checked: ConstrainedLanguage allows no .NET sockets')
            return
        }
        $lines | Should -Be @(
            ('ipport=0.0.0.0:443|127.0.0.1||match|' + $Wild + '|'),
            ('ipport=10.0.0.5:443|10.0.0.5||match|' + $Ip + '|'),
            ('hostnameport=api.contoso.com:443|127.0.0.1|api.contoso.com|match|' + $Sni + '|'),
            ('hostnameport=api.contoso.com:443|10.0.0.5|api.contoso.com|mismatch|' + $Ip + '|ipport=10.0.0.5:443'),
            ('scopedccs=www.contoso.com:8443|127.0.0.1|www.contoso.com|seen|' + $Sni + '|'),
            'ccs=443|||not checked||'
        )
        $document.tls[3].detail | Should -Be ('ip binding 10.0.0.5:443 answers before hostnameport api.contoso.com:443 (its certificate ' + $Ip + ' was served)')
        $document.tls[4].client_cert_requested | Should -Be $true
        $document.tls[5].detail | Should -Be 'not checked: a ccs binding names no host name to ask for'
        Should -Invoke Invoke-SslTlsHandshake -ModuleName SslBind -Times 5 -Exactly
    }

    It 'answers an empty list with an empty one' {
        $document = Invoke-Served -Bindings @()
        @($document.tls).Count | Should -Be 0
    }
}
