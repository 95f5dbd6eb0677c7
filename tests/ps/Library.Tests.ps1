<#
The SslBind library module the host scripts load: run from files (library loaded by path, its hash
checked) and as the remote client sends it (library statement, then the script with
-LibraryPreloaded, no lib folder on the host); a library with the wrong hash is refused.
#>

Describe 'SslBind library' {
    BeforeAll {
        $Rendered = $env:SSLBIND_RENDERED
        . (Join-Path $Rendered 'lib.ps1')
        . (Join-Path $PSScriptRoot 'FakeHost.ps1')
        # No Pester mocks: they cannot reach into the module the scripts import (least of all an
        # untrusted one in ConstrainedLanguage). Global aliases do: they win over its functions.
        Enable-FakeHostAlias
        function global:Test-FakeElevated { $true }
        function global:Wait-FakeNothing { }
        function global:Invoke-FakeTlsHandshake { [ordered]@{ ok = $null; thumbprint = $null; protocol = $null; client_cert_requested = $null; error = 'not checked: no TLS front in this test' } }
        Set-Alias -Name Test-SslElevated -Value Test-FakeElevated -Scope Global
        Set-Alias -Name Wait-SslRetry -Value Wait-FakeNothing -Scope Global
        Set-Alias -Name Wait-SslLock -Value Wait-FakeNothing -Scope Global
        Set-Alias -Name Invoke-SslTlsHandshake -Value Invoke-FakeTlsHandshake -Scope Global
        $global:FakeLockPath = Get-FakeLockPath

        $Hash = '40db5bb1bf5659a155258d1d007c530fcb8996c2'
        $OldHash = '1111111111111111111111111111111111111111'
        $AppId = '{4dc3e181-e14b-4a21-b022-59fc669b0914}'
        $LibraryStatement = Join-Path $Rendered 'psrp-library.ps1'
        $ModuleHash = (Get-FileHash -Algorithm SHA256 -LiteralPath (Join-Path $Rendered 'motivating/lib/SslBind/SslBind.psm1')).Hash.ToLowerInvariant()

        $script:FullLanguageRunner = {
            param([string]$ScriptPath, [hashtable]$Parameters)
            $out = @()
            $err = $null
            try {
                & $ScriptPath @Parameters | ForEach-Object { $out += , $_ }
            }
            catch {
                $err = $_
            }
            return @{ Output = $out; Error = $err }
        }
        # What run_pester.ps1 binds to ConstrainedLanguage as $global:SslPesterPsrpRunner.
        $script:FullLanguagePsrpRunner = {
            param([string]$LibraryStatement, [string]$ScriptPath, [hashtable]$Parameters)
            $out = @()
            $err = $null
            try {
                . $LibraryStatement
                & $ScriptPath @Parameters -LibraryPreloaded | ForEach-Object { $out += , $_ }
            }
            catch {
                $err = $_
            }
            return @{ Output = $out; Error = $err }
        }

        function ConvertTo-Run {
            param($Run)
            $output = @($Run.Output)
            $thrown = $null
            if ($null -ne $Run.Error) {
                $thrown = $Run.Error.Exception.Message
            }
            $json = $null
            if ($output.Count -eq 1) {
                $json = ConvertFrom-Json -InputObject ([string]$output[0])
            }
            return [pscustomobject]@{ Output = $output; Json = $json; Thrown = $thrown }
        }

        function Invoke-FromFile {
            # The host script from its file; it loads ..\..\lib\SslBind by path after checking its hash.
            param([string]$Path, [hashtable]$Parameters = @{})
            $arguments = @{ InformationAction = 'Ignore'; Confirm = $false } + $Parameters
            $runner = Get-Variable -Name SslPesterFileRunner -Scope Global -ValueOnly -ErrorAction SilentlyContinue
            if ($null -eq $runner) {
                $runner = $script:FullLanguageRunner
            }
            return (ConvertTo-Run -Run (& $runner $Path $arguments))
        }

        function Invoke-AsSent {
            # As the remote client sends it: the library statement, then the script (a copy with no
            # lib folder beside it, as on a host) with -LibraryPreloaded.
            param([string]$Case, [string]$Phase, [hashtable]$Parameters = @{})
            $path = Join-Path $Rendered ('psrp/' + $Case + '/hosts/' + $Case + '/' + $Phase + '.ps1')
            $arguments = @{ InformationAction = 'Ignore'; Confirm = $false } + $Parameters
            $runner = Get-Variable -Name SslPesterPsrpRunner -Scope Global -ValueOnly -ErrorAction SilentlyContinue
            if ($null -eq $runner) {
                $runner = $script:FullLanguagePsrpRunner
            }
            return (ConvertTo-Run -Run (& $runner $LibraryStatement $path $arguments))
        }

        function Get-CasePath {
            param([string]$Case, [string]$Phase)
            return (Join-Path $Rendered ($Case + '/hosts/' + $Case + '/' + $Phase + '.ps1'))
        }

        function Copy-Case {
            # A copy of a case's record to tamper with.
            param([string]$Case)
            $folder = Join-Path $TestDrive ([guid]::NewGuid().ToString())
            $null = New-Item -ItemType Directory -Path $folder
            Copy-Item -LiteralPath (Join-Path $Rendered $Case) -Destination $folder -Recurse
            return (Join-Path $folder $Case)
        }

        function Get-ChangingCall {
            @($global:FakeCalls | Where-Object { $_ -match '^netsh http (add|delete|update) ' -and $_ -notmatch '/\?' -and $_ -notmatch 'ipport=127\.0\.0\.1:' })
        }
    }

    AfterAll {
        # The aliases must not outlive this file: the other suites mock these names with Pester.
        foreach ($name in @('Test-SslRegistryKey', 'Get-SslRegistrySubkeyName', 'Get-SslRegistryValue', 'Set-SslRegistryDword', 'Get-SslStoreCertificate', 'netsh', 'Test-SslPortListening', 'Get-SslLockPath', 'Get-SslLockFolderFacts', 'Test-SslElevated', 'Wait-SslRetry', 'Wait-SslLock', 'Invoke-SslTlsHandshake')) {
            while (@(Get-Alias -Scope Global | Where-Object { $_.Name -eq $name }).Count -gt 0) {
                Remove-Alias -Name $name -Scope Global
            }
        }
    }

    BeforeEach {
        Remove-Item -LiteralPath $global:FakeLockPath -ErrorAction SilentlyContinue
        Reset-FakeHost
        Add-FakeCertificate -Store 'My' -Thumbprint $Hash -Usage @('1.3.6.1.5.5.7.3.1')
        Add-FakeCertificate -Store 'My' -Thumbprint $OldHash
        $null = Add-FakeBinding -Kind 'ipport' -Key '0.0.0.0:443' -Settings ([ordered]@{ certhash = $OldHash; appid = $AppId; certstorename = 'My' })
    }

    It 'runs prepare, apply, verify and rollback <Way>' -ForEach @(
        @{ Way = 'from their files (library loaded by path)'; Sent = $false; Loaded = 'file' }
        @{ Way = 'as the remote client sends them (library statement first)'; Sent = $true; Loaded = 'preloaded' }
    ) {
        $run = { param($Phase, $Parameters) if ($Sent) { Invoke-AsSent -Case 'motivating' -Phase $Phase -Parameters $Parameters } else { Invoke-FromFile -Path (Get-CasePath -Case 'motivating' -Phase $Phase) -Parameters $Parameters } }
        $prepared = & $run 'prepare' @{}
        $prepared.Thrown | Should -BeNullOrEmpty
        $prepared.Json.outcome | Should -Be 'changes_pending'
        $prepared.Json.library.version | Should -Not -BeNullOrEmpty
        $prepared.Json.library.sha256 | Should -Be $ModuleHash
        $prepared.Json.library.loaded | Should -Be $Loaded
        $priorJson = [string]$prepared.Output[0]

        $whatIf = & $run 'apply' @{ ExpectedPrior = $priorJson; WhatIf = $true }
        $whatIf.Json.outcome | Should -Be 'unchanged'
        $whatIf.Json.whatif | Should -BeTrue
        Get-ChangingCall | Should -BeNullOrEmpty

        $applied = & $run 'apply' @{ ExpectedPrior = $priorJson }
        $applied.Thrown | Should -BeNullOrEmpty
        $applied.Json.outcome | Should -Be 'applied'
        (Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443')['DefaultSslCertCheckMode'] | Should -Be 1

        (& $run 'verify' @{}).Json.outcome | Should -Be 'compliant'

        $rolledBack = & $run 'rollback' @{ Prior = $priorJson }
        $rolledBack.Thrown | Should -BeNullOrEmpty
        $rolledBack.Json.outcome | Should -Be 'rolled_back'
        (Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443').Contains('DefaultSslCertCheckMode') | Should -BeFalse
    }

    It 'refuses a library whose <File> has the wrong hash, with nothing done' -ForEach @(
        @{ File = 'SslBind.psm1' }
        @{ File = 'SslBind.psd1' }
    ) {
        $copy = Copy-Case -Case 'motivating'
        $target = Join-Path $copy ('lib/SslBind/' + $File)
        Add-Content -LiteralPath $target -Value '# one more line' -Encoding ascii
        $run = Invoke-FromFile -Path (Join-Path $copy 'hosts/motivating/apply.ps1')
        $run.Output | Should -BeNullOrEmpty
        $run.Thrown | Should -Match ([regex]::Escape($File) + ' is SHA-256 [0-9a-f]{64}, not the SHA-256 [0-9a-f]{64} this script was rendered against; refusing to run it \(nothing was changed\)')
        $global:FakeCalls.Count | Should -Be 0
    }

    It 'refuses when the library folder is missing beside the script' {
        $copy = Copy-Case -Case 'motivating'
        Remove-Item -LiteralPath (Join-Path $copy 'lib') -Recurse
        $run = Invoke-FromFile -Path (Join-Path $copy 'hosts/motivating/prepare.ps1')
        $run.Output | Should -BeNullOrEmpty
        $run.Thrown | Should -Match 'SslBind.psm1 is missing, not the SHA-256 [0-9a-f]{64} this script was rendered against; refusing to run it \(nothing was changed\)'
    }

    It 'refuses a loaded library of another version than the script was rendered for' {
        $copy = Copy-Case -Case 'motivating'
        $path = Join-Path $copy 'hosts/motivating/prepare.ps1'
        $text = (Get-Content -Raw -LiteralPath $path) -replace "(?m)^    Version = '[^']*'", "    Version = '9.9.9'"
        Set-Content -LiteralPath $path -Value $text -NoNewline -Encoding ascii
        $run = Invoke-FromFile -Path $path
        $run.Output | Should -BeNullOrEmpty
        $run.Thrown | Should -Match 'rendered for library SslBind 9\.9\.9 but SslBind \S+ is loaded; refusing to run'
        $global:FakeCalls.Count | Should -Be 0
    }

    It 'saves a by-hand result beside the script' {
        $copy = Copy-Case -Case 'motivating'
        $folder = Join-Path $copy 'hosts/motivating'
        Get-ChildItem -LiteralPath $folder -Filter '*.json' | Remove-Item
        $run = Invoke-FromFile -Path (Join-Path $folder 'prepare.ps1')
        $run.Json.outcome | Should -Be 'changes_pending'
        @(Get-ChildItem -LiteralPath $folder -Filter 'prepare-*.json').Count | Should -Be 1
    }
}
