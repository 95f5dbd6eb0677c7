"""What this host's netsh can do, read from its own help texts the way the PowerShell library reads them.

Tags are never translated, the words around them are: so parameters are the `tag=` tokens from the
first line naming sslcert on, plus the tag column of the parameter table (templates/lib/core.ps1
Get-SslNetshHelpTag), and `update sslcert` exists when its help is a usage text (core.ps1
Test-SslNetshUsage) rather than "The following command was not found".
"""

from __future__ import annotations

import re

_TAG = re.compile(r"(?<![A-Za-z0-9_])\[?([a-z][a-z0-9]*)=")
_TABLE_TAG = re.compile(r"(?m)^\s+([a-z][a-z0-9]*)\s+-\s")
_USAGE = re.compile(r"(?i:sslcert)\s+\[?[a-z]+=")
_NOT_FOUND = "command was not found"


def help_tags(text: str) -> frozenset[str]:
    """Every parameter tag a `netsh http <op> sslcert /?` text offers (empty: no readable list)."""
    at = text.find("sslcert")
    if at < 0:
        return frozenset()
    block = text[at:]
    return frozenset(_TAG.findall(block)) | frozenset(_TABLE_TAG.findall(block))


def supports_update(text: str) -> bool | None:
    """Whether netsh has `http update sslcert`, from its `/?` output; None when the text says neither."""
    if _NOT_FOUND in text.lower():
        return False
    if _USAGE.search(text):
        return True
    return None
