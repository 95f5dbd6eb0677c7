<#
.SYNOPSIS
Parses PowerShell files with the real parser and reports parse errors and PowerShell-7-only syntax.

.DESCRIPTION
For each file listed (one path per line in -ListFile): ParseFile errors, then an AST walk for what
Windows PowerShell 5.1 cannot run: ternary, pipeline chains (&& ||), ?? and ??=, null-conditional
member/index access, the background operator &, clean blocks, and 7-only cmdlets and parameters;
and for what Constrained Language (WDAC/AppLocker hosts) refuses: [pscustomobject] casts, static
method calls and New-Object on types outside the core types the scripts rely on, Add-Type, GetType(),
method calls on $PSBoundParameters, ShouldProcess outside the one guarded wrapper, and instance method
calls on [ordered] dictionaries (pwsh 7.3 and later made OrderedDictionary a core type, so
.Contains()/.Insert() pass in pwsh's Constrained Language; Windows PowerShell 5.1 refuses them).
The [ordered] rule follows what the AST shows: a variable assigned [ordered]@{} in the same
function (or a $script:/$global: one anywhere in the file), a member or hashtable key given an
[ordered] value anywhere in the file, and an [ordered] expression itself; a dictionary that comes
back from a function call is not traced.
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

# The walk is C# (compiled once) because an interpreted predicate per AST node is slow on ~100 files.
Add-Type -TypeDefinition @'
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation.Language;

public static class SevenOnlySyntax
{
    // Core types whose static methods the scripts call, and the types they create with New-Object;
    // all are allowed in Constrained Language (PowerShell's CoreTypes).
    // Not [math]: pwsh 7.6 refuses [math]::Min() in Constrained Language ("Cannot invoke method").
    static readonly string[] ClmStaticTypes = { "regex", "System.Text.RegularExpressions.Regex", "string", "System.String" };
    static readonly string[] ClmNewObjectTypes = { "byte[]", "System.Byte[]", "System.Guid", "Guid" };
    // Functions only ever called in FullLanguage (their caller checks the mode and reports "not
    // checked" instead): the TLS handshake touchpoint needs .NET sockets.
    static readonly string[] FullLanguageOnly = { "Invoke-SslTlsHandshake" };

    static bool IsType(ITypeName type, params string[] names)
    {
        return names.Any(x => string.Equals(x, type.FullName, System.StringComparison.OrdinalIgnoreCase));
    }

    static string EnclosingFunction(Ast node)
    {
        for (Ast at = node.Parent; at != null; at = at.Parent)
            if (at is FunctionDefinitionAst f) return f.Name;
        return null;
    }

    static string NewObjectType(CommandAst c)
    {
        var elements = c.CommandElements;
        for (int i = 1; i < elements.Count; i++)
        {
            if (elements[i] is CommandParameterAst p)
            {
                if (p.ParameterName.Equals("TypeName", System.StringComparison.OrdinalIgnoreCase) && i + 1 < elements.Count)
                    return (elements[i + 1] as StringConstantExpressionAst)?.Value;
                i++;
                continue;
            }
            return (elements[i] as StringConstantExpressionAst)?.Value;
        }
        return null;
    }

    static void AddClm(List<string> found, bool exempt, string finding)
    {
        if (!exempt) found.Add(finding);
    }

    static bool IsOrdered(Ast e)
    {
        if (e is PipelineAst p && p.PipelineElements.Count == 1) e = p.PipelineElements[0];
        if (e is CommandExpressionAst ce) e = ce.Expression;
        if (e is ParenExpressionAst pe) return IsOrdered(pe.Pipeline);
        return e is ConvertExpressionAst cv && string.Equals(cv.Type.TypeName.FullName, "ordered", System.StringComparison.OrdinalIgnoreCase);
    }

    static string VariableName(VariableExpressionAst v, out bool fileWide)
    {
        string name = v.VariablePath.UserPath.ToLowerInvariant();
        fileWide = name.StartsWith("script:") || name.StartsWith("global:");
        int colon = name.IndexOf(':');
        return colon >= 0 ? name.Substring(colon + 1) : name;
    }

    static string ConstantName(Ast e)
    {
        return (e as StringConstantExpressionAst)?.Value?.ToLowerInvariant();
    }

    // What holds an [ordered] dictionary, as far as the AST shows: (function, variable) pairs,
    // script-scope variables, and member / key names.
    static void CollectOrdered(Ast root, HashSet<string> variables, HashSet<string> fileVariables, HashSet<string> members)
    {
        foreach (Ast node in root.FindAll(n => n is AssignmentStatementAst || n is HashtableAst, true))
        {
            if (node is AssignmentStatementAst a && IsOrdered(a.Right))
            {
                Ast left = a.Left;
                if (left is ConvertExpressionAst typed) left = typed.Child;
                if (left is VariableExpressionAst v)
                {
                    bool fileWide;
                    string name = VariableName(v, out fileWide);
                    if (fileWide) fileVariables.Add(name); else variables.Add(EnclosingFunction(a) + "|" + name);
                }
                else if (left is MemberExpressionAst m && ConstantName(m.Member) != null) members.Add(ConstantName(m.Member));
                else if (left is IndexExpressionAst ix && ConstantName(ix.Index) != null) members.Add(ConstantName(ix.Index));
            }
            else if (node is HashtableAst h)
            {
                foreach (var pair in h.KeyValuePairs)
                    if (IsOrdered(pair.Item2) && ConstantName(pair.Item1) != null) members.Add(ConstantName(pair.Item1));
            }
        }
    }

    static bool HoldsOrdered(ExpressionAst target, HashSet<string> variables, HashSet<string> fileVariables, HashSet<string> members)
    {
        if (IsOrdered(target)) return true;
        if (target is VariableExpressionAst v)
        {
            bool fileWide;
            string name = VariableName(v, out fileWide);
            return fileVariables.Contains(name) || (!fileWide && variables.Contains(EnclosingFunction(v) + "|" + name));
        }
        if (target is MemberExpressionAst m && !(m is InvokeMemberExpressionAst)) return ConstantName(m.Member) != null && members.Contains(ConstantName(m.Member));
        if (target is IndexExpressionAst ix) return ConstantName(ix.Index) != null && members.Contains(ConstantName(ix.Index));
        return false;
    }

    public static List<string> Find(Ast root, string[] commands, Dictionary<string, string[]> parameters)
    {
        var found = new List<string>();
        var orderedVariables = new HashSet<string>();
        var orderedFileVariables = new HashSet<string>();
        var orderedMembers = new HashSet<string>();
        CollectOrdered(root, orderedVariables, orderedFileVariables, orderedMembers);
        foreach (Ast node in root.FindAll(n => true, true))
        {
            string where = "line " + node.Extent.StartLineNumber + ": ";
            bool clmExempt = FullLanguageOnly.Contains(EnclosingFunction(node));
            if (node is TernaryExpressionAst) found.Add(where + "ternary operator ?:");
            else if (node is PipelineChainAst) found.Add(where + "pipeline chain && or ||");
            else if (node is BinaryExpressionAst b && b.Operator == TokenKind.QuestionQuestion) found.Add(where + "null-coalescing ??");
            else if (node is AssignmentStatementAst a && a.Operator == TokenKind.QuestionQuestionEquals) found.Add(where + "null-coalescing assignment ??=");
            else if (node is MemberExpressionAst m && m.NullConditional) found.Add(where + "null-conditional member access ?.");
            else if (node is IndexExpressionAst i && i.NullConditional) found.Add(where + "null-conditional index ?[]");
            else if (node is PipelineAst p && p.Background) found.Add(where + "background operator &");
            else if (node is ScriptBlockAst s && s.CleanBlock != null) found.Add(where + "clean block");
            else if (node is ConvertExpressionAst cv && IsType(cv.Type.TypeName, "pscustomobject", "System.Management.Automation.PSCustomObject"))
                AddClm(found, clmExempt, where + "ConstrainedLanguage: [pscustomobject] cast");
            else if (node is InvokeMemberExpressionAst inv)
            {
                string method = (inv.Member as StringConstantExpressionAst)?.Value ?? "";
                if (inv.Static && inv.Expression is TypeExpressionAst te && !IsType(te.TypeName, ClmStaticTypes))
                    AddClm(found, clmExempt, where + "ConstrainedLanguage: static method call on [" + te.TypeName.FullName + "]");
                else if (string.Equals(method, "GetType", System.StringComparison.OrdinalIgnoreCase))
                    AddClm(found, clmExempt, where + "ConstrainedLanguage: GetType()");
                else if (inv.Expression is VariableExpressionAst v && string.Equals(v.VariablePath.UserPath, "PSBoundParameters", System.StringComparison.OrdinalIgnoreCase))
                    AddClm(found, clmExempt, where + "ConstrainedLanguage: method call on $PSBoundParameters");
                else if ((string.Equals(method, "ShouldProcess", System.StringComparison.OrdinalIgnoreCase) || string.Equals(method, "ShouldContinue", System.StringComparison.OrdinalIgnoreCase))
                         && EnclosingFunction(node) != "Test-SslShouldProcess")
                    AddClm(found, clmExempt, where + "ConstrainedLanguage: " + method + "() outside Test-SslShouldProcess");
                else if (!inv.Static && HoldsOrdered(inv.Expression, orderedVariables, orderedFileVariables, orderedMembers))
                    AddClm(found, clmExempt, where + "ConstrainedLanguage (Windows PowerShell 5.1): method call ." + method + "() on an [ordered] dictionary");
            }
            else if (node is CommandAst c)
            {
                string name = c.GetCommandName();
                if (name == null) continue;
                if (string.Equals(name, "Add-Type", System.StringComparison.OrdinalIgnoreCase))
                    AddClm(found, clmExempt, where + "ConstrainedLanguage: Add-Type");
                if (string.Equals(name, "New-Object", System.StringComparison.OrdinalIgnoreCase))
                {
                    string type = NewObjectType(c);
                    if (type == null || !ClmNewObjectTypes.Any(x => string.Equals(x, type, System.StringComparison.OrdinalIgnoreCase)))
                        AddClm(found, clmExempt, where + "ConstrainedLanguage: New-Object " + (type ?? "(type not a literal)"));
                }
                if (commands.Any(x => string.Equals(x, name, System.StringComparison.OrdinalIgnoreCase)))
                    found.Add(where + "PowerShell 7 cmdlet " + name);
                foreach (var pair in parameters)
                {
                    if (!string.Equals(pair.Key, name, System.StringComparison.OrdinalIgnoreCase)) continue;
                    foreach (var element in c.CommandElements.OfType<CommandParameterAst>())
                        if (pair.Value.Any(x => string.Equals(x, element.ParameterName, System.StringComparison.OrdinalIgnoreCase)))
                            found.Add(where + "PowerShell 7 parameter " + name + " -" + element.ParameterName);
                }
            }
        }
        return found;
    }
}
'@

$parameterTable = New-Object -TypeName 'System.Collections.Generic.Dictionary[string,string[]]'
foreach ($name in $sevenOnlyParameters.Keys) {
    $parameterTable[$name] = [string[]]$sevenOnlyParameters[$name]
}

$report = foreach ($path in (Get-Content -LiteralPath $ListFile | Where-Object { $_.Trim().Length -gt 0 })) {
    $tokens = $null
    $errors = $null
    $ast = [System.Management.Automation.Language.Parser]::ParseFile($path, [ref]$tokens, [ref]$errors)
    [ordered]@{
        path = $path
        errors = @($errors | ForEach-Object { 'line ' + $_.Extent.StartLineNumber + ': ' + $_.Message })
        findings = @([SevenOnlySyntax]::Find($ast, [string[]]$sevenOnlyCommands, $parameterTable))
    }
}
ConvertTo-Json -InputObject @($report) -Depth 5 -Compress
