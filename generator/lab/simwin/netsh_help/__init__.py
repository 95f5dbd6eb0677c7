"""`netsh http add|delete|update sslcert /?` texts of the Windows builds the lab can pretend to be.

Each layout is a folder of plain ASCII files (`<layout>/<verb>.txt`); README.md says where each
text comes from. Tests iterate `HELP_LAYOUTS`; the lab's netsh prints `help_text(...)`, with the
tags of `netsh.missing_parameters` taken out by `without_tags`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

HELP_DIR = Path(__file__).resolve().parent
# Server 2012 R2, 2016, 2019/2022 (one tag per line), the 2025 reference page (several tags per
# line) and a German 2019 build ("Syntax:" for "Usage:", prose translated, tags not).
HELP_LAYOUTS: tuple[str, ...] = ("2012r2", "2016", "2019", "2025", "de-2019")
DEFAULT_LAYOUT = "2019"
HELP_VERBS: tuple[str, ...] = ("add", "delete", "update")
# Layouts whose netsh knows the scoped-CCS selector (Windows 10 1809 / Server 2019 and later).
SCOPEDCCS_LAYOUTS = frozenset({"2019", "2025", "de-2019"})
# Layouts whose netsh prints "Enable Caching Client Hello" (DefaultFlags 0x8000) in show output.
CLIENT_HELLO_LAYOUTS = frozenset({"2025"})

# A Parameters row starts with exactly 4 blanks and the tag; its continuation lines start deeper.
_ROW_INDENT = "    "


@cache
def help_text(layout: str, verb: str) -> str | None:
    """The usage text of `netsh http <verb> sslcert /?` on that build; None if it has no such verb."""
    if layout not in HELP_LAYOUTS:
        raise ValueError(f"unknown netsh help layout {layout!r}")
    path = HELP_DIR / layout / f"{verb}.txt"
    return path.read_text(encoding="ascii") if path.is_file() else None


def _drop_token(line: str, tag: str) -> str:
    """The line without the usage token "[tag=<value>]" or "[tag=]<value>" and one blank beside it."""
    token = rf"\[{re.escape(tag)}=(?:\][^\s\[]*|[^\]]*\])"
    line = re.sub(rf"(?<=\S)[ \t]+{token}", "", line)  # not the first token: take the blank before
    return re.sub(rf"{token}[ \t]?", "", line)


def _is_row(line: str, tags: frozenset[str]) -> bool:
    if not line.startswith(_ROW_INDENT) or line.startswith(_ROW_INDENT + " "):
        return False
    first = line.split(maxsplit=1)[0]
    return first in tags and " - " in line


def without_tags(text: str, tags: Iterable[str]) -> str:
    """The help text as a build that does not know `tags` prints it: their usage tokens and
    Parameters rows are gone (a usage line left empty goes too)."""
    drop = frozenset(tags)
    if not drop:
        return text
    out: list[str] = []
    skipping_row = False
    for line in text.split("\n"):
        if skipping_row and line.startswith(_ROW_INDENT + " ") and line.strip():
            continue  # continuation of a dropped Parameters row
        skipping_row = _is_row(line, drop)
        if skipping_row:
            continue
        changed = line
        for tag in drop:
            changed = _drop_token(changed, tag)
        if changed != line and not changed.strip():
            continue
        out.append(changed)
    return "\n".join(out)


def _usage_lines(text: str) -> str:
    # From "Usage:" (or a translation such as "Syntax:") to the first empty line.
    start = re.search(r"(?m)^\S+: \w+ sslcert ", text)
    return text[start.start() :].split("\n\n")[0] if start else ""


@cache
def known_tags(layout: str, verb: str) -> frozenset[str]:
    """The tags on the usage lines of that build's help (empty when it has no such verb)."""
    text = help_text(layout, verb)
    tags = set(re.findall(r"\[?([a-z0-9]+)=", _usage_lines(text or "")))
    if layout in SCOPEDCCS_LAYOUTS and text is not None:
        tags.add("scopedccs")  # accepted though no known help text lists it (examples only)
    return frozenset(tags)
