"""Read a spec file's bytes into a small tree of mappings, lists and scalars that remember their line.

PyYAML's parser (libyaml when available) produces the events; this module builds `Map`/`Seq`/`Scalar`
from them in one pass and refuses what a reviewed spec must not contain: anchors and aliases (one
value silently shared by several bindings), merge keys, duplicate keys (YAML keeps the last one
without a word), custom tags, several documents. JSON is read the same way (it is YAML).
Scalars keep the text as written, so a string field can take `0012` or `2026-01-01` verbatim instead
of YAML 1.1's reading of it as a number or a date.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NoReturn

import yaml

from generator.errors import SpecError

ScalarTag = Literal["null", "bool", "int", "float", "str", "timestamp"]

_YAML = "tag:yaml.org,2002:"
_SCALAR_TAGS: dict[str, ScalarTag] = {
    _YAML + "null": "null",
    _YAML + "bool": "bool",
    _YAML + "int": "int",
    _YAML + "float": "float",
    _YAML + "str": "str",
    _YAML + "timestamp": "timestamp",
}
_TRUE_WORDS = frozenset({"yes", "true", "on"})
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")  # no leading zeros: YAML 1.1 reads 0012 as octal
_MAX_DEPTH = 64  # a spec is about 6 levels deep
_MAX_DIGITS = 30  # far beyond any valid value; keeps int() and messages small
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()  # YAML 1.1's implicit tags, shared by reading and writing
# Characters YAML refuses in a stream (PyYAML's Reader); found here to report their line.
_NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Scalar:
    line: int
    tag: ScalarTag
    text: str  # as written; for quoted scalars the text inside the quotes
    plain: bool  # written without quotes (only plain scalars are typed by YAML)

    def as_bool(self) -> bool | None:
        return self.text.lower() in _TRUE_WORDS if self.tag == "bool" else None

    def as_int(self) -> int | None:
        """The number when written as a plain decimal of sane length; None otherwise."""
        if self.tag != "int" or not _DECIMAL.fullmatch(self.text):
            return None
        if len(self.text.lstrip("+-")) > _MAX_DIGITS:
            return None
        return int(self.text)


@dataclass(frozen=True)
class Seq:
    line: int
    items: tuple[Node, ...]
    flow: bool = False  # written inline as [ ... ]


@dataclass(frozen=True)
class Map:
    line: int
    entries: dict[str, Node]
    key_lines: dict[str, int]
    flow: bool = False  # written inline as { ... }


Node = Scalar | Seq | Map


def decode(data: bytes, path: str) -> str:
    """UTF-8 (BOM optional) or UTF-16 with a BOM, as Windows PowerShell 5.1 writes by default."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise SpecError(path, None, "encoding", "is not valid UTF-16; save the file as UTF-8") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        byte = data[error.start]
        raise SpecError(
            path, line, "encoding", f"byte 0x{byte:02x} is not UTF-8; save the file as UTF-8"
        ) from None


def parse(text: str, path: str) -> Node | None:
    """The document's tree, or None for an empty document."""
    bad = _NOT_YAML.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        char = ord(bad.group())
        raise SpecError(path, line, "YAML", f"control character U+{char:04X} is not allowed; remove it")
    text = _untab_json(text)
    try:
        return _Builder(yaml.parse(text, Loader=_Loader), path).document()
    except yaml.YAMLError as error:
        raise _syntax_error(error, text, path) from None


def _untab_json(text: str) -> str:
    """JSON indented with tabs: pure-Python PyYAML refuses the tabs, which in valid JSON sit only
    between tokens (a raw tab inside a JSON string is invalid), so spaces mean the same."""
    if "\t" not in text or not text.lstrip().startswith("{"):
        return text
    try:
        json.loads(text)
    except ValueError:
        return text
    return text.replace("\t", " ")


def _syntax_error(error: yaml.YAMLError, text: str, path: str) -> SpecError:
    problem = " ".join(str(getattr(error, "problem", None) or str(error).splitlines()[0]).split())
    # An unclosed quote or bracket is found at the end of the file; its opening is more useful.
    first = "end of stream" in problem
    marks = ("context_mark", "problem_mark") if first else ("problem_mark", "context_mark")
    mark = getattr(error, marks[0], None) or getattr(error, marks[1], None)
    line = mark.line + 1 if mark is not None else None
    lines = text.splitlines()
    source = lines[line - 1] if line and line <= len(lines) else ""
    return SpecError(path, line, "YAML syntax", problem + _hint(problem, source))


_PROBLEM_HINTS = (
    ("end of stream", "; a quote or bracket opened here is never closed"),
    ("<document start>", "; this line is indented less than the first one, or a bracket is closed twice"),
    ("mapping values are not allowed", "; quote a value that contains ': ' (e.g. title: \"a: b\")"),
)


def _hint(problem: str, source: str) -> str:
    """What usually causes the error on this line."""
    for words, hint in _PROBLEM_HINTS:
        if words in problem:
            return hint
    if "*" in source:
        return '; quote values that start with * (e.g. ipport: "*:443"); YAML reads * as an alias'
    if "[" in source and "]:" in source:
        return '; quote IPv6 keys (e.g. ipport: "[::]:443"); YAML reads [ ] as a list'
    if "\t" in source:
        return "; indent with spaces, not tabs"
    return "; check the indentation and quote values that start with { [ & * ! | > % @"


class _Builder:
    """Builds the tree straight from the parser's events (libyaml's when available): one pass, with
    the line of every node, and a refusal at the first anchor, alias, tag or duplicate key."""

    def __init__(self, events: Iterator[yaml.Event], path: str) -> None:
        self.events = events
        self.path = path

    def fail(self, event: yaml.Event, key: str, problem: str) -> NoReturn:
        raise SpecError(self.path, _line(event) or None, key, problem)

    def resolve(self, event: yaml.ScalarEvent) -> str:
        """The tag YAML gives an untagged scalar (str, int, bool...), as PyYAML's composer does."""
        tag: str = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
        return tag

    def document(self) -> Node | None:
        next(self.events)  # stream start
        if isinstance(next(self.events), yaml.StreamEndEvent):
            return None
        root = self.node(next(self.events), "", 0)
        next(self.events)  # document end
        extra = next(self.events)
        if isinstance(extra, yaml.DocumentStartEvent):
            self.fail(extra, "YAML", "a spec is one YAML document; remove the second --- and what follows")
        return root

    def node(self, event: yaml.Event, key: str, depth: int) -> Node:
        if isinstance(event, yaml.AliasEvent):
            self.fail(event, "YAML", f"alias *{event.anchor} is not allowed; write the value out in full")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self.fail(event, "YAML", f"anchor &{anchor} is not allowed; write values out, use `defaults`")
        if depth > _MAX_DEPTH:
            self.fail(
                event, "YAML", f"values are nested more than {_MAX_DEPTH} levels deep; a spec needs about 6"
            )
        line = _line(event)
        if isinstance(event, yaml.ScalarEvent):
            tag = self.scalar_tag(event)
            return Scalar(line, tag, str(event.value), not event.style)  # libyaml: "" for plain
        if isinstance(event, yaml.SequenceStartEvent):
            self.collection_tag(event, "seq")
            items: list[Node] = []
            while not isinstance(item := next(self.events), yaml.SequenceEndEvent):
                items.append(self.node(item, f"{key}[{len(items)}]", depth + 1))
            return Seq(line, tuple(items), bool(event.flow_style))
        if isinstance(event, yaml.MappingStartEvent):
            self.collection_tag(event, "map")
            return self.mapping(event, key, depth)
        self.fail(event, "YAML", "unexpected content")

    def scalar_tag(self, event: yaml.ScalarEvent) -> ScalarTag:
        full = event.tag
        if full is None or full == "!":
            full = self.resolve(event)
        tag = _SCALAR_TAGS.get(full)
        if tag is None:
            self.fail(event, "YAML", f"tag {full} is not allowed; remove it")
        return tag

    def collection_tag(self, event: yaml.CollectionStartEvent, kind: str) -> None:
        if event.tag not in (None, "!", _YAML + kind):
            self.fail(event, "YAML", f"tag {event.tag} is not allowed; remove it")

    def mapping(self, start: yaml.MappingStartEvent, prefix: str, depth: int) -> Map:
        entries: dict[str, Node] = {}
        key_lines: dict[str, int] = {}
        while not isinstance(event := next(self.events), yaml.MappingEndEvent):
            if not isinstance(event, yaml.ScalarEvent) or not event.value:
                self.fail(event, "YAML", "a key must be a plain name")
            if event.tag is None and self.resolve(event) == _YAML + "merge":
                self.fail(event, "YAML", "merge keys (<<) are not allowed; write the keys out")
            key = str(event.value)
            short = key if len(key) <= 60 else key[:60] + "..."
            where = f"{prefix}.{short}" if prefix else short
            if key in entries:
                self.fail(event, where, f"duplicate key (first at line {key_lines[key]}); keep only one")
            key_lines[key] = _line(event)
            entries[key] = self.node(next(self.events), where, depth + 1)
        return Map(_line(start), entries, key_lines, bool(start.flow_style))


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 0


# --- writing -------------------------------------------------------------------------------------

_Emitter = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Plain = str | int | bool | None


class OneLine(dict[str, _Plain]):
    """A mapping `dump` writes on one line (`{a: 1, b: x}`): a binding reads as one line of a list."""


def dump(document: object) -> str:
    """`document` as block-style YAML (a `OneLine` mapping on one line), what `yaml.safe_dump(...,
    sort_keys=False, default_flow_style=False, allow_unicode=True)` writes (multi-line strings as
    `|` blocks, no anchors), but with the events made here and only the emitter in libyaml: PyYAML's
    Python representer was a third of `render`'s time for a 10,000-binding spec."""
    events: list[yaml.Event] = [yaml.StreamStartEvent(), yaml.DocumentStartEvent(explicit=False)]
    _add_events(document, events)
    events += [yaml.DocumentEndEvent(explicit=False), yaml.StreamEndEvent()]
    text: str = yaml.emit(events, Dumper=_Emitter, allow_unicode=True, width=1 << 16)
    return text


def _add_events(value: object, events: list[yaml.Event]) -> None:
    """Append `value`'s events (a list, not nested generators: 10,000 bindings make a million)."""
    if isinstance(value, dict):
        events.append(
            yaml.MappingStartEvent(None, _YAML + "map", True, flow_style=isinstance(value, OneLine))
        )
        for key, item in value.items():
            events.append(_scalar(key))
            _add_events(item, events)
        events.append(yaml.MappingEndEvent())
    elif isinstance(value, list):
        events.append(yaml.SequenceStartEvent(None, _YAML + "seq", True, flow_style=False))
        for item in value:
            _add_events(item, events)
        events.append(yaml.SequenceEndEvent())
    elif value is None or isinstance(value, str | int):
        events.append(_scalar(value))
    else:
        raise TypeError(f"cannot write {type(value).__name__} as YAML")


@lru_cache(maxsize=4096)
def _scalar(value: _Plain) -> yaml.ScalarEvent:
    """The event SafeRepresenter + Serializer make for `value` (the same one is reused: the
    emitter only reads it)."""
    if value is None:
        tag, text = "null", "null"
    elif isinstance(value, bool):
        tag, text = "bool", "true" if value else "false"
    elif isinstance(value, int):
        tag, text = "int", str(value)
    else:
        tag, text = "str", value
    full = _YAML + tag
    implicit = (
        full == _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)),  # type: ignore[no-untyped-call]
        full == _RESOLVER.resolve(yaml.ScalarNode, text, (False, True)),  # type: ignore[no-untyped-call]
    )
    style = "|" if "\n" in text else None
    return yaml.ScalarEvent(None, full, implicit, text, style=style)
