<#
Runs the rendered scripts (from $env:SSLBIND_RENDERED, written by tests/ps/test_pester.py) with the
Windows touchpoints mocked by the in-memory host of FakeHost.ps1.
#>

Describe 'sslbind scripts' {
    BeforeAll {
        $Rendered = $env:SSLBIND_RENDERED
        # The golden netsh help texts the lab serves (generator/lab/simwin/netsh_help/README.md).
        $HelpRoot = Join-Path $PSScriptRoot '../../generator/lab/simwin/netsh_help'
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
        # No TLS front here: the handshake is 'not checked' (tests/ps/Tls.Tests.ps1 covers it).
        Mock Invoke-SslTlsHandshake { [ordered]@{ ok = $null; thumbprint = $null; protocol = $null; client_cert_requested = $null; error = 'not checked: no TLS front in this test' } }
        # The host lock in a file of this test run (on Windows it lives under ProgramData).
        $global:FakeLockPath = Join-Path ([System.IO.Path]::GetTempPath()) ('sslbind-pester-' + $PID + '.lock')
        Mock Get-SslLockPath { $global:FakeLockPath }
        Mock Get-SslLockFolderFacts { Get-FakeLockFolderFacts -Path $Path }
        Mock Wait-SslLock { }

        $Hash = '40db5bb1bf5659a155258d1d007c530fcb8996c2'
        $OldHash = '1111111111111111111111111111111111111111'
        $AppId = '{4dc3e181-e14b-4a21-b022-59fc669b0914}'
        $Motivating = 'netsh http add sslcert ipport=0.0.0.0:443 certhash=40db5bb1bf5659a155258d1d007c530fcb8996c2 appid=''{4dc3e181-e14b-4a21-b022-59fc669b0914}'' certstorename=My verifyclientcertrevocation=disable'

        # The library is dot-sourced and the script told so (-LibraryPreloaded): Pester's mocks do not
        # reach into a module, least of all an untrusted (ConstrainedLanguage) one. Library.Tests.ps1
        # runs the scripts with the module loaded from its file and as the remote client sends it.
        $script:FullLanguageRunner = {
            param([string]$ScriptPath, [hashtable]$Parameters)
            $out = @()
            $err = $null
            try {
                . (Join-Path $env:SSLBIND_RENDERED 'library-script.ps1')
                . $ScriptPath @Parameters -LibraryPreloaded | ForEach-Object { $out += , $_ }
            }
            catch {
                $err = $_
            }
            return @{ Output = $out; Error = $err }
        }

        function Invoke-Phase {
            # Runs one rendered script; returns its parsed JSON result, raw output and thrown message.
            param([string]$Case, [string]$Phase, [hashtable]$Parameters = @{})
            $path = Join-Path $Rendered ($Case + '/hosts/' + $Case + '/' + $Phase + '.ps1')
            $arguments = @{ InformationAction = 'Ignore'; Confirm = $false } + $Parameters
            $runner = Get-Variable -Name SslPesterScriptRunner -Scope Global -ValueOnly -ErrorAction SilentlyContinue
            if ($null -eq $runner) {
                $runner = $script:FullLanguageRunner
            }
            # run_pester.ps1 -LanguageMode ConstrainedLanguage: the runner is bound to CLM, so the
            # script runs there; it hands back the output and the error (not a thrown exception,
            # which would lose the output written before it).
            $run = & $runner $path $arguments
            $output = @($run.Output)
            $thrown = $null
            if ($null -ne $run.Error) {
                $thrown = $run.Error.Exception.Message
            }
            $json = $null
            if ($output.Count -eq 1) {
                $json = ConvertFrom-Json -InputObject ([string]$output[0])
            }
            return [pscustomobject]@{ Output = $output; Json = $json; Thrown = $thrown }
        }

        function Add-OldBinding {
            # The binding as a renewal tool left it: old certificate, settings at their defaults.
            param([System.Collections.IDictionary]$Extra = @{})
            $settings = [ordered]@{ certhash = $OldHash; appid = $AppId; certstorename = 'My' }
            foreach ($name in $Extra.Keys) { $settings[$name] = $Extra[$name] }
            return (Add-FakeBinding -Kind 'ipport' -Key '0.0.0.0:443' -Settings $settings)
        }

        function Get-ChangingCall {
            # netsh calls that change a live binding: not help, not the trial binding on 127.0.0.1
            @($global:FakeCalls | Where-Object { $_ -notmatch '/\?' -and $_ -notmatch 'ipport=127\.0\.0\.1:' -and $_ -notmatch '^netsh http show ' })
        }
    }

    BeforeEach {
        Remove-Item -LiteralPath $global:FakeLockPath -ErrorAction SilentlyContinue
        Reset-FakeHost
        Add-FakeCertificate -Store 'My' -Thumbprint $Hash -Usage @('1.3.6.1.5.5.7.3.1')
        Add-FakeCertificate -Store 'My' -Thumbprint $OldHash
    }

    Describe 'capture decodes the registry' {
        It 'decodes the hash bytes and the AppId GUID byte order' {
            $hashBytes = [byte[]](0x40, 0xdb, 0x5b, 0xb1, 0xbf, 0x56, 0x59, 0xa1, 0x55, 0x25, 0x8d, 0x1d, 0x00, 0x7c, 0x53, 0x0f, 0xcb, 0x89, 0x96, 0xc2)
            $appIdBytes = [byte[]](0x81, 0xe1, 0xc3, 0x4d, 0x4b, 0xe1, 0x21, 0x4a, 0xb0, 0x22, 0x59, 0xfc, 0x66, 0x9b, 0x09, 0x14)
            $null = Set-FakeRawBinding -Kind 'ipport' -Key '0.0.0.0:443' -Values ([ordered]@{ SslCertHash = $hashBytes; AppId = $appIdBytes })
            $run = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $settings = $run.Json.before[0].settings
            $settings.certhash | Should -Be $Hash
            $settings.appid | Should -Be $AppId
            $settings.certstorename | Should -Be 'MY'
            $settings.verifyclientcertrevocation | Should -Be 'enable'
            $settings.usagecheck | Should -Be 'enable'
            $settings.revocationfreshnesstime | Should -Be 0
            $settings.sslctlstorename | Should -BeNullOrEmpty
        }

        It 'decodes DefaultSslCertCheckMode <Mode> to <Name>=<Value>' -ForEach @(
            @{ Mode = 0x1; Name = 'verifyclientcertrevocation'; Value = 'disable' }
            @{ Mode = 0x2; Name = 'verifyrevocationwithcachedclientcertonly'; Value = 'enable' }
            @{ Mode = 0x10000; Name = 'usagecheck'; Value = 'disable' }
            @{ Mode = 0x0; Name = 'verifyclientcertrevocation'; Value = 'enable' }
            @{ Mode = 0x0; Name = 'usagecheck'; Value = 'enable' }
            @{ Mode = 0x0; Name = 'verifyrevocationwithcachedclientcertonly'; Value = 'disable' }
        ) {
            $null = Set-FakeRawBinding -Kind 'ipport' -Key '0.0.0.0:443' -Values ([ordered]@{
                    SslCertHash = (ConvertTo-FakeHashByte -Hex $OldHash); AppId = ([guid]$AppId).ToByteArray(); DefaultSslCertCheckMode = $Mode
                })
            $run = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $run.Json.before[0].settings.$Name | Should -Be $Value
        }

        It 'decodes DefaultFlags bit <Bit> to <Name>=enable and nothing else' -ForEach @(
            @{ Bit = 0x1; Name = 'dsmapperusage' }
            @{ Bit = 0x2; Name = 'clientcertnegotiation' }
            @{ Bit = 0x8; Name = 'reject' }
            @{ Bit = 0x10; Name = 'disablehttp2' }
            @{ Bit = 0x20; Name = 'disablequic' }
            @{ Bit = 0x40; Name = 'disabletls13' }
            @{ Bit = 0x80; Name = 'disableocspstapling' }
            @{ Bit = 0x100; Name = 'enabletokenbinding' }
            @{ Bit = 0x200; Name = 'logextendedevents' }
            @{ Bit = 0x400; Name = 'disablelegacytls' }
            @{ Bit = 0x800; Name = 'enablesessionticket' }
            @{ Bit = 0x1000; Name = 'disabletls12' }
            @{ Bit = 0x4000; Name = 'disablesessionid' }
        ) {
            $null = Set-FakeRawBinding -Kind 'ipport' -Key '0.0.0.0:443' -Values ([ordered]@{
                    SslCertHash = (ConvertTo-FakeHashByte -Hex $OldHash); AppId = ([guid]$AppId).ToByteArray(); DefaultFlags = $Bit
                })
            $run = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $settings = $run.Json.before[0].settings
            $enabled = @($settings.PSObject.Properties | Where-Object { $_.Value -eq 'enable' -and $_.Name -notin @('verifyclientcertrevocation', 'usagecheck') } | ForEach-Object { $_.Name })
            $enabled | Should -Be @($Name)
            $run.Json.before[0].registry.DefaultFlags | Should -Be $Bit
        }

        It 'decodes timers, CTL and store values' {
            $null = Set-FakeRawBinding -Kind 'ipport' -Key '0.0.0.0:443' -Values ([ordered]@{
                    SslCertHash = (ConvertTo-FakeHashByte -Hex $OldHash); AppId = ([guid]$AppId).ToByteArray()
                    SslCertStoreName = 'WebHosting'; DefaultSslRevocationFreshnessTime = 3600; DefaultSslRevocationUrlRetrievalTimeout = 15000
                    DefaultSslCtlIdentifier = 'MyCtl'; DefaultSslCtlStoreName = 'ClientAuthIssuer'; DefaultSslCertCheckMode = 0x4
                })
            $settings = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Json.before[0].settings
            $settings.certstorename | Should -Be 'WebHosting'
            $settings.revocationfreshnesstime | Should -Be 3600
            $settings.urlretrievaltimeout | Should -Be 15000
            $settings.sslctlidentifier | Should -Be 'MyCtl'
            $settings.sslctlstorename | Should -Be 'ClientAuthIssuer'
        }

        It 'refuses <Why> before touching anything' -ForEach @(
            @{ Why = 'an unknown registry value'; Name = 'SomethingNew'; Value = 1 }
            @{ Why = 'a store name netsh cannot take'; Name = 'SslCertStoreName'; Value = 'My Store' }
        ) {
            $values = [ordered]@{ SslCertHash = (ConvertTo-FakeHashByte -Hex $OldHash); AppId = ([guid]$AppId).ToByteArray() }
            $values[$Name] = $Value
            $null = Set-FakeRawBinding -Kind 'ipport' -Key '0.0.0.0:443' -Values $values
            foreach ($phase in @('prepare', 'apply')) {
                $run = Invoke-Phase -Case 'motivating' -Phase $phase
                $run.Json.outcome | Should -Be 'refused'
                $run.Thrown | Should -Match 'refused'
            }
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'takes an SNI key name as the identity when the key has no HostnamePort value' {
            $base = $global:FakeRoot + '\SslSniBindingInfo'
            $global:FakeKeys[$base.ToLowerInvariant()] = [ordered]@{ Path = $base; Values = [ordered]@{} }
            $path = $base + '\api.contoso.com:443'
            $global:FakeKeys[$path.ToLowerInvariant()] = [ordered]@{ Path = $path; Values = [ordered]@{
                    SslCertHash = (ConvertTo-FakeHashByte -Hex $OldHash); AppId = ([guid]$AppId).ToByteArray()
                } }
            $run = Invoke-Phase -Case 'multi' -Phase 'prepare'
            $sni = @($run.Json.before | Where-Object { $_.kind -eq 'hostnameport' })[0]
            $sni.exists | Should -BeTrue
            $sni.settings.certhash | Should -Be $OldHash
        }

        It 'finds an SNI binding by its HostnamePort value, not the key name' {
            $null = Add-FakeBinding -Kind 'hostnameport' -Key 'api.contoso.com:443' -Settings ([ordered]@{ certhash = $Hash; appid = $AppId; certstorename = 'My'; disablehttp2 = 'enable' })
            $run = Invoke-Phase -Case 'multi' -Phase 'prepare'
            $sni = @($run.Json.before | Where-Object { $_.kind -eq 'hostnameport' })[0]
            $sni.exists | Should -BeTrue
            $sni.settings.disablehttp2 | Should -Be 'enable'
            $sni.registry.path | Should -Match 'SslSniBindingInfo\\\{'
        }
    }

    Describe 'prepare builds the add command' {
        It 'gives exactly the motivating command for a new binding' {
            $run = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $run.Thrown | Should -BeNullOrEmpty
            $run.Json.outcome | Should -Be 'changes_pending'
            $run.Json.bindings[0].change | Should -Be 'add'
            $run.Json.bindings[0].command_line | Should -BeExactly $Motivating
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'gives exactly the motivating command when a renewal reset the binding' {
            $null = Add-OldBinding
            $run = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $run.Json.bindings[0].change | Should -Be 'replace'
            $run.Json.bindings[0].command_line | Should -BeExactly $Motivating
            @($run.Json.bindings[0].differences | ForEach-Object { $_.setting }) | Should -Be @('certhash', 'verifyclientcertrevocation')
        }

        It 'keeps every unnamed setting of the host in preserve mode' {
            $null = Add-OldBinding -Extra ([ordered]@{ sslctlstorename = 'ClientAuthIssuer'; dsmapperusage = 'enable'; urlretrievaltimeout = 5000; disabletls13 = 'enable' })
            $line = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Json.bindings[0].command_line
            $line | Should -BeExactly ($Motivating + ' urlretrievaltimeout=5000 sslctlstorename=ClientAuthIssuer dsmapperusage=enable disabletls13=enable')
        }

        It 'puts unnamed settings at their defaults in exact mode and keeps the appid' {
            $null = Add-OldBinding -Extra ([ordered]@{ dsmapperusage = 'enable'; appid = '{00112233-4455-6677-8899-aabbccddeeff}' })
            $binding = (Invoke-Phase -Case 'exact' -Phase 'prepare').Json.bindings[0]
            $binding.command_line | Should -BeExactly 'netsh http add sslcert ipport=0.0.0.0:443 certhash=40db5bb1bf5659a155258d1d007c530fcb8996c2 appid=''{4dc3e181-e14b-4a21-b022-59fc669b0914}'' certstorename=MY'
        }

        It 'says unchanged when the binding is already as desired' {
            $null = Add-FakeBinding -Kind 'ipport' -Key '0.0.0.0:443' -Settings ([ordered]@{ certhash = $Hash; appid = $AppId; certstorename = 'MY'; verifyclientcertrevocation = 'disable' })
            $run = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $run.Json.outcome | Should -Be 'unchanged'
            $run.Json.bindings[0].change | Should -Be 'none'
        }

        It 'refuses a certificate that is <Why>' -ForEach @(
            @{ Why = 'missing'; Setup = { Add-FakeCertificate -Store 'My' -Thumbprint $OldHash }; Pattern = 'is not in LocalMachine' }
            @{ Why = 'without private key'; Setup = { Add-FakeCertificate -Store 'My' -Thumbprint $Hash -NoPrivateKey }; Pattern = 'no private key' }
            @{ Why = 'expired'; Setup = { Add-FakeCertificate -Store 'My' -Thumbprint $Hash -Expired }; Pattern = 'expired' }
            @{ Why = 'not yet valid'; Setup = { Add-FakeCertificate -Store 'My' -Thumbprint $Hash -NotYetValid }; Pattern = 'not valid before' }
            @{ Why = 'client-auth only'; Setup = { Add-FakeCertificate -Store 'My' -Thumbprint $Hash -Usage @('1.3.6.1.5.5.7.3.2') }; Pattern = 'server authentication' }
        ) {
            Reset-FakeHost
            & $Setup
            $run = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $run.Json.outcome | Should -Be 'refused'
            $run.Json.error | Should -Match $Pattern
        }

        It 'refuses a store that does not exist' {
            Reset-FakeHost
            (Invoke-Phase -Case 'motivating' -Phase 'prepare').Json.error | Should -Match 'store LocalMachine\\My does not exist'
        }

        It 'refuses a parameter this host''s netsh does not list' {
            Reset-FakeHost -HelpTags @('ipport', 'certhash', 'appid', 'certstorename')
            Add-FakeCertificate -Store 'My' -Thumbprint $Hash
            $run = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $run.Json.outcome | Should -Be 'refused'
            $run.Json.error | Should -Match 'does not list verifyclientcertrevocation'
        }

        It 'reads every tag of the <Layout> help text, whatever its layout and language' -ForEach @(
            @{ Layout = '2019'; Absent = @() }
            @{ Layout = '2025'; Absent = @() }
            @{ Layout = 'de-2019'; Absent = @() }
            @{ Layout = '2016'; Absent = @('disablehttp2', 'disablequic', 'disabletls13', 'disabletls12', 'disablelegacytls', 'disableocspstapling', 'logextendedevents', 'enablesessionticket', 'disablesessionid') }
            @{ Layout = '2012r2'; Absent = @('disablehttp2', 'disablequic', 'disabletls13', 'disabletls12', 'disablelegacytls', 'disableocspstapling', 'logextendedevents', 'enablesessionticket', 'disablesessionid', 'enabletokenbinding') }
        ) {
            $text = Get-Content -Raw -LiteralPath (Join-Path $HelpRoot ($Layout + '/add.txt'))
            $tags = Get-SslNetshHelpTag -Text $text
            foreach ($name in @('ipport', 'hostnameport', 'ccs', 'certhash', 'appid', 'certstorename', 'verifyclientcertrevocation', 'usagecheck', 'revocationfreshnesstime', 'urlretrievaltimeout', 'sslctlidentifier', 'sslctlstorename', 'dsmapperusage', 'clientcertnegotiation')) {
                $tags | Should -Contain $name
            }
            foreach ($name in $Absent) {
                $tags | Should -Not -Contain $name
            }
        }

        It 'prepares the motivating change against the <Layout> help text' -ForEach @(
            @{ Layout = '2012r2' }, @{ Layout = '2016' }, @{ Layout = '2019' }, @{ Layout = '2025' }, @{ Layout = 'de-2019' }
        ) {
            $global:FakeHelp = Get-Content -Raw -LiteralPath (Join-Path $HelpRoot ($Layout + '/add.txt'))
            $run = Invoke-Phase -Case 'multi' -Phase 'prepare'
            $run.Json.error | Should -BeNullOrEmpty
            $run.Json.outcome | Should -Be 'changes_pending'
        }

        It 'refuses when netsh prints no parameter list it can read' {
            $global:FakeHelp = 'The following command was not found: http add sslcert /?.'
            $run = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $run.Json.outcome | Should -Be 'refused'
            $run.Json.error | Should -Match 'printed no parameter list'
        }

        It 'refuses a new binding without an appid' {
            $run = Invoke-Phase -Case 'noappid' -Phase 'prepare'
            $run.Json.error | Should -Match 'must name its appid'
        }

        It 'takes the appid from the existing binding when the spec omits it' {
            $null = Add-OldBinding
            (Invoke-Phase -Case 'noappid' -Phase 'prepare').Json.bindings[0].command_line | Should -Match ([regex]::Escape("appid='$AppId'"))
        }

        It 'takes uint32 timers up to 4294967295 as digit strings (PSRP carries no larger Int32)' {
            $binding = @{ Kind = 'ipport'; Key = '0.0.0.0:443'; Mode = 'exact'; Method = 'netsh'; Settings = @{
                    certhash = $Hash; appid = $AppId; revocationfreshnesstime = '4294967295'; urlretrievaltimeout = '0000015000' } }
            $run = Invoke-Phase -Case 'motivating' -Phase 'prepare' -Parameters @{ Binding = @($binding) }
            $run.Json.outcome | Should -Be 'changes_pending'
            $run.Json.bindings[0].desired.revocationfreshnesstime | Should -Be 4294967295
            $run.Json.bindings[0].arguments | Should -Contain 'revocationfreshnesstime=4294967295'
            $run.Json.bindings[0].arguments | Should -Contain 'urlretrievaltimeout=15000'
        }

        It 're-validates -Binding values that arrive as parameters' -ForEach @(
            @{ Binding = @{ Kind = 'ipport'; Key = '0.0.0.0:443; calc'; Mode = 'preserve'; Method = 'netsh'; Settings = @{} }; Pattern = 'Key is not a valid' }
            @{ Binding = @{ Kind = 'IPPORT'; Key = '0.0.0.0:443'; Mode = 'preserve'; Method = 'netsh'; Settings = @{} }; Pattern = 'Kind must be' }
            @{ Binding = @{ Kind = 'ipport'; Key = '0.0.0.0:443'; Mode = 'preserve'; Method = 'netsh'; Settings = @{ certhash = "40db5bb1bf5659a155258d1d007c530fcb8996c2`n" } }; Pattern = 'not a valid hash' }
            @{ Binding = @{ Kind = 'ipport'; Key = '0.0.0.0:443'; Mode = 'preserve'; Method = 'netsh'; Settings = @{ bogus = 'x' } }; Pattern = 'unknown setting' }
            @{ Binding = @{ Kind = 'ipport'; Key = '0.0.0.0:99999'; Mode = 'preserve'; Method = 'netsh'; Settings = @{} }; Pattern = 'port must be' }
            @{ Binding = @{ Kind = 'ipport'; Key = '0.0.0.0:443'; Mode = 'preserve'; Method = 'netsh'; Settings = @{ urlretrievaltimeout = -1 } }; Pattern = 'whole number' }
            @{ Binding = @{ Kind = 'ipport'; Key = '0.0.0.0:443'; Mode = 'preserve'; Method = 'netsh'; Settings = @{ urlretrievaltimeout = '4294967296' } }; Pattern = 'whole number' }
            @{ Binding = @{ Kind = 'ipport'; Key = '0.0.0.0:443'; Mode = 'preserve'; Method = 'netsh'; Settings = @{ urlretrievaltimeout = '12a' } }; Pattern = 'whole number' }
            @{ Binding = @{ Kind = 'ipport'; Key = '0.0.0.0:443'; Mode = 'preserve'; Method = 'netsh'; Settings = @{ urlretrievaltimeout = '-1' } }; Pattern = 'whole number' }
            @{ Binding = @{ Kind = 'ipport'; Key = '0.0.0.0:443'; Mode = 'preserve'; Method = 'netsh'; Settings = @{ urlretrievaltimeout = '12345678901' } }; Pattern = 'whole number' }
            @{ Binding = @{ Kind = 'ipport'; Key = '0.0.0.0:443'; Mode = 'preserve'; Method = 'registry'; Settings = @{ certhash = '40db5bb1bf5659a155258d1d007c530fcb8996c2' } }; Pattern = 'only revocation-check' }
        ) {
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply' -Parameters @{ Binding = @($Binding) }
            $run.Json.outcome | Should -Be 'refused'
            $run.Json.error | Should -Match $Pattern
            Get-ChangingCall | Should -BeNullOrEmpty
        }
    }

    Describe 'delete' {
        It 'deletes an existing binding with exactly one netsh call' {
            $null = Add-OldBinding
            $run = Invoke-Phase -Case 'motivating' -Phase 'delete'
            $run.Json.outcome | Should -Be 'deleted'
            Get-ChangingCall | Should -Be @('netsh http delete sslcert ipport=0.0.0.0:443')
            $run.Json.before[0].settings.certhash | Should -Be $OldHash
            $run.Json.after[0].exists | Should -BeFalse
        }

        It 'is fine with a binding that is already absent' {
            $run = Invoke-Phase -Case 'motivating' -Phase 'delete'
            $run.Thrown | Should -BeNullOrEmpty
            $run.Json.outcome | Should -Be 'unchanged'
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'treats netsh error 2 (vanished meanwhile) as done' {
            $null = Add-OldBinding
            Add-FakeFault -On 'delete' -Code 2
            $run = Invoke-Phase -Case 'motivating' -Phase 'delete'
            $run.Thrown | Should -BeNullOrEmpty
            $run.Json.actions[0].result | Should -Be 'absent'
        }

        It 'fails with the code and output on error <Code>' -ForEach @(@{ Code = 5 }, @{ Code = 87 }) {
            $null = Add-OldBinding
            Add-FakeFault -On 'delete' -Code $Code
            $run = Invoke-Phase -Case 'motivating' -Phase 'delete'
            $run.Json.outcome | Should -Be 'failed'
            $run.Json.error | Should -Match ('netsh delete failed for ipport=0.0.0.0:443 with error ' + $Code)
            $run.Thrown | Should -Match 'failed'
        }

        It 'reports a rejected command line, never a number from the usage examples, as the code' {
            $null = Add-OldBinding
            Add-FakeFault -On delete -Usage (Get-Content -Raw -LiteralPath (Join-Path $HelpRoot '2019/delete.txt'))
            $run = Invoke-Phase -Case 'motivating' -Phase 'delete'
            $run.Json.outcome | Should -Be 'failed'
            $run.Json.error | Should -Match 'rejected the command line and printed its usage \(exit code 1\)'
            $run.Json.error | Should -Not -Match 'error 443'
        }

        It 'changes nothing with -WhatIf' {
            $null = Add-OldBinding
            $run = Invoke-Phase -Case 'motivating' -Phase 'delete' -Parameters @{ WhatIf = $true }
            $run.Json.actions[0].result | Should -Be 'whatif'
            Get-ChangingCall | Should -BeNullOrEmpty
        }
    }

    Describe 'add' {
        It 'adds with the prepared settings and verifies' {
            $null = Add-OldBinding -Extra ([ordered]@{ sslctlstorename = 'ClientAuthIssuer' })
            $prepared = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $null = Invoke-Phase -Case 'motivating' -Phase 'delete'
            $run = Invoke-Phase -Case 'motivating' -Phase 'add' -Parameters @{ Prepared = $prepared }
            $run.Thrown | Should -BeNullOrEmpty
            $run.Json.outcome | Should -Be 'added'
            (Get-ChangingCall)[-1] | Should -Be ('netsh http add sslcert ipport=0.0.0.0:443 certhash=' + $Hash + ' appid=' + $AppId + ' certstorename=My verifyclientcertrevocation=disable sslctlstorename=ClientAuthIssuer')
            (Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443')['DefaultSslCtlStoreName'] | Should -Be 'ClientAuthIssuer'
        }

        It 'refuses a preserve binding that is absent without -Prepared' {
            $run = Invoke-Phase -Case 'motivating' -Phase 'add'
            $run.Json.error | Should -Match 'pass -Prepared'
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'does nothing when the identical binding is present' {
            $null = Add-FakeBinding -Kind 'ipport' -Key '0.0.0.0:443' -Settings ([ordered]@{ certhash = $Hash; appid = $AppId; certstorename = 'My'; verifyclientcertrevocation = 'disable' })
            $run = Invoke-Phase -Case 'motivating' -Phase 'add'
            $run.Json.outcome | Should -Be 'unchanged'
            $run.Json.actions[0].result | Should -Be 'present'
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'refuses clearly when a different binding is present' {
            $null = Add-OldBinding
            $run = Invoke-Phase -Case 'motivating' -Phase 'add'
            $run.Json.outcome | Should -Be 'failed'
            $run.Json.error | Should -Match 'run delete.ps1 first'
            $run.Json.error | Should -Match 'certhash expected 40db'
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'takes the code from localized output with a space before the colon' {
            Mock netsh {
                if ($args[1] -eq 'add' -and $args -notcontains '/?') {
                    $global:LASTEXITCODE = 1
                    return @('', 'Echec de l''ajout du certificat SSL, erreur : 183', 'Impossible de creer un fichier deja existant.')
                }
                Invoke-FakeNetsh @args
            }
            $run = Invoke-Phase -Case 'exact' -Phase 'add'
            $run.Json.outcome | Should -Be 'failed'
            $run.Json.error | Should -Match 'with error 183 '
        }

        It 'fails with the netsh code on error <Code>' -ForEach @(@{ Code = 1312 }, @{ Code = 87 }, @{ Code = 5 }, @{ Code = 183 }) {
            $times = 1
            if ($Code -eq 87) { $times = 5 }   # 87 is retried four times first
            foreach ($i in 1..$times) { Add-FakeFault -On 'add' -Code $Code }
            $run = Invoke-Phase -Case 'exact' -Phase 'add'
            $run.Json.outcome | Should -Be 'failed'
            $run.Json.error | Should -Match ('netsh add failed for ipport=0.0.0.0:443 with error ' + $Code)
            $run.Json.actions[-1].code | Should -Be 0
            $run.Json.actions[-1].result | Should -Be 'failed'
        }

        It 'fails verification when netsh exits 0 but adds nothing' {
            Add-FakeFault -On 'add' -Code 0
            $run = Invoke-Phase -Case 'exact' -Phase 'add'
            $run.Json.outcome | Should -Be 'failed'
            $run.Json.error | Should -Match 'the binding does not exist'
        }

        It 'changes nothing with -WhatIf' {
            $run = Invoke-Phase -Case 'exact' -Phase 'add' -Parameters @{ WhatIf = $true }
            $run.Json.actions[0].result | Should -Be 'whatif'
            Get-ChangingCall | Should -BeNullOrEmpty
        }
    }

    Describe 'verify' {
        It 'is compliant when every setting matches' {
            $null = Add-FakeBinding -Kind 'ipport' -Key '0.0.0.0:443' -Settings ([ordered]@{ certhash = $Hash; appid = $AppId; certstorename = 'My'; verifyclientcertrevocation = 'disable' })
            $run = Invoke-Phase -Case 'motivating' -Phase 'verify'
            $run.Thrown | Should -BeNullOrEmpty
            $run.Json.outcome | Should -Be 'compliant'
        }

        It 'fails with the difference per setting' {
            $null = Add-OldBinding
            $run = Invoke-Phase -Case 'motivating' -Phase 'verify'
            $run.Json.outcome | Should -Be 'drift'
            $run.Thrown | Should -Match 'drift'
            @($run.Json.differences | ForEach-Object { $_.setting + '=' + $_.actual }) | Should -Be @(('certhash=' + $OldHash), 'verifyclientcertrevocation=enable')
            $run.Json.error | Should -Match 'verifyclientcertrevocation expected disable, found enable'
        }

        It 'compares every setting against -Prepared' {
            $null = Add-OldBinding -Extra ([ordered]@{ dsmapperusage = 'enable' })
            $prepared = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $null = Add-FakeBinding -Kind 'ipport' -Key '0.0.0.0:443' -Settings ([ordered]@{ certhash = $Hash; appid = $AppId; certstorename = 'My'; verifyclientcertrevocation = 'disable' })
            $run = Invoke-Phase -Case 'motivating' -Phase 'verify' -Parameters @{ Prepared = $prepared }
            $run.Json.outcome | Should -Be 'drift'
            $run.Json.differences[0].setting | Should -Be 'dsmapperusage'
        }
    }

    Describe 'rollback' {
        BeforeEach {
            # these cases are about delete+add: a host whose netsh has no 'update sslcert'
            $global:FakeUpdateHelp = 'The following command was not found: http update sslcert /?.'
        }

        It 're-adds the captured binding with every setting and verifies it' {
            $null = Add-OldBinding -Extra ([ordered]@{ sslctlstorename = 'ClientAuthIssuer'; revocationfreshnesstime = 60; disablehttp2 = 'enable' })
            $before = (Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443')
            $prior = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $null = Invoke-Phase -Case 'motivating' -Phase 'apply'
            (Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443')['DefaultSslCertCheckMode'] | Should -Be 5
            $run = Invoke-Phase -Case 'motivating' -Phase 'rollback' -Parameters @{ Prior = $prior }
            $run.Thrown | Should -BeNullOrEmpty
            $run.Json.outcome | Should -Be 'rolled_back'
            @($run.Json.actions | ForEach-Object { $_.step }) | Should -Be @('rollback-delete', 'rollback-add', 'rollback-verify')
            $after = Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443'
            foreach ($name in $before.Keys) { "$name=$($after[$name])" | Should -Be "$name=$($before[$name])" }
            $after.Keys.Count | Should -Be $before.Keys.Count
        }

        It 'deletes a binding that did not exist before' {
            $prior = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $null = Invoke-Phase -Case 'motivating' -Phase 'apply'
            Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443' | Should -Not -BeNullOrEmpty
            $run = Invoke-Phase -Case 'motivating' -Phase 'rollback' -Parameters @{ Prior = $prior }
            $run.Json.outcome | Should -Be 'rolled_back'
            Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443' | Should -BeNullOrEmpty
        }

        It 'leaves a binding alone that is already as captured' {
            $null = Add-OldBinding
            $prior = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $run = Invoke-Phase -Case 'motivating' -Phase 'rollback' -Parameters @{ Prior = $prior }
            $run.Json.outcome | Should -Be 'unchanged'
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'reports rollback_failed and throws when the re-add fails with <Code>' -ForEach @(@{ Code = 1312 }, @{ Code = 5 }) {
            $null = Add-OldBinding
            $prior = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $null = Invoke-Phase -Case 'motivating' -Phase 'apply'
            Add-FakeFault -On 'add' -Code $Code
            $run = Invoke-Phase -Case 'motivating' -Phase 'rollback' -Parameters @{ Prior = $prior }
            $run.Json.outcome | Should -Be 'rollback_failed'
            $run.Thrown | Should -Match 'rollback_failed'
            $run.Json.error | Should -Match ('error ' + $Code)
        }

        It 'keeps the current binding when the prior certificate is gone from its store' {
            $null = Add-OldBinding
            $prior = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $null = Invoke-Phase -Case 'motivating' -Phase 'apply'
            Remove-FakeCertificate -Store 'My' -Thumbprint $OldHash
            $global:FakeCalls.Clear()
            $run = Invoke-Phase -Case 'motivating' -Phase 'rollback' -Parameters @{ Prior = $prior }
            $run.Json.outcome | Should -Be 'rollback_failed'
            $run.Json.error | Should -Match 'ipport=0.0.0.0:443: not restored, the current binding is kept'
            $run.Json.error | Should -Match ('import certificate ' + $OldHash + ' with its private key')
            Get-ChangingCall | Should -BeNullOrEmpty
            $run.Json.after[0].settings.certhash | Should -Be $Hash
        }

        It 'keeps the current binding when this netsh does not take a prior parameter' {
            $null = Add-OldBinding -Extra ([ordered]@{ disablehttp2 = 'enable' })
            $prior = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $null = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $global:FakeHelp = $global:FakeHelp -replace 'disablehttp2', 'x'
            $global:FakeCalls.Clear()
            $run = Invoke-Phase -Case 'motivating' -Phase 'rollback' -Parameters @{ Prior = $prior }
            $run.Json.outcome | Should -Be 'rollback_failed'
            $run.Json.error | Should -Match 'current binding is kept.*disablehttp2'
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'puts the current binding back when the re-add fails after the delete' {
            $null = Add-OldBinding
            $prior = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $null = Invoke-Phase -Case 'motivating' -Phase 'apply'
            Add-FakeFault -On 'add' -Code 1312
            $run = Invoke-Phase -Case 'motivating' -Phase 'rollback' -Parameters @{ Prior = $prior }
            $run.Json.outcome | Should -Be 'rollback_failed'
            $run.Json.error | Should -Match 'not restored, the current binding was put back'
            @($run.Json.actions | ForEach-Object { $_.step + ':' + $_.result }) | Should -Be @('rollback-delete:ok', 'rollback-add:failed', 'rollback-keep-add:ok', 'rollback-keep-verify:ok')
            $run.Json.after[0].settings.certhash | Should -Be $Hash
            $run.Json.after[0].settings.verifyclientcertrevocation | Should -Be 'disable'
        }

        It 'puts back the bindings it restored when a later one fails (all or nothing)' {
            $null = Add-OldBinding
            $null = Add-FakeBinding -Kind 'hostnameport' -Key 'api.contoso.com:443' -Settings ([ordered]@{ certhash = $OldHash; appid = $AppId; certstorename = 'My' })
            $prior = (Invoke-Phase -Case 'multi' -Phase 'prepare').Output[0]
            $null = Invoke-Phase -Case 'multi' -Phase 'apply'
            Mock netsh {
                if ($args -contains 'hostnameport=api.contoso.com:443' -and $args[1] -eq 'add' -and -not $global:FakeSniFailed) {
                    $global:FakeSniFailed = $true
                    $global:LASTEXITCODE = 1
                    return 'SSL Certificate add failed, Error: 1312'
                }
                Invoke-FakeNetsh @args
            }
            $global:FakeSniFailed = $false
            $run = Invoke-Phase -Case 'multi' -Phase 'rollback' -Parameters @{ Prior = $prior }
            $run.Json.outcome | Should -Be 'rollback_failed'
            $run.Json.error | Should -Match 'ipport=0.0.0.0:443: was restored, then put back as found'
            @($run.Json.actions | Where-Object { $_.binding -eq 'ipport=0.0.0.0:443' } | ForEach-Object { $_.step }) | Should -Be @('rollback-delete', 'rollback-add', 'rollback-verify', 'rollback-delete', 'rollback-add', 'rollback-verify')
            @($run.Json.after | ForEach-Object { $_.settings.certhash }) | Should -Be @($Hash, $Hash)
        }

        It 'changes nothing when a later binding could not be put back' {
            $null = Add-OldBinding
            $null = Add-FakeBinding -Kind 'hostnameport' -Key 'api.contoso.com:443' -Settings ([ordered]@{ certhash = $OldHash; appid = $AppId; certstorename = 'My'; disablehttp2 = 'enable' })
            $prior = (Invoke-Phase -Case 'multi' -Phase 'prepare').Output[0]
            $null = Invoke-Phase -Case 'multi' -Phase 'apply'
            $global:FakeHelp = $global:FakeHelp -replace 'disablehttp2', 'x'
            $global:FakeCalls.Clear()
            $run = Invoke-Phase -Case 'multi' -Phase 'rollback' -Parameters @{ Prior = $prior }
            $run.Json.outcome | Should -Be 'rollback_failed'
            $run.Json.error | Should -Match 'nothing was changed: hostnameport=api.contoso.com:443: not restored, the current binding is kept: .*disablehttp2'
            Get-ChangingCall | Should -BeNullOrEmpty
            @($run.Json.after | ForEach-Object { $_.settings.certhash }) | Should -Be @($Hash, $Hash)
        }

        It 'deletes nothing when the current binding cannot be read' {
            $null = Add-OldBinding
            $prior = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $null = Set-FakeRawBinding -Kind 'ipport' -Key '0.0.0.0:443' -Values ([ordered]@{ SslCertHash = (ConvertTo-FakeHashByte -Hex $Hash); AppId = ([guid]$AppId).ToByteArray(); SomethingNew = 1 })
            $global:FakeCalls.Clear()
            $run = Invoke-Phase -Case 'motivating' -Phase 'rollback' -Parameters @{ Prior = $prior }
            $run.Json.outcome | Should -Be 'rollback_failed'
            $run.Json.error | Should -Match 'nothing deleted: the current binding cannot be read'
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'refuses a prior state that <Why>' -ForEach @(
            @{ Why = 'is not JSON'; Prior = 'not json'; Pattern = 'not valid JSON' }
            @{ Why = 'misses the binding'; Prior = '{"before":[]}'; Pattern = 'does not include ipport=0.0.0.0:443' }
            @{ Why = 'carries a bad value'; Prior = '{"before":[{"kind":"ipport","key":"0.0.0.0:443","exists":true,"settings":{"certhash":"zz"},"registry":{"DefaultSslCertCheckMode":0}}]}'; Pattern = 'certhash' }
        ) {
            $run = Invoke-Phase -Case 'motivating' -Phase 'rollback' -Parameters @{ Prior = $Prior }
            $run.Json.outcome | Should -Be 'refused'
            $run.Json.error | Should -Match $Pattern
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'changes nothing with -WhatIf' {
            $prior = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $null = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $global:FakeCalls.Clear()
            $run = Invoke-Phase -Case 'motivating' -Phase 'rollback' -Parameters @{ Prior = $prior; WhatIf = $true }
            $run.Json.actions[0].result | Should -Be 'whatif'
            Get-ChangingCall | Should -BeNullOrEmpty
        }
    }

    Describe 'apply' {
        BeforeEach {
            # these cases are about delete+add: a host whose netsh has no 'update sslcert'
            $global:FakeUpdateHelp = 'The following command was not found: http update sslcert /?.'
        }

        It 'deletes and adds back to back, verifies, and reports applied' {
            $null = Add-OldBinding
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Thrown | Should -BeNullOrEmpty
            $run.Output.Count | Should -Be 1
            $run.Json.outcome | Should -Be 'applied'
            @($run.Json.actions | ForEach-Object { $_.step }) | Should -Be @('trial-add', 'trial-delete', 'delete', 'add', 'verify')
            $run.Json.actions[3].command | Should -BeExactly $Motivating
            Get-ChangingCall | Should -Be @('netsh http delete sslcert ipport=0.0.0.0:443', ($Motivating -replace "'", ''))
            $run.Json.timings.gaps[0].binding | Should -Be 'ipport=0.0.0.0:443'
            $run.Json.timings.gaps[0].gap_ms | Should -BeGreaterOrEqual 0
            $run.Json.after[0].settings.verifyclientcertrevocation | Should -Be 'disable'
            $run.Json.before[0].settings.certhash | Should -Be $OldHash
            Should -Invoke netsh -Times 7 -Exactly   # add and update help, show (Extended Properties), trial add and delete, delete, add
        }

        It 'does nothing when every binding is already as desired' {
            $null = Add-FakeBinding -Kind 'ipport' -Key '0.0.0.0:443' -Settings ([ordered]@{ certhash = $Hash; appid = $AppId; certstorename = 'My'; verifyclientcertrevocation = 'disable' })
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'unchanged'
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'rolls back when add fails with <Code> and restores every setting' -ForEach @(@{ Code = 1312 }, @{ Code = 5 }, @{ Code = 183 }) {
            $null = Add-OldBinding -Extra ([ordered]@{ sslctlstorename = 'ClientAuthIssuer'; clientcertnegotiation = 'enable' })
            $before = Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443'
            Add-FakeFault -On 'add' -Code $Code
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'rolled_back'
            $run.Thrown | Should -Match 'rolled_back'
            $run.Json.error | Should -Match ('error ' + $Code)
            @($run.Json.actions | ForEach-Object { $_.step + ':' + $_.result }) | Should -Be @('trial-add:ok', 'trial-delete:ok', 'delete:ok', 'add:failed', 'rollback-add:ok', 'rollback-verify:ok')
            $after = Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443'
            foreach ($name in $before.Keys) { "$name=$($after[$name])" | Should -Be "$name=$($before[$name])" }
            $run.Json.after[0].settings.certhash | Should -Be $OldHash
        }

        It 'retries the trial bind after the transient error 87 with back-off, before anything live' {
            $null = Add-OldBinding
            Add-FakeFault -On 'add' -Code 87 -Trial
            Add-FakeFault -On 'add' -Code 87 -Trial
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'applied'
            @($run.Json.actions | ForEach-Object { $_.step + ':' + $_.result }) | Should -Be @('trial-add:retry', 'trial-add:retry', 'trial-add:ok', 'trial-delete:ok', 'delete:ok', 'add:ok', 'verify:ok')
            Should -Invoke Wait-SslRetry -Times 1 -Exactly -ParameterFilter { $Seconds -eq 1 }
            Should -Invoke Wait-SslRetry -Times 1 -Exactly -ParameterFilter { $Seconds -eq 2 }
        }

        It 'gives up the trial after four retries of 87 (1+2+4+8 s) with nothing live touched' {
            $null = Add-OldBinding
            foreach ($i in 1..5) { Add-FakeFault -On 'add' -Code 87 -Trial }
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'refused'
            $run.Json.error | Should -Match 'trial bind of certificate 40db5bb1bf5659a155258d1d007c530fcb8996c2 in LocalMachine\\My was refused.*error 87'
            @($run.Json.actions | Where-Object { $_.step -eq 'trial-add' } | ForEach-Object { $_.result }) | Should -Be @('retry', 'retry', 'retry', 'retry', 'failed')
            Should -Invoke Wait-SslRetry -Times 4 -Exactly
            @(Get-ChangingCall | Where-Object { $_ -notmatch '127\.0\.0\.1' }) | Should -BeNullOrEmpty
            $run.Json.after[0].settings.certhash | Should -Be $OldHash
        }

        It 'never retries a live add, delete or update' {
            $null = Add-OldBinding
            Add-FakeFault -On 'delete' -Code 87
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'rolled_back'
            Add-FakeFault -On 'add' -Code 87
            $second = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $second.Json.outcome | Should -Be 'rolled_back'
            @($second.Json.actions | Where-Object { $_.step -eq 'add' } | ForEach-Object { $_.result }) | Should -Be @('failed')
            Should -Invoke Wait-SslRetry -Times 0 -Exactly
        }

        It 'rolls back when verify fails (netsh exit 0 without a binding)' {
            $null = Add-OldBinding
            Add-FakeFault -On 'add' -Code 0
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'rolled_back'
            $run.Json.error | Should -Match 'verify failed'
            $run.Json.after[0].settings.certhash | Should -Be $OldHash
        }

        It 'rolls back a new binding by deleting it when verify fails' {
            Mock Get-SslRegistryValue {
                $values = Get-FakeRegistryValue -Path $Path
                if ($null -ne $values -and $global:FakeCalls.Count -ge 2 -and -not $global:FakeVerifyBroken) {
                    $global:FakeVerifyBroken = $true
                    $values.DefaultSslCertCheckMode = 0
                }
                $values
            }
            $global:FakeVerifyBroken = $false
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'rolled_back'
            $run.Json.error | Should -Match 'verifyclientcertrevocation expected disable, found enable'
            Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443' | Should -BeNullOrEmpty
        }

        It 'reports rollback_failed when the restore fails too' {
            $null = Add-OldBinding
            Add-FakeFault -On 'add' -Code 1312
            Add-FakeFault -On 'add' -Code 1312
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'rollback_failed'
            $run.Thrown | Should -Match 'rollback_failed'
            $run.Json.error | Should -Match 'rollback of ipport=0.0.0.0:443 failed'
        }

        It 'refuses to re-create a binding whose HTTP/2 Extended Properties differ from a plain add (<Header>)' -ForEach @(
            @{ Header = 'Extended Properties:' }
            @{ Header = 'Erweiterte Eigenschaften:' }
        ) {
            $null = Add-OldBinding
            $global:FakeExtended[(Get-FakeBindingPath -Kind 'ipport' -Key '0.0.0.0:443').ToLowerInvariant()] =
                " $Header`n    PropertyId     : 0`n    Receive Window : 2097152`n $Header`n    PropertyId     : 1`n    Max Settings Per Frame : 2796202`n    Max Settings Per Minute : 4294967295"
            $global:FakeCalls.Clear()
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'refused'
            $run.Json.error | Should -Match 'Extended Properties \(PropertyId 0 = 2097152\).*nothing is changed'
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'changes a binding whose Extended Properties are what a plain add leaves (Server 2025 output)' {
            $null = Add-OldBinding
            $global:FakeExtended[(Get-FakeBindingPath -Kind 'ipport' -Key '0.0.0.0:443').ToLowerInvariant()] =
                " Extended Properties:`n    PropertyId : 0`n    Receive Window : 1048576`n Extended Properties:`n    PropertyId : 1`n    Max Settings Per Frame : 2796202`n    Max Settings Per Minute : 4294967295`n Extended Properties:`n    PropertyId : 2`n Extended Properties:`n    PropertyId : 3"
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'applied'
        }

        It 'restores every touched binding in reverse order when the second one fails' {
            $null = Add-OldBinding
            $null = Add-FakeBinding -Kind 'hostnameport' -Key 'api.contoso.com:443' -Settings ([ordered]@{ certhash = $OldHash; appid = $AppId; certstorename = 'My' })
            $null = Invoke-Phase -Case 'multi' -Phase 'prepare'
            $global:FakeCalls.Clear()
            Mock netsh {
                if ($args -contains 'hostnameport=api.contoso.com:443' -and $args[1] -eq 'add' -and -not $global:FakeSniFailed) {
                    $global:FakeSniFailed = $true
                    $global:LASTEXITCODE = 1
                    return 'SSL Certificate add failed, Error: 1312'
                }
                Invoke-FakeNetsh @args
            }
            $global:FakeSniFailed = $false
            $run = Invoke-Phase -Case 'multi' -Phase 'apply'
            $run.Json.outcome | Should -Be 'rolled_back'
            @($run.Json.actions | Where-Object { $_.step -like 'rollback-add' } | ForEach-Object { $_.binding }) | Should -Be @('hostnameport=api.contoso.com:443', 'ipport=0.0.0.0:443')
            @($run.Json.after | ForEach-Object { $_.settings.certhash }) | Should -Be @($OldHash, $OldHash)
        }

        It 'never leaves a host without a binding it had when the old certificate is gone and SNI add fails' {
            $null = Add-OldBinding
            $null = Add-FakeBinding -Kind 'hostnameport' -Key 'api.contoso.com:443' -Settings ([ordered]@{ certhash = $OldHash; appid = $AppId; certstorename = 'My' })
            Add-FakeCertificate -Store 'WebHosting' -Thumbprint $Hash -Usage @('1.3.6.1.5.5.7.3.1')
            Remove-FakeCertificate -Store 'My' -Thumbprint $OldHash
            Mock netsh {
                if ($args -contains 'hostnameport=api.contoso.com:443' -and $args[1] -eq 'add') {
                    $global:LASTEXITCODE = 1
                    return 'SSL Certificate add failed, Error: 1312'
                }
                Invoke-FakeNetsh @args
            }
            # the undo is proven impossible before the first change: nothing is touched
            $refused = Invoke-Phase -Case 'multi' -Phase 'apply'
            $refused.Json.outcome | Should -Be 'refused'
            $refused.Json.error | Should -Match 'changes nothing it could not undo: ipport=0.0.0.0:443: the prior certificate: certificate 1111111111111111111111111111111111111111 is not in LocalMachine\\My'
            $refused.Json.error | Should -Match 'accept-no-undo'
            @($refused.Json.bindings | ForEach-Object { [string]$_.restorable }) | Should -Be @('False', 'False')
            Get-ChangingCall | Should -BeNullOrEmpty
            # accepted explicitly: it goes ahead, and a failed SNI add still never strips the IP binding
            $run = Invoke-Phase -Case 'multi' -Phase 'apply' -Parameters @{ AcceptNoUndo = $true }
            $run.Json.notes -join ' ' | Should -Match 'accepted without undo \(-AcceptNoUndo\): ipport=0.0.0.0:443'
            $run.Json.outcome | Should -Be 'rollback_failed'
            $run.Json.error | Should -Match 'ipport=0.0.0.0:443: not restored, the current binding is kept'
            Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443' | Should -Not -BeNullOrEmpty
            $run.Json.after[0].settings.certhash | Should -Be $Hash
        }

        It 'refuses before touching anything when the host moved since the plan' {
            $null = Add-OldBinding
            $planned = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $null = Add-OldBinding -Extra ([ordered]@{ dsmapperusage = 'enable' })
            $global:FakeCalls.Clear()
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply' -Parameters @{ ExpectedPrior = $planned }
            $run.Json.outcome | Should -Be 'refused'
            $run.Json.error | Should -Match 'changed since the plan'
            $run.Json.error | Should -Match 'dsmapperusage expected disable, found enable'
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'refuses when a binding planned as absent now exists' {
            $planned = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $null = Add-OldBinding
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply' -Parameters @{ ExpectedPrior = $planned }
            $run.Json.error | Should -Match 'expected absent, found present'
        }

        It 'applies when the host still matches the plan' {
            $null = Add-OldBinding
            $planned = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply' -Parameters @{ ExpectedPrior = $planned }
            $run.Json.outcome | Should -Be 'applied'
        }

        It 'changes nothing with -WhatIf and lists what would run' {
            $null = Add-OldBinding
            $before = Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443'
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply' -Parameters @{ WhatIf = $true }
            $run.Json.whatif | Should -BeTrue
            $run.Json.outcome | Should -Be 'unchanged'
            @($run.Json.actions | ForEach-Object { $_.step + ':' + $_.result }) | Should -Be @('delete:whatif', 'add:whatif')
            $run.Json.actions[1].command | Should -BeExactly $Motivating
            Get-ChangingCall | Should -BeNullOrEmpty
            Should -Invoke Set-SslRegistryDword -Times 0 -Exactly
            (Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443')['SslCertHash'] | Should -Be $before['SslCertHash']
        }
    }

    Describe 'zero downtime' {
        BeforeAll {
            function New-SwapBinding {
                # The motivating binding as a -Binding parameter, with the given swap.
                param([string]$Swap, [string]$Mode = 'preserve')
                return , @(@{
                        Kind = 'ipport'; Key = '0.0.0.0:443'; Mode = $Mode; Method = 'netsh'; Swap = $Swap
                        Settings = @{ certhash = $Hash; appid = $AppId; certstorename = 'My'; verifyclientcertrevocation = 'disable' }
                    })
            }
            $Update = $Motivating -replace 'netsh http add sslcert', 'netsh http update sslcert'
        }

        It 'changes an existing binding with one update carrying every parameter, after a trial bind' {
            $null = Add-OldBinding
            $plan = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $plan.Json.bindings[0].path | Should -Be 'update'
            @($plan.Json.bindings[0].commands) | Should -Be @($Update)
            $plan.Json.bindings[0].restorable | Should -BeTrue
            $plan.Json.update_supported.ipport | Should -BeTrue
            $plan.Json.update_supported.scopedccs | Should -BeFalse
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'applied'
            @($run.Json.actions | ForEach-Object { $_.step + ':' + $_.result }) | Should -Be @('trial-add:ok', 'trial-delete:ok', 'update:ok', 'verify:ok')
            Get-ChangingCall | Should -Be @($Update -replace "'", '')
            @($run.Json.timings.gaps) | Should -BeNullOrEmpty
            $run.Json.after[0].settings.certhash | Should -Be $Hash
            $run.Json.after[0].settings.verifyclientcertrevocation | Should -Be 'disable'
        }

        It 'trial-binds the new certificate on loopback with its store and parameters, under the trial appid' {
            $null = Add-OldBinding
            $null = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $trial = @($global:FakeCalls | Where-Object { $_ -match 'ipport=127\.0\.0\.1:' })
            $trial | Should -Be @(
                'netsh http add sslcert ipport=127.0.0.1:50443 certhash=40db5bb1bf5659a155258d1d007c530fcb8996c2 appid={73736c62-696e-4474-7269-616c62696e64} certstorename=My verifyclientcertrevocation=disable',
                'netsh http delete sslcert ipport=127.0.0.1:50443'
            )
            Get-FakeBindingValue -Kind 'ipport' -Key '127.0.0.1:50443' | Should -BeNullOrEmpty
        }

        It 'takes a trial port no binding uses on any address and nothing listens on' {
            $null = Add-OldBinding
            $null = Add-FakeBinding -Kind 'ipport' -Key '10.0.0.5:50443' -Settings ([ordered]@{ certhash = $OldHash; appid = $AppId; certstorename = 'My' })
            $global:FakeListeners = @(50444)
            $null = Invoke-Phase -Case 'motivating' -Phase 'apply'
            @($global:FakeCalls | Where-Object { $_ -match 'add sslcert ipport=127\.0\.0\.1:' }) | Should -Match 'ipport=127\.0\.0\.1:50445 '
        }

        It 'refuses a certificate HTTP.sys cannot use (1312) at the trial, the live binding never touched' {
            $null = Add-OldBinding
            Reset-FakeHost
            Add-FakeCertificate -Store 'My' -Thumbprint $Hash -Usage @('1.3.6.1.5.5.7.3.1') -KeyUnusable
            Add-FakeCertificate -Store 'My' -Thumbprint $OldHash
            $null = Add-OldBinding
            (Invoke-Phase -Case 'motivating' -Phase 'prepare').Json.outcome | Should -Be 'changes_pending'   # HasPrivateKey is true
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'refused'
            $run.Json.error | Should -Match 'trial bind of certificate 40db5bb1bf5659a155258d1d007c530fcb8996c2 in LocalMachine\\My was refused, nothing live is touched: .*error 1312'
            @($run.Json.actions | ForEach-Object { $_.step + ':' + $_.result }) | Should -Be @('trial-add:failed', 'trial-delete:absent')
            Get-ChangingCall | Should -BeNullOrEmpty
            $run.Json.after[0].settings.certhash | Should -Be $OldHash
        }

        It 'falls back to delete+add where netsh has no update, and says why' {
            $null = Add-OldBinding
            $global:FakeUpdateHelp = 'The following command was not found: http update sslcert /?.'
            $plan = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $plan.Json.bindings[0].path | Should -Be 'replace'
            $plan.Json.notes -join ' ' | Should -Match 'delete\+add, not update: this host''s netsh has no ''http update sslcert'' for ipport'
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'applied'
            Get-ChangingCall | Should -Be @('netsh http delete sslcert ipport=0.0.0.0:443', ($Motivating -replace "'", ''))
            $run.Json.timings.gaps[0].gap_ms | Should -BeGreaterOrEqual 0
        }

        It 'refuses the host for swap update where netsh has no update, nothing touched' {
            $null = Add-OldBinding
            $global:FakeUpdateHelp = 'The following command was not found: http update sslcert /?.'
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply' -Parameters @{ Binding = (New-SwapBinding -Swap 'update') }
            $run.Json.outcome | Should -Be 'refused'
            $run.Json.error | Should -Match 'swap is update, but this host''s netsh has no ''http update sslcert'' for ipport'
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'deletes and adds for swap replace even where update exists' {
            $null = Add-OldBinding
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply' -Parameters @{ Binding = (New-SwapBinding -Swap 'replace') }
            $run.Json.outcome | Should -Be 'applied'
            Get-ChangingCall | Should -Be @('netsh http delete sslcert ipport=0.0.0.0:443', ($Motivating -replace "'", ''))
        }

        It 'states an on/off setting going back to its default explicitly in the update' {
            $null = Add-OldBinding -Extra ([ordered]@{ dsmapperusage = 'enable' })
            $plan = Invoke-Phase -Case 'exact' -Phase 'prepare'
            $plan.Json.bindings[0].path | Should -Be 'update'
            $plan.Json.bindings[0].commands[0] | Should -Match ' dsmapperusage=disable'
            $run = Invoke-Phase -Case 'exact' -Phase 'apply'
            $run.Json.outcome | Should -Be 'applied'
            $run.Json.after[0].settings.dsmapperusage | Should -Be 'disable'
        }

        It 'deletes and adds when a timer must go back to 0, which update cannot state' {
            $null = Add-OldBinding -Extra ([ordered]@{ revocationfreshnesstime = 60 })
            $plan = Invoke-Phase -Case 'exact' -Phase 'prepare'
            $plan.Json.bindings[0].path | Should -Be 'replace'
            $plan.Json.bindings[0].path_note | Should -Be 'update cannot set revocationfreshnesstime back to the default'
        }

        It 'restores a binding changed by update with an update of every captured setting' {
            $null = Add-OldBinding
            $prior = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            $null = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run = Invoke-Phase -Case 'motivating' -Phase 'rollback' -Parameters @{ Prior = $prior }
            $run.Json.outcome | Should -Be 'rolled_back'
            @($run.Json.actions | ForEach-Object { $_.step + ':' + $_.result }) | Should -Be @('rollback-update:ok', 'rollback-verify:ok')
            $run.Json.after[0].settings.certhash | Should -Be $OldHash
        }

        It 'rolls back a failed verify after an update by update, never deleting' {
            $null = Add-OldBinding
            Mock Get-SslCheckModeValue { [long]0 }
            Add-FakeFault -On update -Code 0   # exit 0, nothing changed: verify finds the old certificate
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'rolled_back'
            @(Get-ChangingCall | Where-Object { $_ -match 'delete' }) | Should -BeNullOrEmpty
            $run.Json.after[0].settings.certhash | Should -Be $OldHash
        }

        It 'reports a trial binding left by a stopped run in prepare and removes it in apply' {
            $null = Add-OldBinding
            $null = Add-FakeBinding -Kind 'ipport' -Key '127.0.0.1:50443' -Settings ([ordered]@{ certhash = $Hash; appid = '{73736c62-696e-4474-7269-616c62696e64}'; certstorename = 'My' })
            $plan = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $plan.Json.notes -join ' ' | Should -Match 'trial binding ipport=127.0.0.1:50443 was left by an earlier sslbind run'
            Get-FakeBindingValue -Kind 'ipport' -Key '127.0.0.1:50443' | Should -Not -BeNullOrEmpty
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'applied'
            $run.Json.actions[0].step | Should -Be 'trial-cleanup'
            $run.Json.notes -join ' ' | Should -Match 'removed trial binding ipport=127.0.0.1:50443'
            Get-FakeBindingValue -Kind 'ipport' -Key '127.0.0.1:50443' | Should -BeNullOrEmpty
        }
    }

    Describe 'host lock' {
        BeforeAll {
            function Set-LockHolder {
                # A lock file as another sslbind phase would leave it.
                param([int]$HolderPid, [long]$Started)
                $text = ConvertTo-Json -Compress -InputObject ([ordered]@{
                        pid = $HolderPid; started = $Started; change_id = 'OTHER'; phase = 'apply'; host = 'h'; since = '2026-11-30T00:00:00.000Z'
                    })
                Set-Content -LiteralPath $global:FakeLockPath -Value $text -NoNewline
            }
        }

        It 'holds the host lock while the phase runs and releases it after' {
            $null = Add-OldBinding
            $global:SawLock = $false
            Mock netsh {
                if (Test-Path -LiteralPath $global:FakeLockPath) { $global:SawLock = $true }
                Invoke-FakeNetsh @args
            }
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'applied'
            $global:SawLock | Should -BeTrue
            Test-Path -LiteralPath $global:FakeLockPath | Should -BeFalse
        }

        It 'refuses, naming the holder, while another live sslbind phase holds the host' {
            $null = Add-OldBinding
            Set-LockHolder -HolderPid $PID -Started (Get-Process -Id $PID).StartTime.ToUniversalTime().Ticks
            try {
                foreach ($phase in @('prepare', 'apply')) {
                    $run = Invoke-Phase -Case 'motivating' -Phase $phase -Parameters @{ LockWait = 0 }
                    $run.Json.outcome | Should -Be 'refused'
                    $run.Json.error | Should -Match ('another sslbind phase holds this host: change OTHER \(apply, pid ' + $PID)
                }
                @($global:FakeCalls) | Should -BeNullOrEmpty
                Test-Path -LiteralPath $global:FakeLockPath | Should -BeTrue
            }
            finally {
                Remove-Item -LiteralPath $global:FakeLockPath -ErrorAction SilentlyContinue
            }
        }

        It 'takes over a lock whose process is gone, and says so' {
            $null = Add-OldBinding
            Set-LockHolder -HolderPid 999999 -Started 638999999999999999
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'applied'
            $run.Json.notes -join ' ' | Should -Match 'took over the host lock left by change OTHER \(apply, pid 999999'
            Test-Path -LiteralPath $global:FakeLockPath | Should -BeFalse
        }

        It 'refuses within the wait, sleeping and checking the deadline on every pass, when <What>' -ForEach @(
            @{ What = 'a directory sits at the lock path'; Setup = 'directory'; Want = 'a lock this session cannot read \(a directory\)' }
            @{ What = 'the lock file cannot be read'; Setup = 'unreadable'; Want = 'a lock this session cannot read \(Access to the path is denied' }
            @{ What = 'a stale lock cannot be removed'; Setup = 'stuck'; Want = 'change OTHER \(apply, pid 999999.*whose process is gone, but this session cannot remove the lock' }
            @{ What = 'a live phase holds it'; Setup = 'live'; Want = 'change OTHER \(apply, pid \d+' }
        ) {
            $null = Add-OldBinding
            switch ($Setup) {
                'directory' { $null = New-Item -ItemType Directory -Path $global:FakeLockPath }
                'unreadable' {
                    Set-LockHolder -HolderPid 999999 -Started 638999999999999999
                    Mock Read-SslLockFile { [ordered]@{ state = 'unreadable'; text = $null; reason = "Access to the path is denied.`r`n`tx" } }
                }
                'stuck' {
                    Set-LockHolder -HolderPid 999999 -Started 638999999999999999
                    # the lock cannot be removed (its take-over marker can)
                    Mock Remove-SslLockFile { if ($Path -like '*.takeover-*') { Remove-Item -LiteralPath $Path; return $true }; return $false }
                }
                'live' { Set-LockHolder -HolderPid $PID -Started (Get-Process -Id $PID).StartTime.ToUniversalTime().Ticks }
            }
            $global:LockPasses = 0
            Mock Wait-SslLock { $global:LockPasses++; Start-Sleep -Milliseconds 200 }
            try {
                foreach ($phase in @('prepare', 'apply')) {
                    $global:LockPasses = 0
                    $started = Get-Date
                    $run = Invoke-Phase -Case 'motivating' -Phase $phase -Parameters @{ LockWait = 1 }
                    $elapsed = ((Get-Date) - $started).TotalSeconds
                    $run.Json.outcome | Should -Be 'refused'
                    $run.Json.error | Should -Match ('another sslbind phase holds this host: ' + $Want)
                    $run.Json.error | Should -Match ([regex]::Escape('[lock ' + $global:FakeLockPath + ']') + '; waited 1 s, nothing is changed')
                    $run.Json.error | Should -Not -Match '[\x00-\x1F]'
                    # every pass slept (no spinning) and the deadline ended the wait
                    $global:LockPasses | Should -BeGreaterOrEqual 2
                    $global:LockPasses | Should -BeLessOrEqual 10
                    $elapsed | Should -BeLessThan 8
                }
                Get-ChangingCall | Should -BeNullOrEmpty
                Test-Path -LiteralPath $global:FakeLockPath | Should -BeTrue
                # a take-over that could not remove the lock leaves no marker behind
                Get-Item -Path ($global:FakeLockPath + '.takeover-*') -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            }
            finally {
                Remove-Item -LiteralPath $global:FakeLockPath -Recurse -Force -ErrorAction SilentlyContinue
                Remove-Item -Path ($global:FakeLockPath + '.takeover-*') -ErrorAction SilentlyContinue
            }
        }

        It 'refuses, naming what is wrong, when the lock folder <What>' -ForEach @(
            @{ What = 'is owned by a user'; Sddl = 'O:S-1-5-21-1004336348-1177238915-682003330-1001G:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)'; Reparse = $false; Want = 'its owner is S-1-5-21-1004336348-1177238915-682003330-1001, not Administrators or SYSTEM' }
            @{ What = 'lets Users write (inherited from ProgramData)'; Sddl = 'O:BAG:SYD:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIID;0x1200a9;;;BU)(A;CIID;DCLCRPCR;;;BU)(A;OICIIOID;GA;;;CO)'; Reparse = $false; Want = 'BUILTIN\\Users \(BU\) may write to it \(DCLCRPCR\)' }
            @{ What = 'lets Everyone change it (hex rights)'; Sddl = 'O:SYG:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;;0x00040000;;;WD)'; Reparse = $false; Want = 'Everyone \(WD\) may write to it \(0x00040000\)' }
            @{ What = 'has no access list'; Sddl = 'O:BAG:SY'; Reparse = $false; Want = 'it has no access list \(everyone may write\)' }
            @{ What = 'is a junction'; Sddl = 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)'; Reparse = $true; Want = 'it is a reparse point \(junction or symbolic link\)' }
        ) {
            $null = Add-OldBinding
            $global:FakeLockSddl = $Sddl
            $global:FakeLockReparse = $Reparse
            foreach ($phase in @('prepare', 'apply', 'verify')) {
                $run = Invoke-Phase -Case 'motivating' -Phase $phase
                $run.Json.outcome | Should -Be 'refused'
                $run.Json.error | Should -Match ('the host lock folder ' + [regex]::Escape((Split-Path -Parent $global:FakeLockPath)) + ' is not safe: .*' + $Want)
            }
            Get-ChangingCall | Should -BeNullOrEmpty
            Test-Path -LiteralPath $global:FakeLockPath | Should -BeFalse
        }

        It 'accepts a folder that others may only read' {
            $null = Add-OldBinding
            $global:FakeLockSddl = 'O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)(A;OICIIO;GA;;;CO)(D;OICI;FA;;;AN)'
            (Invoke-Phase -Case 'motivating' -Phase 'apply').Json.outcome | Should -Be 'applied'
        }

        It 'creates a missing lock folder (protected) before the lock; verify never creates it' {
            $null = Add-OldBinding
            $global:FolderMade = 0
            Mock Get-SslLockFolderFacts {
                if ($global:FolderMade -eq 0) { return [ordered]@{ exists = $false; container = $false; reparse = $false; sddl = $null } }
                Get-FakeLockFolderFacts -Path $Path
            }
            Mock Initialize-SslLockFolder { $global:FolderMade++ }
            $run = Invoke-Phase -Case 'motivating' -Phase 'verify'
            $run.Json.outcome | Should -Be 'drift'
            $run.Json.notes -join ' ' | Should -Match 'no sslbind change has run on this host \(no .*\): verify reads without the host lock'
            $global:FolderMade | Should -Be 0
            (Invoke-Phase -Case 'motivating' -Phase 'apply').Json.outcome | Should -Be 'applied'
            $global:FolderMade | Should -Be 1
            Should -Invoke Initialize-SslLockFolder -Times 1 -Exactly -ParameterFilter { $Path -eq (Split-Path -Parent $global:FakeLockPath) }
        }

        It 'runs the pre-flight before the lock: an unelevated apply neither waits for nor touches it' {
            $null = Add-OldBinding
            Mock Test-SslElevated { $false }
            Mock Get-SslLockFolderFacts { throw 'the lock must not be reached' }
            $run = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $run.Json.outcome | Should -Be 'refused'
            $run.Json.error | Should -Match 'pre-flight: .*must run elevated'
            Should -Invoke Get-SslLockFolderFacts -Times 0 -Exactly
        }

        It 'verifies unelevated without the lock, even while an administrator holds it' {
            $null = Add-OldBinding
            Set-LockHolder -HolderPid $PID -Started (Get-Process -Id $PID).StartTime.ToUniversalTime().Ticks
            Mock Test-SslElevated { $false }
            try {
                $run = Invoke-Phase -Case 'motivating' -Phase 'verify' -Parameters @{ LockWait = 0 }
                $run.Json.outcome | Should -Be 'drift'
                $run.Json.error | Should -Not -Match 'holds this host'
                $run.Json.host_facts.elevated | Should -BeFalse
                $run.Json.notes -join ' ' | Should -Match 'not elevated: verify reads without the host lock'
                Should -Invoke Get-SslLockFolderFacts -Times 0 -Exactly
                Test-Path -LiteralPath $global:FakeLockPath | Should -BeTrue
            }
            finally {
                Remove-Item -LiteralPath $global:FakeLockPath -ErrorAction SilentlyContinue
            }
        }

        It 'two waiters on one stale lock: the one without the take-over marker deletes nothing' {
            $null = Add-OldBinding
            Set-LockHolder -HolderPid 999999 -Started 638999999999999999
            $stale = Get-Content -Raw -LiteralPath $global:FakeLockPath
            $marker = $global:FakeLockPath + '.takeover-999999-638999999999999999'
            try {
                # the other waiter holds the marker: this one waits, and is refused at its deadline
                Set-Content -LiteralPath $marker -Value 'other waiter' -NoNewline
                $run = Invoke-Phase -Case 'motivating' -Phase 'apply' -Parameters @{ LockWait = 0 }
                $run.Json.outcome | Should -Be 'refused'
                $run.Json.error | Should -Match 'whose process is gone; another phase is taking it over'
                Get-Content -Raw -LiteralPath $global:FakeLockPath | Should -BeExactly $stale
                Get-Content -Raw -LiteralPath $marker | Should -BeExactly 'other waiter'
                Remove-Item -LiteralPath $marker
                # the other waiter took over between this one's read and its removal: its new lock stays
                $holder = ConvertFrom-Json -InputObject $stale
                Set-Content -LiteralPath $global:FakeLockPath -Value 'the other waiter''s lock' -NoNewline
                Remove-SslStaleLock -Path $global:FakeLockPath -Text $stale -Holder $holder -Mine 'mine' | Should -Be 'moved'
                Get-Content -Raw -LiteralPath $global:FakeLockPath | Should -BeExactly 'the other waiter''s lock'
                Test-Path -LiteralPath $marker | Should -BeFalse
                # alone with the stale lock, the marker's holder removes it and cleans up
                Set-Content -LiteralPath $global:FakeLockPath -Value $stale -NoNewline
                Remove-SslStaleLock -Path $global:FakeLockPath -Text $stale -Holder $holder -Mine 'mine' | Should -Be 'removed'
                Test-Path -LiteralPath $global:FakeLockPath | Should -BeFalse
                Test-Path -LiteralPath $marker | Should -BeFalse
            }
            finally {
                Remove-Item -LiteralPath $marker -ErrorAction SilentlyContinue
                Remove-Item -LiteralPath $global:FakeLockPath -ErrorAction SilentlyContinue
            }
        }

        It 'names an unparsable holder capped and without control characters' {
            $text = "x`e[31m" + ('y' * 500)
            $described = Format-SslLockHolder -Holder $null -Text $text
            $described | Should -Not -Match '[\x00-\x1F]'
            $described.Length | Should -BeLessOrEqual 250
        }

        It 'releases the lock when the change fails and is rolled back' {
            $null = Add-OldBinding
            Add-FakeFault -On update -Code 1312
            (Invoke-Phase -Case 'motivating' -Phase 'apply').Json.outcome | Should -Be 'rolled_back'
            Test-Path -LiteralPath $global:FakeLockPath | Should -BeFalse
        }
    }

    Describe 'elevation' {
        It '<Phase> refuses early when not elevated' -ForEach @(@{ Phase = 'prepare' }, @{ Phase = 'apply' }) {
            $null = Add-OldBinding
            Mock Test-SslElevated { $false }
            $run = Invoke-Phase -Case 'motivating' -Phase $Phase
            $run.Json.outcome | Should -Be 'refused'
            $run.Json.error | Should -Match 'must run elevated'
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'needs the Administrators group as well as the High or System label' {
            $networkService = @(
                'NT AUTHORITY\NETWORK SERVICE    Well-known group S-1-5-20     Mandatory group, Enabled by default, Enabled group',
                'BUILTIN\Users                   Alias            S-1-5-32-545 Mandatory group, Enabled by default, Enabled group',
                'Mandatory Label\System Mandatory Level Label     S-1-16-16384'
            )
            $administrator = @(
                'BUILTIN\Administratoren         Alias            S-1-5-32-544 Obligatorische Gruppe, Standardmaessig aktiviert, Aktivierte Gruppe, Gruppenbesitzer',
                'Verbindliche Beschriftung\Hohe Verbindlichkeitsstufe Bezeichnung S-1-16-12288'
            )
            $filtered = @(
                'BUILTIN\Administrators          Alias            S-1-5-32-544 Group used for deny only',
                'Mandatory Label\Medium Mandatory Level Label     S-1-16-8192'
            )
            Test-SslAdministratorGroups -Line $networkService | Should -BeFalse
            Test-SslAdministratorGroups -Line $filtered | Should -BeFalse
            Test-SslAdministratorGroups -Line $administrator | Should -BeTrue
            Test-SslAdministratorGroups -Line @() | Should -BeFalse
        }

        It '<Phase> refuses a 32-bit session on 64-bit Windows, naming the 64-bit endpoint' -ForEach @(@{ Phase = 'prepare' }, @{ Phase = 'verify' }, @{ Phase = 'apply' }) {
            $null = Add-OldBinding
            Mock Get-SslWowArchitecture { 'AMD64' }
            $run = Invoke-Phase -Case 'motivating' -Phase $Phase
            $run.Json.outcome | Should -Be 'refused'
            $run.Json.error | Should -Match 'needs 64-bit PowerShell: this is a 32-bit session on 64-bit Windows \(PROCESSOR_ARCHITEW6432=AMD64, e\.g\. the Microsoft\.PowerShell32 endpoint\); connect to the 64-bit endpoint'
            Get-ChangingCall | Should -BeNullOrEmpty
            @($global:FakeCalls) | Should -BeNullOrEmpty
        }

        It 'says yes off Windows, where the lab runs' -Skip:$IsWindows {
            # the real function, not the mock
            & (Get-Command -Name Test-SslElevated -CommandType Function) | Should -BeTrue
        }
    }

    Describe 'confirmation' {
        BeforeAll {
            function New-FakeCmdlet {
                # A $PSCmdlet stand-in whose ShouldProcess answers no or fails like a prompt without a UI.
                param([switch]$Throw)
                $cmdlet = [pscustomobject]@{ Throw = [bool]$Throw }
                $cmdlet | Add-Member -MemberType ScriptMethod -Name ShouldProcess -Value {
                    param($Target, $Action)
                    if ($this.Throw) { throw 'PromptingException: the host does not support user interaction' }
                    return $false
                }
                return $cmdlet
            }
            $script:SslChange = [ordered]@{ change_id = 'C'; title = 't'; spec_sha256 = 's'; tool_version = 'v' }
            $Spec = @{ Kind = 'ipport'; Key = '0.0.0.0:443'; Mode = 'exact'; Method = 'netsh'; Settings = @{ certhash = $Hash; appid = $AppId } }
        }

        It '<Phase> reports <Outcome> when asking <How>' -ForEach @(
            @{ Phase = 'apply'; How = 'is declined'; Throw = $false; Outcome = 'declined' }
            @{ Phase = 'apply'; How = 'fails'; Throw = $true; Outcome = 'refused' }
            @{ Phase = 'rollback'; How = 'is declined'; Throw = $false; Outcome = 'declined' }
            @{ Phase = 'rollback'; How = 'fails'; Throw = $true; Outcome = 'refused' }
        ) {
            $null = Add-OldBinding
            $result = New-SslResult -Phase $Phase -TargetHost 'h'
            if ($Phase -eq 'apply') {
                Invoke-SslApplyPhase -Cmdlet (New-FakeCmdlet -Throw:$Throw) -Result $result -Binding @($Spec) -ExpectedPrior ''
            }
            else {
                $prior = '[{"kind":"ipport","key":"0.0.0.0:443","exists":false}]'
                Invoke-SslRollbackPhase -Cmdlet (New-FakeCmdlet -Throw:$Throw) -Result $result -Binding @($Spec) -Prior $prior
            }
            $result.outcome | Should -Be $Outcome
            if ($Throw) { $result.error | Should -Match 'could not ask for confirmation' }
            Get-ChangingCall | Should -BeNullOrEmpty
        }
    }

    Describe 'method registry' {
        It 'writes DefaultSslCertCheckMode, says a restart is needed and verifies the value' {
            $path = Add-OldBinding -Extra ([ordered]@{ usagecheck = 'disable' })
            $run = Invoke-Phase -Case 'registry' -Phase 'apply'
            $run.Thrown | Should -BeNullOrEmpty
            $run.Json.outcome | Should -Be 'applied'
            $global:FakeRegistryWrites | Should -Be @($path + ' DefaultSslCertCheckMode=65537')
            $run.Json.notes[0] | Should -Match 'only after the HTTP service or the server restarts'
            $run.Json.bindings[0].restart_required | Should -BeTrue
            Get-ChangingCall | Should -BeNullOrEmpty
            (Invoke-Phase -Case 'registry' -Phase 'verify').Json.outcome | Should -Be 'compliant'
        }

        It 'rolls the value back' {
            $null = Add-OldBinding
            $prior = (Invoke-Phase -Case 'registry' -Phase 'prepare').Output[0]
            $null = Invoke-Phase -Case 'registry' -Phase 'apply'
            $run = Invoke-Phase -Case 'registry' -Phase 'rollback' -Parameters @{ Prior = $prior }
            $run.Json.outcome | Should -Be 'rolled_back'
            (Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443')['DefaultSslCertCheckMode'] | Should -Be 0
        }

        It 'refuses when the binding does not exist' {
            (Invoke-Phase -Case 'registry' -Phase 'apply').Json.error | Should -Match 'needs an existing binding'
        }

        It 'reports drift in the registry value' {
            $null = Add-OldBinding
            $run = Invoke-Phase -Case 'registry' -Phase 'verify'
            $run.Json.differences[0].setting | Should -Be 'DefaultSslCertCheckMode'
            $run.Json.differences[0].expected | Should -Be 1
        }
    }

    Describe 'bits no netsh parameter sets' {
        BeforeAll {
            function Set-DesiredRawBinding {
                # The motivating binding as desired, plus raw bit values netsh cannot write.
                param([long]$Flags = 0, [long]$CheckMode = 1, [string]$Hex = $Hash)
                $values = [ordered]@{
                    SslCertHash = (ConvertTo-FakeHashByte -Hex $Hex); AppId = ([guid]$AppId).ToByteArray(); SslCertStoreName = 'My'
                    DefaultSslCertCheckMode = [int]$CheckMode; DefaultFlags = [int]$Flags
                }
                return (Set-FakeRawBinding -Kind 'ipport' -Key '0.0.0.0:443' -Values $values)
            }
        }

        It 'captures, names and verifies a binding carrying DefaultFlags <Bit>' -ForEach @(
            @{ Bit = 0x8000; Name = 'DefaultFlags 0x8000 ENABLE_CACHE_CLIENT_HELLO (netsh: Enable Caching Client Hello)' }
            @{ Bit = 0x2000; Name = 'DefaultFlags 0x2000 ENABLE_CLIENT_CORRELATION' }
            @{ Bit = 0x4; Name = 'DefaultFlags 0x4 NO_RAW_FILTER' }
            @{ Bit = -2147483648; Name = 'DefaultFlags 0x80000000 (unnamed)' }
        ) {
            $null = Set-DesiredRawBinding -Flags $Bit
            $run = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $run.Json.outcome | Should -Be 'unchanged'
            @($run.Json.before[0].registry.extra) | Should -Contain $Name
            (Invoke-Phase -Case 'motivating' -Phase 'verify').Json.outcome | Should -Be 'compliant'
            (Invoke-Phase -Case 'motivating' -Phase 'apply').Json.outcome | Should -Be 'unchanged'
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'captures an unnamed check-mode bit by value' {
            $null = Set-DesiredRawBinding -CheckMode 0x21
            $run = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $run.Json.outcome | Should -Be 'unchanged'
            @($run.Json.before[0].registry.extra) | Should -Be @('DefaultSslCertCheckMode 0x20 (unnamed)')
        }

        It 'refuses, naming the bit, a change that would re-create such a binding, before touching anything' {
            $null = Set-DesiredRawBinding -Flags 0x8000 -Hex $OldHash
            foreach ($phase in @('prepare', 'apply')) {
                $run = Invoke-Phase -Case 'motivating' -Phase $phase
                $run.Json.outcome | Should -Be 'refused'
                $run.Json.error | Should -Match 'DefaultFlags 0x8000 ENABLE_CACHE_CLIENT_HELLO.*no netsh parameter can set'
            }
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'keeps the rest of the check-mode value through a method registry write' {
            $path = Set-DesiredRawBinding -CheckMode 0x24 -Hex $OldHash
            $run = Invoke-Phase -Case 'registry' -Phase 'apply'
            $run.Json.outcome | Should -Be 'applied'
            $global:FakeRegistryWrites | Should -Be @($path + ' DefaultSslCertCheckMode=37')
            (Invoke-Phase -Case 'registry' -Phase 'verify').Json.outcome | Should -Be 'compliant'
        }

        It 'neither refuses nor reports drift for check-mode bit 0x4 <How>' -ForEach @(
            @{ How = 'without a freshness time'; CheckMode = 0x5; Freshness = 0 }
            @{ How = 'missing beside a freshness time'; CheckMode = 0x1; Freshness = 3600 }
        ) {
            $values = [ordered]@{
                SslCertHash = (ConvertTo-FakeHashByte -Hex $Hash); AppId = ([guid]$AppId).ToByteArray(); SslCertStoreName = 'My'
                DefaultSslCertCheckMode = $CheckMode; DefaultSslRevocationFreshnessTime = $Freshness
            }
            $null = Set-FakeRawBinding -Kind 'ipport' -Key '0.0.0.0:443' -Values $values
            $run = Invoke-Phase -Case 'motivating' -Phase 'prepare'
            $run.Json.error | Should -BeNullOrEmpty
            (Invoke-Phase -Case 'motivating' -Phase 'verify').Json.outcome | Should -Be 'compliant'
        }

        It 'keeps the current binding when the prior carries a bit netsh cannot set' {
            $null = Set-DesiredRawBinding -Flags 0x8000 -Hex $OldHash
            $prior = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            Reset-FakeHost
            Add-FakeCertificate -Store 'My' -Thumbprint $Hash -Usage @('1.3.6.1.5.5.7.3.1')
            Add-FakeCertificate -Store 'My' -Thumbprint $OldHash
            $null = Add-FakeBinding -Kind 'ipport' -Key '0.0.0.0:443' -Settings ([ordered]@{ certhash = $Hash; appid = $AppId; certstorename = 'My'; verifyclientcertrevocation = 'disable' })
            $run = Invoke-Phase -Case 'motivating' -Phase 'rollback' -Parameters @{ Prior = $prior }
            $run.Json.outcome | Should -Be 'rollback_failed'
            $run.Json.error | Should -Match 'not restored, the current binding is kept.*0x8000'
            Get-ChangingCall | Should -BeNullOrEmpty
        }
    }

    Describe 'scoped CCS' {
        It 'adds, captures, verifies and deletes a binding without a certhash' {
            $run = Invoke-Phase -Case 'scopedccs' -Phase 'apply'
            $run.Json.error | Should -BeNullOrEmpty
            $run.Json.outcome | Should -Be 'applied'
            Get-ChangingCall | Should -Be @('netsh http add sslcert scopedccs=www.contoso.com:443 appid={4dc3e181-e14b-4a21-b022-59fc669b0914}')
            $run.Json.after[0].settings.certhash | Should -BeNullOrEmpty
            (Invoke-Phase -Case 'scopedccs' -Phase 'verify').Json.outcome | Should -Be 'compliant'
            (Invoke-Phase -Case 'scopedccs' -Phase 'delete').Json.outcome | Should -Be 'deleted'
        }
    }

    Describe 'pre-flight' {
        It '<Phase> reports the language mode, version and elevation it ran with' -ForEach @(
            @{ Phase = 'prepare' }, @{ Phase = 'verify' }, @{ Phase = 'apply' }
        ) {
            $run = Invoke-Phase -Case 'motivating' -Phase $Phase
            $run.Json.host_facts.language_mode | Should -Be $env:SSLBIND_PESTER_LANGUAGE
            $run.Json.host_facts.powershell | Should -Match '^\d+\.\d+'
            $run.Json.host_facts.elevated | Should -BeTrue
        }

        It '<Phase> refuses when not elevated, with nothing touched' -ForEach @(
            @{ Phase = 'delete' }, @{ Phase = 'add' }, @{ Phase = 'rollback' }
        ) {
            $null = Add-OldBinding
            $prior = (Invoke-Phase -Case 'motivating' -Phase 'prepare').Output[0]
            Mock Test-SslElevated { $false }
            $parameters = @{}
            if ($Phase -eq 'rollback') { $parameters = @{ Prior = $prior } }
            $run = Invoke-Phase -Case 'motivating' -Phase $Phase -Parameters $parameters
            $run.Json.outcome | Should -Be 'refused'
            $run.Json.error | Should -Match 'must run elevated'
            Get-ChangingCall | Should -BeNullOrEmpty
        }

        It 'verify runs unelevated and says so' {
            Mock Test-SslElevated { $false }
            $run = Invoke-Phase -Case 'motivating' -Phase 'verify'
            $run.Json.outcome | Should -Be 'drift'
            $run.Json.host_facts.elevated | Should -BeFalse
        }

        It 'refuses PowerShell before 5.1 with a JSON result' {
            $result = New-SslResult -Phase 'apply' -TargetHost 'h'
            Test-SslPreflight -Result $result -RequireElevation -Version ([version]'4.0') | Should -BeFalse
            $result.outcome | Should -Be 'refused'
            $result.error | Should -Match 'needs PowerShell 5.1 or later \(this host runs 4.0\)'
        }
    }

    Describe 'runs by hand' {
        It 'leaves the result of a failed run beside the script, never overwriting one' {
            $null = Add-OldBinding
            Add-FakeFault -On update -Code 1312
            $folder = Join-Path $Rendered 'motivating/hosts/motivating'
            Get-ChildItem -LiteralPath $folder -Filter 'apply-*.json' | Remove-Item
            $first = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $second = Invoke-Phase -Case 'motivating' -Phase 'apply'
            $first.Json.outcome | Should -Be 'rolled_back'
            $saved = @(Get-ChildItem -LiteralPath $folder -Filter 'apply-*.json' | Sort-Object -Property Name)
            $saved.Count | Should -Be 2
            $saved[0].Name | Should -Match '^apply-\d{8}T\d{9}Z(-\d+)?\.json$'
            (Get-Content -Raw -LiteralPath $saved[0].FullName | ConvertFrom-Json).outcome | Should -Be 'rolled_back'
            (Get-Content -Raw -LiteralPath $saved[0].FullName | ConvertFrom-Json).before[0].settings.certhash | Should -Be $OldHash
            $second.Json.outcome | Should -Be 'applied'
        }
    }

    Describe 'help' {
        It '<Phase>.ps1 has a synopsis, a description naming netsh, help for every parameter and a -WhatIf example' -ForEach @(
            @{ Phase = 'prepare' }, @{ Phase = 'delete' }, @{ Phase = 'add' }, @{ Phase = 'verify' }, @{ Phase = 'rollback' }, @{ Phase = 'apply' }
        ) {
            $path = Join-Path $Rendered ('motivating/hosts/motivating/' + $Phase + '.ps1')
            $help = Get-Help -Name $path -Full
            $help.Synopsis | Should -Not -BeNullOrEmpty
            ($help.description | Out-String) | Should -Match 'netsh'
            ($help.examples | Out-String) | Should -Match '-WhatIf'
            ($help.alertSet | Out-String) | Should -Match 'MOTIVATING'
            foreach ($parameter in $help.parameters.parameter) {
                if ($parameter.name -notin @('WhatIf', 'Confirm')) {
                    ($parameter.description | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because $parameter.name
                }
            }
        }
    }
}
