"""Read a spec file's bytes into a small tree of mappings, lists and scalars that remember their line.

PyYAML's composer (libyaml when available) does the parsing; this module turns its nodes into
`Map`/`Seq`/`Scalar` and refuses what a reviewed spec must not contain: anchors and aliases (one
value silently shared by several bindings), merge keys, duplicate keys (YAML keeps the last one
without a word), custom tags, several documents. JSON is read the same way (it is YAML).
Scalars keep the text as written, so a string field can take `0012` or `2026-01-01` verbatim instead
of YAML 1.1's reading of it as a number or a date.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
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
_DECIMAL = re.compile(r"[-+]?[0-9]+")
_MAX_DIGITS = 30  # far beyond any valid value; keeps int() and messages small
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
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
    _refuse_anchors(text, path)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as error:
        raise _syntax_error(error, text, path) from None
    return None if root is None else _convert(root, path, "")


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


def _refuse_anchors(text: str, path: str) -> None:
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                _fail(path, event, f"alias *{event.anchor} is not allowed; write the value out in full")
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                _fail(path, event, f"anchor &{anchor} is not allowed; write values out, use `defaults`")
    except yaml.YAMLError as error:
        raise _syntax_error(error, text, path) from None


def _fail(path: str, event: yaml.Event, problem: str) -> NoReturn:
    line = event.start_mark.line + 1 if event.start_mark is not None else None
    raise SpecError(path, line, "YAML", problem)


def _syntax_error(error: yaml.YAMLError, text: str, path: str) -> SpecError:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    problem = " ".join(str(problem).split())
    source = text.splitlines()[line - 1] if line and line <= len(text.splitlines()) else ""
    return SpecError(path, line, "YAML syntax", problem + _hint(problem, source))


def _hint(problem: str, source: str) -> str:
    """What usually causes the error on this line."""
    if "document" in problem:
        return "; a spec is one YAML document: remove the second --- and what follows, or split the file"
    if "*" in source:
        return '; quote values that start with * (e.g. ipport: "*:443"); YAML reads * as an alias'
    if "[" in source and "]:" in source:
        return '; quote IPv6 keys (e.g. ipport: "[::]:443"); YAML reads [ ] as a list'
    if "\t" in source:
        return "; indent with spaces, not tabs"
    return "; check the indentation and quote values that contain ': ' or start with { [ & * ! | > % @"


def _convert(node: yaml.Node, path: str, key: str) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        tag = _SCALAR_TAGS.get(node.tag)
        if tag is None:
            raise SpecError(path, line, "YAML", f"tag {node.tag} is not allowed; remove it")
        return Scalar(line, tag, str(node.value), node.style is None)
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _YAML + "seq":
            raise SpecError(path, line, "YAML", f"tag {node.tag} is not allowed; remove it")
        items = tuple(_convert(item, path, f"{key}[{index}]") for index, item in enumerate(node.value))
        return Seq(line, items, bool(node.flow_style))
    if isinstance(node, yaml.MappingNode) and node.tag == _YAML + "map":
        return _convert_map(node, path, key)
    raise SpecError(path, line, "YAML", f"tag {node.tag} is not allowed; remove it")


def _convert_map(node: yaml.MappingNode, path: str, prefix: str) -> Map:
    entries: dict[str, Node] = {}
    key_lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == _YAML + "merge":
            raise SpecError(path, line, "YAML", "merge keys (<<) are not allowed; write the keys out")
        if not isinstance(key_node, yaml.ScalarNode) or not str(key_node.value):
            raise SpecError(path, line, "YAML", "a key must be a plain name")
        key = str(key_node.value)
        where = f"{prefix}.{key}" if prefix else key
        if key in entries:
            raise SpecError(
                path, line, where, f"duplicate key (first at line {key_lines[key]}); keep only one"
            )
        entries[key] = _convert(value_node, path, where)
        key_lines[key] = line
    return Map(node.start_mark.line + 1, entries, key_lines, bool(node.flow_style))
