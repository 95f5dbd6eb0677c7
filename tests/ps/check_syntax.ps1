<#
.SYNOPSIS
Parses PowerShell files with the real parser and reports parse errors and PowerShell-7-only syntax.

.DESCRIPTION
For each file listed (one path per line in -ListFile): ParseFile errors, then an AST walk for what
Windows PowerShell 5.1 cannot run: ternary, pipeline chains (&& ||), ?? and ??=, null-conditional
member/index access, the background operator &, clean blocks, and 7-only cmdlets and parameters.
Writes one JSON array: [{path, errors[], findings[]}].
#>
[CmdletBinding()]
param([Parameter(Mandatory = $true)][string]$ListFile)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

# Cmdlets absent from Windows PowerShell 5.1 (reference powershell-and-workflow.md B1).
$sevenOnlyCommands = @(
    'Join-String', 'Test-Json', 'Get-Uptime', 'Remove-Alias', 'Remove-Service', 'Get-Error',
    'ConvertFrom-Markdown', 'Show-Markdown', 'Get-MarkdownOption', 'Set-MarkdownOption',
    'ConvertTo-CliXml', 'ConvertFrom-CliXml', 'Get-SecureRandom', 'Get-PSSubsystem',
    'Enable-ExperimentalFeature', 'Disable-ExperimentalFeature', 'Get-ExperimentalFeature'
)
# Parameters 5.1 lacks on cmdlets it has.
$sevenOnlyParameters = @{
    'ForEach-Object' = @('Parallel', 'ThrottleLimit', 'TimeoutSeconds', 'AsJob', 'UseNewRunspace')
    'ConvertFrom-Json' = @('AsHashtable', 'Depth', 'NoEnumerate', 'DateKind')
    'ConvertTo-Json' = @('EnumsAsStrings', 'AsArray', 'EscapeHandling')
    'Where-Object' = @('Not')
    'Get-Content' = @('AsByteStream')
    'Set-Content' = @('AsByteStream')
    'Add-Content' = @('AsByteStream')
    'Select-String' = @('Raw', 'NoEmphasis')
    'Test-Connection' = @('TargetName', 'Ping', 'Repeat', 'MtuSize', 'Traceroute', 'TcpPort')
    'Invoke-WebRequest' = @('SkipCertificateCheck', 'SslProtocol', 'Authentication', 'Token', 'SkipHeaderValidation')
    'Invoke-RestMethod' = @('SkipCertificateCheck', 'SslProtocol', 'Authentication', 'Token', 'SkipHeaderValidation')
    'Get-Item' = @('lp')
}

function Get-SevenOnlyFinding {
    param([Parameter(Mandatory = $true)][System.Management.Automation.Language.Ast]$Root)
    $nodes = $Root.FindAll({ $true }, $true)
    foreach ($node in $nodes) {
        $type = $node.GetType().Name
        $where = 'line ' + $node.Extent.StartLineNumber + ': '
        switch ($type) {
            'TernaryExpressionAst' { $where + 'ternary operator ?:' }
            'PipelineChainAst' { $where + 'pipeline chain && or ||' }
            'BinaryExpressionAst' {
                if ($node.Operator.ToString() -eq 'QuestionQuestion') { $where + 'null-coalescing ??' }
            }
            'AssignmentStatementAst' {
                if ($node.Operator.ToString() -eq 'QuestionQuestionEquals') { $where + 'null-coalescing assignment ??=' }
            }
            'MemberExpressionAst' {
                if ($node.PSObject.Properties['NullConditional'] -and $node.NullConditional) { $where + 'null-conditional member access ?.' }
            }
            'InvokeMemberExpressionAst' {
                if ($node.PSObject.Properties['NullConditional'] -and $node.NullConditional) { $where + 'null-conditional method call ?.' }
            }
            'IndexExpressionAst' {
                if ($node.PSObject.Properties['NullConditional'] -and $node.NullConditional) { $where + 'null-conditional index ?[]' }
            }
            'PipelineAst' {
                if ($node.PSObject.Properties['Background'] -and $node.Background) { $where + 'background operator &' }
            }
            'ScriptBlockAst' {
                if ($node.PSObject.Properties['CleanBlock'] -and $null -ne $node.CleanBlock) { $where + 'clean block' }
            }
            'CommandAst' {
                $name = $node.GetCommandName()
                if ($null -ne $name) {
                    if ($sevenOnlyCommands -contains $name) { $where + 'PowerShell 7 cmdlet ' + $name }
                    if ($sevenOnlyParameters.ContainsKey($name)) {
                        foreach ($element in $node.CommandElements) {
                            if ($element -is [System.Management.Automation.Language.CommandParameterAst] -and
                                $sevenOnlyParameters[$name] -contains $element.ParameterName) {
                                $where + 'PowerShell 7 parameter ' + $name + ' -' + $element.ParameterName
                            }
                        }
                    }
                }
            }
        }
    }
}

$report = foreach ($path in (Get-Content -LiteralPath $ListFile | Where-Object { $_.Trim().Length -gt 0 })) {
    $tokens = $null
    $errors = $null
    $ast = [System.Management.Automation.Language.Parser]::ParseFile($path, [ref]$tokens, [ref]$errors)
    [ordered]@{
        path = $path
        errors = @($errors | ForEach-Object { 'line ' + $_.Extent.StartLineNumber + ': ' + $_.Message })
        findings = @(Get-SevenOnlyFinding -Root $ast)
    }
}
ConvertTo-Json -InputObject @($report) -Depth 5 -Compress
