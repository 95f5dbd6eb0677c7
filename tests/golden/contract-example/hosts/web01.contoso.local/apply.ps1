<#
.SYNOPSIS
Applies this change to this host as one transaction; on any failure it restores the prior bindings.

.DESCRIPTION
One transaction: capture (with -ExpectedPrior, refuse if the host moved), prove every undo,
trial-bind each new certificate, change each binding (update in place where netsh can, else
delete+add), verify, and on any failure restore. Outcome: applied, unchanged, rolled_back,
rollback_failed, refused or declined (failures throw).
Run it elevated, from this record (see its README.md).

.PARAMETER Binding
This host's bindings; Method netsh and Swap auto unless named.

.PARAMETER TargetHost
This host's name in the spec, for the result.

.PARAMETER ExpectedPrior
Optional: prepare.ps1's JSON output (or its 'before' list); if the host differs, nothing is touched.

.PARAMETER AcceptNoUndo
Go ahead although a binding could not be put back as it was (its old certificate is gone).

.PARAMETER LockWait
Seconds to wait while another sslbind phase holds this host (its host lock); then the script is
refused with nothing changed.

.PARAMETER LibraryPreloaded
Only for sslbind's client, which sends the checked library first.

.EXAMPLE
$null = .\apply.ps1 -ExpectedPrior $prepared -OutVariable result
Applies the change (asks once; -WhatIf prints the commands, changes nothing) unless the host moved
since prepare.ps1 ran. -OutVariable keeps the result when the script throws; it is also saved
beside the script as apply-<UTC stamp>.json.

.NOTES
Change CHG0012345, host web01.contoso.local, phase apply, sslbind 0.0.0-golden, library SslBind 0.0.0-golden
Spec SHA-256:         5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f
SslBind.psm1 SHA-256: 0d85e4fe7d9794bd26cc79bbcd9441a7ac8ac248854064238526a78c2e55041b
SslBind.psd1 SHA-256: 3a5f8ef1d0737da5d8a913e775f9ffd87cd38a8e21a14f35529381f4de801345
#>

#Requires -Version 5.1
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
param(
    [hashtable[]]
    $Binding = @(
        @{ Kind = 'ipport'; Key = '0.0.0.0:443'; Mode = 'preserve'; Settings = @{ certhash = '40db5bb1bf5659a155258d1d007c530fcb8996c2'; appid = '{4dc3e181-e14b-4a21-b022-59fc669b0914}'; certstorename = 'My'; verifyclientcertrevocation = 'disable' } }
        @{ Kind = 'hostnameport'; Key = 'api.contoso.com:443'; Mode = 'preserve'; Settings = @{ certhash = '40db5bb1bf5659a155258d1d007c530fcb8996c2'; certstorename = 'WebHosting' } }
    ),

    [string]
    $TargetHost = 'web01.contoso.local',

    [AllowEmptyString()]
    [string]
    $ExpectedPrior = '',

    [switch]
    $AcceptNoUndo,

    [ValidateRange(0, 3600)]
    [int]
    $LockWait = 60,

    [switch]
    $LibraryPreloaded
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

# The library this script was rendered against; one that differs is refused.
$sslLibrary = [ordered]@{
    Version = '0.0.0-golden'
    Sha256 = '0d85e4fe7d9794bd26cc79bbcd9441a7ac8ac248854064238526a78c2e55041b'
    Loaded = 'file'
}
if ($LibraryPreloaded) {
    $sslLibrary.Loaded = 'preloaded'
}
elseif ($PSScriptRoot) {
    $sslFolder = Join-Path -Path $PSScriptRoot -ChildPath '..\..\lib\SslBind'
    foreach ($sslPin in @(@('SslBind.psm1', $sslLibrary.Sha256), @('SslBind.psd1', '3a5f8ef1d0737da5d8a913e775f9ffd87cd38a8e21a14f35529381f4de801345'))) {
        $sslFile = Join-Path -Path $sslFolder -ChildPath $sslPin[0]
        $sslFound = 'missing'
        if (Test-Path -LiteralPath $sslFile -PathType Leaf) {
            $sslFound = 'SHA-256 ' + (Get-FileHash -Algorithm SHA256 -LiteralPath $sslFile).Hash.ToLowerInvariant()
        }
        if ($sslFound -ne 'SHA-256 ' + $sslPin[1]) {
            throw ('sslbind: ' + $sslFile + ' is ' + $sslFound + ', not the SHA-256 ' + $sslPin[1] + ' this script was rendered against; refusing to run it (nothing was changed)')
        }
    }
    Import-Module -Name (Join-Path -Path $sslFolder -ChildPath 'SslBind.psd1') -Force
}
else {
    throw 'sslbind: run this script from its file in the change record (nothing was changed)'
}

# A module does not see its caller's preferences: they go along.
$sslChange = [ordered]@{ change_id = 'CHG0012345'; title = 'Renew api.contoso.com certificate, keep client-cert revocation check off'; spec_sha256 = '5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f'; tool_version = '0.0.0-golden' }
$sslPreference = @{ WhatIf = $WhatIfPreference; Confirm = $ConfirmPreference; Information = $InformationPreference; Verbose = $VerbosePreference; Bound = $PSBoundParameters }
Invoke-SslPhase -Phase 'apply' -Cmdlet $PSCmdlet -Library $sslLibrary -Change $sslChange -Preference $sslPreference -Binding $Binding -TargetHost $TargetHost -LockWait $LockWait -ScriptPath $PSCommandPath -ExpectedPrior $ExpectedPrior -AcceptNoUndo:$AcceptNoUndo