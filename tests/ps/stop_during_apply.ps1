<#
.SYNOPSIS
Stops apply.ps1 while netsh add hangs (after the delete) and reports whether the host got its
binding back: the stopped pipeline skips catch, so apply.ps1's finally block must restore it.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Library,
    [Parameter(Mandatory = $true)][string]$Script
)
$ErrorActionPreference = 'Stop'
$fake = Join-Path $PSScriptRoot 'FakeHost.ps1'
$runspace = [runspacefactory]::CreateRunspace()
$runspace.Open()
$signal = [hashtable]::Synchronized(@{ Hanging = $false })
$setup = [powershell]::Create()
$setup.Runspace = $runspace
$null = $setup.AddScript({
        param($Library, $Fake, $Signal)
        $global:FakeSignal = $Signal
        . $Library
        . $Fake
        Reset-FakeHost
        Enable-FakeHostAlias
        Add-FakeCertificate -Store 'My' -Thumbprint '40db5bb1bf5659a155258d1d007c530fcb8996c2'
        Add-FakeCertificate -Store 'My' -Thumbprint '1111111111111111111111111111111111111111'
        $null = Add-FakeBinding -Kind 'ipport' -Key '0.0.0.0:443' -Settings ([ordered]@{
                certhash = '1111111111111111111111111111111111111111'; appid = '{4dc3e181-e14b-4a21-b022-59fc669b0914}'
                certstorename = 'My'; dsmapperusage = 'enable'
            })
        $global:FakeBefore = @((Get-FakeBindingValue -Kind 'ipport' -Key '0.0.0.0:443').GetEnumerator() | ForEach-Object { $_.Key + '=' + ($_.Value -join ',') })
        $global:FakeHanging = $false
        Add-FakeFault -On 'add' -Code -30
    }).AddArgument($Library).AddArgument($Fake).AddArgument($signal).Invoke()

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
            calls = @($global:FakeCalls)
            before = $global:FakeBefore
            after = @(if ($null -ne $after) { $after.GetEnumerator() | ForEach-Object { $_.Key + '=' + ($_.Value -join ',') } })
        } | ConvertTo-Json -Compress
    })
$check.Invoke()
