<#
.SYNOPSIS
Stops apply.ps1 while a netsh add hangs and reports the fake host's state afterwards.

.DESCRIPTION
-Hang live: on a host without 'update sslcert', the live add after the delete hangs; the stopped
pipeline skips catch, so apply.ps1's finally block must restore the binding.
-Hang trial: the trial bind's add on 127.0.0.1 hangs; its finally must delete the trial binding,
and nothing live may have been touched.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Library,
    [Parameter(Mandatory = $true)][string]$Script,
    [ValidateSet('live', 'trial')][string]$Hang = 'live'
)
$ErrorActionPreference = 'Stop'
$fake = Join-Path $PSScriptRoot 'FakeHost.ps1'
$runspace = [runspacefactory]::CreateRunspace()
$runspace.Open()
$signal = [hashtable]::Synchronized(@{ Hanging = $false })
$setup = [powershell]::Create()
$setup.Runspace = $runspace
$null = $setup.AddScript({
        param($Library, $Fake, $Signal, $Hang)
        $global:FakeSignal = $Signal
        . $Library
        . $Fake
        Reset-FakeHost -NoUpdate:($Hang -eq 'live')
        Enable-FakeHostAlias
        Add-FakeCertificate -Store 'My' -Thumbprint '40db5bb1bf5659a155258d1d007c530fcb8996c2'
        Add-FakeCertificate -Store 'My' -Thumbprint '1111111111111111111111111111111111111111'
        $null = Add-FakeBinding -Kind 'ipport' -Key '0.0.0.0:443' -Settings ([ordered]@{
                certhash = '1111111111111111111111111111111111111111'; appid = '{4dc3e181-e14b-4a21-b022-59fc669b0914}'
                certstorename = 'My'; dsmapperusage = 'enable'
            })
        $global:FakeBefore = @((Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443').GetEnumerator() | ForEach-Object { $_.Key + '=' + ($_.Value -join ',') })
        $global:FakeHanging = $false
        Add-FakeFault -On 'add' -Code -30 -Trial:($Hang -eq 'trial')
    }).AddArgument($Library).AddArgument($Fake).AddArgument($signal).AddArgument($Hang).Invoke()

$apply = [powershell]::Create()
$apply.Runspace = $runspace
$null = $apply.AddScript('param($Script) & $Script -Confirm:$false -InformationAction Ignore').AddArgument($Script)
$handle = $apply.BeginInvoke()
$deadline = (Get-Date).AddSeconds(60)
while ((Get-Date) -lt $deadline -and -not $handle.IsCompleted) {
    Start-Sleep -Milliseconds 200
    if ($signal['Hanging']) { break }
}
$apply.Stop()
$check = [powershell]::Create()
$check.Runspace = $runspace
$null = $check.AddScript({
        $after = Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443'
        [ordered]@{
            hung = $global:FakeHanging
            trial_left = @($global:FakeKeys.Keys | Where-Object { $_ -match '127\.0\.0\.1:' })
            lock_left = (Test-Path -LiteralPath (Get-FakeLockPath))
            calls = @($global:FakeCalls)
            before = $global:FakeBefore
            after = @(if ($null -ne $after) { $after.GetEnumerator() | ForEach-Object { $_.Key + '=' + ($_.Value -join ',') } })
        } | ConvertTo-Json -Compress
    })
$check.Invoke()
