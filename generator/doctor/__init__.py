"""`sslbind doctor`: what a host is, and whether sslbind reads its bindings as netsh shows them.

Reading order: `collect.ps1` (the read-only, Constrained-Language-clean collector, one pipeline),
`facts` (its JSON as typed facts), `findings`, `netsh_help` (what netsh can do, from its help),
`crosscheck` (the registry through import's decoding against netsh's show text, per binding),
`checks` (host-level findings), `report` (JSON and Markdown), `run`, `cli`.
"""
