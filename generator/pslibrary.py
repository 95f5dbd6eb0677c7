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
_SCRIPT_READ = re.compile(r"\$script:(\w+)")
_SCRIPT_SET = re.compile(r"^\$script:(\w+)\s*=", re.MULTILINE)


@dataclass(frozen=True)
class Chunk:
    """A function (name set) or top-level code (name None) of one library file, in file order."""

    name: str | None
    text: str
    origin: str  # the source file, e.g. "lib/windows.ps1"


def calls_in(text: str) -> frozenset[str]:
    """The library-style command names (`Verb-SslNoun`) a text mentions."""
    return frozenset(_CALL.findall(text))


def _code_of(text: str) -> str:
    """`text` without its comment lines (a comment may name a function the code does not call)."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("#"))


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

    def excerpt(self, names: Iterable[str]) -> str:
        """The named functions, every library function they call (directly or not) and the top-level
        code that sets the `$script:` variables they read, verbatim and in library order: the part
        of the library a script outside the record runs (doctor and import --host send it as an
        in-memory module, generator/importers/served.py), never a second copy of the code."""
        functions = self.functions()
        wanted = list(names)
        missing = [name for name in wanted if name not in functions]
        if missing:
            raise ValueError(f"not library functions: {', '.join(missing)}")
        chosen: set[int] = set()
        setters = {
            variable: index
            for index, chunk in enumerate(self.chunks)
            if chunk.name is None
            for variable in _SCRIPT_SET.findall(chunk.text)
        }
        index_of = {chunk.name: index for index, chunk in enumerate(self.chunks) if chunk.name is not None}
        todo = [index_of[name] for name in wanted]
        while todo:
            index = todo.pop()
            if index in chosen:
                continue
            chosen.add(index)
            code = _code_of(self.chunks[index].text)
            todo += [index_of[name] for name in calls_in(code) if name in index_of]
            for variable in _SCRIPT_READ.findall(code):
                if variable not in setters:
                    raise ValueError(f"$script:{variable} is set by no top-level library code")
                todo.append(setters[variable])
        return "".join(self.chunks[index].text for index in sorted(chosen))
