"""File names every client platform accepts: Windows forbids characters, trailing dots and spaces,
and device names (CON, NUL, COM1...) that Linux and macOS allow, so a record written on one and
read on another keeps its paths.

The mapping is deterministic (the same host always gets the same folder, so a record written on
Linux is found on Windows) and keeps host names apart: '_' is in no DNS name or IP address, and
every escape below introduces one.
"""

from __future__ import annotations

import re

RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{device}{n}" for device in ("COM", "LPT") for n in [*"0123456789", "\u00b9", "\u00b2", "\u00b3"]}
)
# Windows refuses these in a file name, and the C0 controls (reference: Naming Files, Paths, and
# Namespaces, learn.microsoft.com/windows/win32/fileio/naming-a-file).
_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


def safe_file_name(name: str) -> str:
    """`name` as a file name valid on Windows, macOS and Linux.

    A forbidden character becomes `_xx_` (its hex code), each trailing dot or space becomes '_'
    (Windows drops them, so "web01." would be the folder "web01"), and a reserved device name
    (also with an extension: "nul.contoso.local" is the device NUL on Windows) gets a leading '_'.
    """
    safe = _FORBIDDEN.sub(lambda m: f"_{ord(m.group()):02x}_", name)
    stripped = safe.rstrip(". ")
    safe = stripped + "_" * (len(safe) - len(stripped))
    if safe.split(".")[0].rstrip(" ").upper() in RESERVED_NAMES:
        safe = "_" + safe
    return safe
