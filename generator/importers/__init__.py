"""Adopt existing bindings: offline importers (netsh text, reg output), spec writer, warnings, rotation.

Reading order: `result` (what an import yields), `decode` (bytes to text), `values` (one setting's
value normalized), `netsh_labels`/`netsh_text`, `reg_text`, `spec_writer`, `warnings`, `rotate`, `cli`.
"""
