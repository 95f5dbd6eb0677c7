<#
.SYNOPSIS
    Which certificate a TLS handshake from this host receives, per SSL binding (read-only), for
    `sslbind doctor` and `sslbind import --host`.
.DESCRIPTION
    Runs after the pipeline's first statement, which loads the SslBind library functions this
    script calls (Invoke-SslTlsSeen and what it calls, cut verbatim from the library by
    generator/pslibrary.py Library.excerpt): the endpoints, the handshake (Invoke-SslTlsHandshake:
    short timeout, no HTTP request, the certificate only read) and the naming of a binding that
    answers instead are the ones apply, verify and rollback use. -Bindings are the host's bindings
    as sslbind decoded them from the registry: @{ kind; key; subject; port; certhash (the
    certificate the binding should serve, $null for central-store kinds) }.
    In ConstrainedLanguage no handshake is made: every binding is 'not checked: ConstrainedLanguage'.
    Emits one JSON object: { collector, language_mode, tls: [ one entry per endpoint ], notes }.
#>
[CmdletBinding()]
param([AllowEmptyCollection()][object[]]$Bindings = @())
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

$result = @{ tls = @(); notes = @() }
$items = @()
foreach ($binding in $Bindings) {
    $spec = @{ Kind = [string]$binding.kind; Key = [string]$binding.key; Subject = [string]$binding.subject }
    $items += , @{ Spec = $spec; Expected = $binding.certhash; Prior = $null }
}
$null = Invoke-SslTlsSeen -Result $result -Items $items -PortBinding {
    param([int]$Port)
    $Bindings | Where-Object { [int]$_.port -eq $Port }
}
[ordered]@{
    collector = 'sslbind-served'
    language_mode = [string]$ExecutionContext.SessionState.LanguageMode
    tls = $result.tls
    notes = $result.notes
} | ConvertTo-Json -Depth 6 -Compress
