"""The shared PowerShell library, cut to what one script calls.

Every script stands alone, so each carries the library. Carrying all of it into six scripts per
host makes a 1,000-host record several hundred MB, so a script gets only the functions it calls
(transitively), found by name (`Verb-SslNoun`), plus every top-level statement and every Windows
touchpoint wrapper (the touchpoints are the contract with the Pester mocks and the lab). The
library files follow one layout rule this relies on: a function starts with `function Name {` in
column 0 and ends with `}` in column 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

_CALL = re.compile(r"\b[A-Z][A-Za-z]+-Ssl[A-Za-z]+\b")
_BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Chunk:
    """A function (name set) or top-level code (name None) of the library, in file order."""

    name: str | None
    text: str
    calls: frozenset[str]
    always: bool


def calls_in(text: str) -> frozenset[str]:
    return frozenset(_CALL.findall(text))


def split_chunks(source: str, always: bool = False) -> list[Chunk]:
    """Split a library file into functions and the top-level code between them."""
    chunks: list[Chunk] = []
    buffer: list[str] = []
    name: str | None = None
    for line in source.splitlines(keepends=True):
        if name is None and line.startswith("function "):
            if buffer:
                chunks.append(Chunk(None, "".join(buffer), calls_in("".join(buffer)), True))
            buffer, name = [line], line.split()[1]
            continue
        buffer.append(line)
        if name is not None and line.rstrip("\n") == "}":
            text = "".join(buffer)
            chunks.append(Chunk(name, text, calls_in(text), always))
            buffer, name = [], None
    if name is not None:
        raise ValueError(f"library function {name} has no closing '}}' in column 0")
    if buffer:
        chunks.append(Chunk(None, "".join(buffer), calls_in("".join(buffer)), True))
    return chunks


class Library:
    """The library as chunks; `full()` for tests, `for_script()` for one rendered script."""

    def __init__(self, parts: Iterable[tuple[str, bool]]) -> None:
        chunks = [chunk for text, always in parts for chunk in split_chunks(text, always)]
        self.chunks: tuple[Chunk, ...] = tuple(chunks)
        self._by_name = {c.name: c for c in self.chunks if c.name is not None}
        self.for_calls = lru_cache(maxsize=64)(self._for_calls)

    def full(self) -> str:
        return self._join(self.chunks)

    def for_script(self, script_text: str) -> str:
        """The library a script needs, given the script's own text (without the library)."""
        return self.for_calls(calls_in(script_text))

    def _for_calls(self, roots: frozenset[str]) -> str:
        pending = set(roots)
        for chunk in self.chunks:
            if chunk.always:
                pending |= chunk.calls | ({chunk.name} if chunk.name else set())
        needed: set[str] = set()
        while pending:
            name = pending.pop()
            if name in self._by_name and name not in needed:
                needed.add(name)
                pending |= self._by_name[name].calls
        return self._join(c for c in self.chunks if c.name is None or c.name in needed)

    @staticmethod
    def _join(chunks: Iterable[Chunk]) -> str:
        return _BLANK_RUNS.sub("\n\n", "".join(c.text for c in chunks)).strip("\n") + "\n"
