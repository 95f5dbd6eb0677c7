"""Adopt existing bindings and rotate certificates: importers, spec writer, warnings, rotation.

Reading order: `result` (what an import yields), `decode` (bytes to text), `values` (one value
normalized), `extras` (bits no netsh parameter sets: read and warned about, never dropped),
`netsh_labels` + `netsh_text` (saved `netsh http show sslcert`), `reg_text` (saved `reg query` /
.reg, and typed values from a live host), `live` + `capture.ps1` + `certs.ps1` (the read-only live
capture over PSRP), `certfacts`, `warnings`, `spec_writer`, `rotate`, `cli`.
"""
