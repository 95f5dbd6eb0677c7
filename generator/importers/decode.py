"""Saved command output as text, whatever wrote it.

`netsh ... > file` in cmd.exe writes the OEM code page (cp437 on en-US, cp850 on de/fr); in Windows
PowerShell 5.1 `>` writes UTF-16LE with a BOM; PowerShell 7 writes UTF-8 without one; regedit's .reg
export is UTF-16LE with a BOM. BOMs decide; otherwise strict UTF-8, then UTF-16 by its NUL pattern,
then the single-byte candidates, of which the caller's `score` (how many lines it recognizes) picks one.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# Tried in this order; on a tie the first wins (cp850 is the OEM code page of de/fr Windows).
SINGLE_BYTE_CANDIDATES = ("cp850", "cp437", "cp1252")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str


class DecodeError(ValueError):
    """The bytes are not text in any encoding tried."""


def decode_output(data: bytes, score: Callable[[str], int], encoding: str | None = None) -> Decoded:
    """The text of `data`; `encoding` forces one, else it is detected (see the module doc)."""
    if encoding:
        return Decoded(_strict(data, encoding), encoding)
    for bom, name in _BOMS:
        if data.startswith(bom):
            return Decoded(_strict(data, name), name)
    nul_share = data.count(0) / max(len(data), 1)
    if nul_share > 0.2:  # ASCII-heavy UTF-16 without a BOM is about half NULs
        name = "utf-16-le" if data[1::2].count(0) > data[0::2].count(0) else "utf-16-be"
        return Decoded(_strict(data, name), name)
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    texts = [(name, data.decode(name, errors="replace")) for name in SINGLE_BYTE_CANDIDATES]
    best = max(texts, key=lambda pair: score(pair[1]))  # max keeps the first of equals
    return Decoded(best[1], best[0])


def _strict(data: bytes, encoding: str) -> str:
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as error:
        raise DecodeError(f"not readable as {encoding}: {error}") from error
    return text.lstrip("\ufeff")


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def lines_of(text: str) -> list[str]:
    """The lines Windows wrote: split on CR LF, CR or LF only. `str.splitlines` also splits on
    U+2028, U+0085 and form feeds, which would cut a value that holds one (a store name) short."""
    lines = _LINE_BREAK.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def iter_lines(text: str) -> Iterator[str]:
    """The lines of `lines_of`, one at a time: a big output is never held twice (text and a list)."""
    position, end = 0, len(text)
    while position < end:
        found = _LINE_BREAK.search(text, position)
        if found is None:
            yield text[position:]
            return
        yield text[position : found.start()]
        position = found.end()
