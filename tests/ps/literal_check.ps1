<#
.SYNOPSIS
For each case, parses a rendered script and describes its AST, so a test can tell whether a value
reached the script as data (one string literal) or changed its code.

.PARAMETER CaseFile
JSON list of {path, value}. Writes a JSON list of {path, errors, shape, literals}: parse error
count, a SHA-256 of the sequence of AST node types (comments and literal text excluded), and how
many string-constant nodes equal the value exactly.
#>
[CmdletBinding()]
param([Parameter(Mandatory = $true)][string]$CaseFile)
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

Add-Type -TypeDefinition @'
using System.Linq;
using System.Management.Automation.Language;
using System.Security.Cryptography;
using System.Text;

public static class AstShape
{
    public static string Shape(Ast root)
    {
        var builder = new StringBuilder();
        foreach (Ast node in root.FindAll(n => true, true))
            builder.Append(node.GetType().Name).Append('|');
        using (var sha = SHA256.Create())
            return string.Concat(sha.ComputeHash(Encoding.UTF8.GetBytes(builder.ToString())).Select(b => b.ToString("x2")));
    }

    public static int Literals(Ast root, string value)
    {
        return root.FindAll(n => n is StringConstantExpressionAst s && s.Value == value, true).Count();
    }
}
'@

$cases = Get-Content -Raw -LiteralPath $CaseFile | ConvertFrom-Json
$report = foreach ($case in @($cases)) {
    $tokens = $null
    $errors = $null
    $ast = [System.Management.Automation.Language.Parser]::ParseFile($case.path, [ref]$tokens, [ref]$errors)
    [ordered]@{
        path = $case.path
        errors = @($errors).Count
        shape = [AstShape]::Shape($ast)
        literals = [AstShape]::Literals($ast, [string]$case.value)
    }
}
ConvertTo-Json -InputObject @($report) -Depth 3 -Compress
