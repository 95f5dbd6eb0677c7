"""The simulated Windows beneath pwsh: netsh, the HTTP.sys registry values, the certificate stores
and the listening TCP ports.

Python does the work over the state file; `SimWindows.ps1` (loaded into every runspace) and
`bin/netsh` (first on PATH) are thin shims that call into it. See ../README.md.
"""
