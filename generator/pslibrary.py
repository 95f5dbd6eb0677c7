"""The sslbind PowerShell library as text and as functions.

The record holds the library once, as the SslBind module (`render.library_files`), so nothing is
cut per script any more. This module only joins the library's source files and splits them into
functions, for the tests that check which function may touch Windows and that every call has a
definition. The library files follow one layout rule this relies on: a function starts with
`function Name {` in column 0 and ends with `}` in column 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_CALL = re.compile(r"\b[A-Z][A-Za-z]+-Ssl[A-Za-z]+\b")


@dataclass(frozen=True)
class Chunk:
    """A function (name set) or top-level code (name None) of one library file, in file order."""

    name: str | None
    text: str
    origin: str  # the source file, e.g. "lib/windows.ps1"


def calls_in(text: str) -> frozenset[str]:
    """The library-style command names (`Verb-SslNoun`) a text mentions."""
    return frozenset(_CALL.findall(text))


def split_chunks(source: str, origin: str = "") -> list[Chunk]:
    """Split a library file into functions and the top-level code between them."""
    chunks: list[Chunk] = []
    buffer: list[str] = []
    name: str | None = None
    for line in source.splitlines(keepends=True):
        if name is None and line.startswith("function "):
            if buffer:
                chunks.append(Chunk(None, "".join(buffer), origin))
            buffer, name = [line], line.split()[1]
            continue
        buffer.append(line)
        if name is not None and line.rstrip("\r\n") == "}":
            chunks.append(Chunk(name, "".join(buffer), origin))
            buffer, name = [], None
    if name is not None:
        raise ValueError(f"library function {name} has no closing '}}' in column 0")
    if buffer:
        chunks.append(Chunk(None, "".join(buffer), origin))
    return chunks


class Library:
    """The library's source files, joined (`text`) and split into functions (`chunks`)."""

    def __init__(self, parts: Iterable[tuple[str, str]]) -> None:
        """`parts`: (origin, text) per source file, in load order."""
        parts = list(parts)
        self.text = "".join(text for _, text in parts)
        self.chunks: tuple[Chunk, ...] = tuple(
            c for origin, text in parts for c in split_chunks(text, origin)
        )

    def functions(self) -> dict[str, Chunk]:
        return {c.name: c for c in self.chunks if c.name is not None}
