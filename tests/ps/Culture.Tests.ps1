<#
Text that leaves a host must not depend on the session's culture or code page: the importers'
certs.ps1 formats dates in the invariant culture (as the library's core.ps1 does), and a result
saved by hand keeps non-ASCII netsh text and certificate subjects (issue 20, part 4).
#>

Describe 'culture and encoding of what the scripts write' {
    BeforeAll {
        . (Join-Path $env:SSLBIND_RENDERED 'lib.ps1')
        $Certs = Join-Path $PSScriptRoot '../../generator/importers/certs.ps1'
        $Thumbprint = '40DB5BB1BF5659A155258D1D007C530FCB8996C2'
    }

    It 'certs.ps1 writes ISO 8601 dates in a culture whose time separator is not a colon' {
        $saved = [cultureinfo]::CurrentCulture
        Mock Test-Path { $true } -ParameterFilter { [string]$LiteralPath -like 'Cert:*' }
        Mock Get-ChildItem {
            [pscustomobject]@{
                Thumbprint = $Thumbprint; Subject = 'CN=www.contoso.com'; HasPrivateKey = $true
                NotBefore = [datetime]::new(2026, 1, 2, 3, 4, 5, [System.DateTimeKind]::Utc)
                NotAfter = [datetime]::new(2027, 1, 2, 3, 4, 5, [System.DateTimeKind]::Utc)
                EnhancedKeyUsageList = @()
            }
        } -ParameterFilter { [string]$LiteralPath -like 'Cert:*' }
        try {
            [cultureinfo]::CurrentCulture = [cultureinfo]::new('fi-FI')
            # the culture really differs: this is what the old code wrote
            [datetime]::new(2026, 1, 2, 3, 4, 5).ToString('HH:mm') | Should -Be '03.04'
            $json = & $Certs -Thumbprint $Thumbprint -Stores @('My')
        }
        finally {
            [cultureinfo]::CurrentCulture = $saved
        }
        $store = (ConvertFrom-Json -InputObject ([string]$json)).stores[0]
        $store.found | Should -BeTrue
        [string]$store.not_before | Should -Match '^(2026-01-02T03:04:05Z|01/02/2026 03:04:05)$'
        $json | Should -Match '"not_before":"2026-01-02T03:04:05Z"'
        $json | Should -Match '"not_after":"2027-01-02T03:04:05Z"'
    }

    It 'a result saved by hand keeps non-ASCII text' {
        $path = Join-Path $TestDrive 'apply-20260102T030405000Z.json'
        $text = '{"error":"Zertifikat f' + [char]0x00FC + 'r CN=M' + [char]0x00FC + 'nchen, ' + [char]0x65E5 + [char]0x672C + '"}'
        Set-SslResultFile -Path $path -Text $text | Should -BeTrue
        $bytes = [System.IO.File]::ReadAllBytes($path)
        $read = [System.Text.Encoding]::UTF8.GetString($bytes).TrimStart([char]0xFEFF).TrimEnd("`r", "`n")
        $read | Should -BeExactly $text
        $read | Should -Not -Match '\?'
        # never an overwrite
        Set-SslResultFile -Path $path -Text 'other' | Should -BeFalse
    }
}
