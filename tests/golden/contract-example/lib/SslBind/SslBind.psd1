# SslBind 0.0.0-golden: module manifest of the sslbind library (generated; the host scripts of a
# change record pin this file's SHA-256 and refuse an edited copy).
@{
    RootModule = 'SslBind.psm1'
    ModuleVersion = '0.0.0'
    GUID = '5d1f6c2e-8b47-4f0a-9c3d-73736c62696e'
    Author = 'sslbind'
    CompanyName = 'sslbind'
    Copyright = ''
    Description = 'sslbind 0.0.0-golden library: HTTP.sys SSL binding changes for sslbind change records'
    PowerShellVersion = '5.1'
    CompatiblePSEditions = @('Desktop', 'Core')
    FunctionsToExport = @('Invoke-SslPhase')
    CmdletsToExport = @()
    VariablesToExport = @()
    AliasesToExport = @()
    PrivateData = @{
        PSData = @{
            Tags = @('sslbind', 'HTTP.sys', 'SSL', 'netsh')
        }
        SslbindVersion = '0.0.0-golden'
    }
}
