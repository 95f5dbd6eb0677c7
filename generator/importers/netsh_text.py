"""Saved `netsh http show sslcert` output -> bindings, refusing whatever it cannot read with certainty.

Layout facts (reference section 3): a title, a dashed line, then one block per binding whose first
line names the kind (`IP:port`, `Hostname:port`, `Central Certificate Store`). Lines are
`<label><padding>: <value>`; padding, blank-line counts and the set of labels differ between
builds, and labels and values are translated. So: blank lines carry no meaning, a label is matched by
its words followed by the first colon after it (the key line `IP:port : 0.0.0.0:443` has colons on
both sides), unknown lines are kept and reported, and identity values are also recognized by shape.

Real output's typography (tests/fixtures/import/real and constructed): any Unicode space before the
colon (French U+00A0 / U+202F), none after it, a second colon (`Label : : value`, taken off where the
value cannot start with a colon and refused where it is free text), dash lines of any length,
translated titles; a translated build may print newer lines in English, so every table also reads
the English labels it lacks. `Extended Properties:` blocks are kept per binding (ExtendedBlock) and
judged in generator.importers.extended. Truncation is refused where it shows: output ending inside a
line, a binding missing a line the output's other bindings show, or one of the 13 lines every build
prints. Linear in the output: lines are read one at a time and each distinct line is matched once.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn

from generator.binding import (
    CHECK_MODE_FRESHNESS,
    DISABLE,
    PATTERNS,
    SETTING_NAMES_CLASSIC,
    SETTINGS,
    SETTINGS_BY_NAME,
    UINT32_MAX,
    KeyKind,
    SettingKind,
    SettingValue,
)
from generator.errors import IMPORT_MAX_BYTES, read_input
from generator.importers import values
from generator.importers.decode import DecodeError, decode_output, iter_lines, lines_of
from generator.importers.extended import LABELS as EXTENDED_LABELS
from generator.importers.extended import extended_warnings
from generator.importers.extras import freshness_warning, warnings_for
from generator.importers.netsh_labels import (
    ENGLISH,
    NULL_WORDS,
    TABLES,
    KeyLabel,
    LabelTable,
    NoParameter,
    fold,
    label_pattern,
    onoff_words,
)
from generator.importers.result import (
    ExtendedBlock,
    ExtraSetting,
    ImportInputError,
    ImportResult,
    Remark,
)
from generator.importers.warnings import BindingWarning
from generator.model import Binding, BindingKey

# Printed by every build since Server 2008 (reference 3.2, lines 2-13); a block without one of them
# is truncated or translated in a way we do not know, and is refused. Newer flags are absent on
# builds that do not have them, which means "off".
CORE_SETTINGS = SETTING_NAMES_CLASSIC
HASHLESS_KINDS = (KeyKind.CCS, KeyKind.SCOPEDCCS)  # certificates chosen at handshake time
LANGUAGE_SAMPLE_LINES = 500
LANGUAGE_SAMPLE_CHARS = 256 * 1024  # the sample is cut from the head, never split out of the whole file
_PREFIX = 4  # every label is longer
_MEMO_LINES = 4096  # distinct lines remembered per label table
_DASHES = re.compile(r"^\s*-{3,}\s*$")
_NOT_IMPORTABLE = "not importable: `netsh http add sslcert` cannot set it"
# How close an unknown label must be to a binding header's label to be taken for a damaged one.
# Setting labels stay well below it; a typo or a lost letter in "Central Certificate Store" does not.
DAMAGED_HEADER_RATIO = 0.8

# Setting kinds whose value is free text: a colon at its start may belong to it, so a doubled colon
# before such a value is not clear (every other kind cannot start with a colon).
_FREE_TEXT_KINDS = ("store", "ctlid")
_EXTENDED_LABELS = frozenset(fold(label) for label in EXTENDED_LABELS)

# What a recognized line is: ("key", KeyLabel) | ("setting", name) | ("noparam", (label, NoParameter))
# | ("extended", label) | ("header", label).
_Kind = tuple[str, object]


@dataclass(frozen=True)
class _Matcher:
    table: LabelTable
    # (folded label, its line pattern, what it is), longest label first, grouped by the label's first
    # characters so a line is tried against a handful of labels, not all of them
    by_prefix: Mapping[str, tuple[tuple[str, re.Pattern[str], _Kind], ...]]
    key_labels: tuple[tuple[str, str], ...]  # (label, folded label) of the binding headers
    # line -> what match() found: most lines repeat verbatim in every block ("Usage Check : Enabled"),
    # so a big output is matched once per distinct line, not once per line; bounded by _MEMO_LINES
    memo: dict[str, tuple[_Kind, str] | None] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, table: LabelTable) -> _Matcher:
        """The table's labels, then (for a translated table) every English label it does not have:
        localized builds leave newer lines untranslated ("Enable Caching Client Hello",
        "Extended Properties"), and a translated output must still read or refuse them."""
        entries: dict[str, tuple[str, _Kind]] = {}  # folded label -> (label, kind); first one wins
        for source in (table,) if table is ENGLISH else (table, ENGLISH):
            for label, kind in _entries(source):
                entries.setdefault(fold(label), (label, kind))
        ordered = sorted(entries.items(), key=lambda e: -len(e[1][0]))  # longest first: none shadows
        groups: dict[str, list[tuple[str, re.Pattern[str], _Kind]]] = {}
        for folded, (label, kind) in ordered:
            groups.setdefault(folded[:_PREFIX], []).append((folded, label_pattern(label), kind))
        keys = tuple((label, folded) for folded, (label, kind) in entries.items() if kind[0] == "key")
        return cls(table, {prefix: tuple(group) for prefix, group in groups.items()}, keys)

    def match(self, line: str) -> tuple[_Kind, str] | None:
        if line in self.memo:
            return self.memo[line]
        found = self._match(line)
        if len(self.memo) < _MEMO_LINES:
            self.memo[line] = found
        return found

    def _match(self, line: str) -> tuple[_Kind, str] | None:
        if ":" not in line:  # every recognized line has a colon after its label
            return None
        folded = fold(line)
        for label, pattern, kind in self.by_prefix.get(folded[:_PREFIX], ()):
            if folded.startswith(label):
                found = pattern.match(line.replace("\u2019", "'"))
                if found:
                    return kind, found.group("value").strip()
        return None

    def count(self, text: str) -> int:
        """Recognized lines among the first ones: enough to tell the language, cheap on big files."""
        lines = lines_of(text[:LANGUAGE_SAMPLE_CHARS])[:LANGUAGE_SAMPLE_LINES]
        return sum(1 for line in lines if self.match(line))


def _entries(table: LabelTable) -> list[tuple[str, _Kind]]:
    entries: list[tuple[str, _Kind]] = [(lab, ("key", kl)) for lab, kl in table.keys.items()]
    entries += [(lab, ("setting", name)) for lab, name in table.settings.items()]
    entries += [(lab, ("noparam", (lab, meaning))) for lab, meaning in table.no_parameter.items()]
    entries += [(table.extended, ("extended", table.extended))]
    entries += [(lab, ("header", lab)) for lab in table.header]
    return entries


MATCHERS = tuple(_Matcher.build(t) for t in TABLES)


@dataclass
class _Block:
    kind: KeyKind
    key: str
    line: int
    raw: dict[str, tuple[int, str]] = field(default_factory=dict)  # setting -> (line, value text)
    in_extended: bool = False
    # (line of `Extended Properties:`, the (label, value) lines under it)
    extended: list[tuple[int, list[tuple[str, str]]]] = field(default_factory=list)
    last: int = 0  # the last line read into this block

    @property
    def name(self) -> str:
        return f"{self.kind.value}={self.key}"


class _Parser:
    def __init__(self, source: str, matcher: _Matcher) -> None:
        self.source, self.matcher = source, matcher
        self.words = onoff_words()
        self.blocks: list[_Block] = []
        self.seen: dict[str, int] = {}  # binding -> line of its key
        self.not_imported: list[Remark] = []
        self.inferred: list[Remark] = []
        self.extras: list[ExtraSetting] = []

    @property
    def block(self) -> _Block | None:
        return self.blocks[-1] if self.blocks else None

    def refuse(
        self, line: int | None, problem: str, block: _Block | None = None, setting: str = ""
    ) -> NoReturn:
        raise ImportInputError(self.source, line, problem, block.name if block else None, setting or None)

    def feed(self, number: int, line: str) -> None:
        if not line.strip() or _DASHES.match(line):
            return
        found = self.matcher.match(line)
        if found is None:
            self.unknown(number, line)
            return
        (what, payload), value = found
        if what == "key":
            assert isinstance(payload, KeyLabel)
            self.start(number, payload.kind, value, line, inferred=payload.inferred)
        elif what == "setting":
            self.setting(number, str(payload), value)
        elif what == "noparam":
            assert isinstance(payload, tuple)
            self.no_parameter(number, line, payload[0], payload[1], value)
        elif what == "extended":
            self.extended(number, line)
        # a header line carries nothing

    def start(self, number: int, kind: KeyKind, value: str, line: str, inferred: bool) -> None:
        try:
            key = values.binding_key(kind, after_second_colon(value))
        except ValueError as error:
            self.refuse(number, f"binding key: {error}")
        block = _Block(kind, key, number)
        if block.name in self.seen:
            self.refuse(
                number, f"the same binding appears twice (first on line {self.seen[block.name]})", block
            )
        self.seen[block.name] = number
        self.blocks.append(block)
        if inferred:
            self.inferred.append(Remark(number, block.name, line, "binding kind inferred from its label"))

    def setting(self, number: int, name: str, value: str) -> None:
        block = self.block
        if block is None:
            self.refuse(number, f"{name} line before any binding line (truncated output?)")
        if name in block.raw:
            self.refuse(number, f"second {name} line (first on line {block.raw[name][0]})", block, name)
        block.raw[name] = (number, value)
        block.in_extended = False
        block.last = number

    def no_parameter(self, number: int, line: str, label: str, meaning: NoParameter, value: str) -> None:
        """A line for a bit no netsh parameter sets: read, and on a binding kept as an ExtraSetting."""
        block = self.block
        if block is None:
            self.not_imported.append(Remark(number, None, line, "outside any binding, not imported"))
            return
        block.in_extended = False
        block.last = number
        word = fold(after_second_colon(value))
        on = word not in NULL_WORDS and self.words.get(word) != DISABLE
        extra = ExtraSetting(block.name, meaning.field, meaning.bit, label, on, number, line)
        self.extras.append(extra)

    def extended(self, number: int, line: str) -> None:
        block = self.block
        if block is not None:
            block.in_extended = True
            block.extended.append((number, []))
            block.last = number
        self.not_imported.append(Remark(number, block.name if block else None, line, _NOT_IMPORTABLE))

    def unknown(self, number: int, line: str) -> None:
        block = self.block
        owner = block.name if block else None
        label, value = split_label(line)
        if block is not None and block.in_extended and fold(label) in _EXTENDED_LABELS:
            self.extended_line(number, block, label, value)  # known: no damaged-header check needed
            return
        if value is not None and values.looks_like_ipport(value):  # a binding under an unknown label
            self.start(number, KeyKind.IPPORT, value, line, inferred=False)
            self.inferred.append(
                Remark(number, self.blocks[-1].name, line, "ip:port key recognized by shape")
            )
            return
        header = self.damaged_header(line)
        if header is not None:  # the lines under it would land in the previous binding
            self.refuse(
                number,
                f"{line.strip()!r} looks like a damaged binding header (like {header!r}); the lines "
                "under it cannot be placed in any binding; repair the line",
            )
        if block is not None and block.in_extended:
            self.extended_line(number, block, label, value)
            return
        if value is not None and self.by_shape(number, line, value):
            return
        if block is not None and value is not None and self.words.get(fold(value)) not in (None, DISABLE):
            self.refuse(
                number, f"unknown line {line.strip()!r} is switched on; its setting would be lost", block
            )
        self.not_imported.append(Remark(number, owner, line, "unknown line, not imported"))

    def extended_line(self, number: int, block: _Block, label: str, value: str | None) -> None:
        """A line under `Extended Properties:`: kept on the block and in its one not-imported remark."""
        block.extended[-1][1].append((label, value if value is not None else ""))
        block.last = number
        shown = label if value is None else f"{label} : {value}"
        last = self.not_imported[-1]
        self.not_imported[-1] = replace(last, text=f"{last.text.strip()} {' '.join(shown.split())};")

    def damaged_header(self, line: str) -> str | None:
        """The header label an unknown line is a damaged copy of, if it is close to one."""
        label, _value = split_label(line)
        folded, whole = fold(label), fold(line)
        for known, known_folded in self.matcher.key_labels:
            if whole.startswith(known_folded) or _close(folded, known_folded):
                return known
        return None

    def by_shape(self, number: int, line: str, value: str) -> bool:
        """Hash and appid lines under a label we do not know, recognized by the shape of their value."""
        block = self.block
        if block is None:
            return False
        if values.looks_like_hostport(value):
            self.refuse(
                number, f"{line.strip()!r}: hostname:port under an unknown label (SNI or scoped CCS?)"
            )
        for name, test in (("certhash", values.looks_like_hash), ("appid", values.looks_like_guid)):
            if test(value):
                if name in block.raw:
                    self.refuse(number, f"a second {name}-shaped value under unknown label", block, name)
                block.raw[name] = (number, value)
                self.inferred.append(Remark(number, block.name, line, f"{name} recognized by shape"))
                return True
        return False


def _close(text: str, known: str) -> bool:
    """difflib's ratio at least DAMAGED_HEADER_RATIO; its cheap upper bounds first (same answer)."""
    matcher = difflib.SequenceMatcher(None, text, known)
    return (
        matcher.real_quick_ratio() >= DAMAGED_HEADER_RATIO
        and matcher.quick_ratio() >= DAMAGED_HEADER_RATIO
        and matcher.ratio() >= DAMAGED_HEADER_RATIO
    )


def after_second_colon(text: str) -> str:
    """A value with the second colon of `Label : : value` / `Label :: value` taken off.

    Only for values that cannot start with a colon (keys, hashes, GUIDs, numbers, on/off words).
    """
    text = text.strip()
    return text[1:].strip() if text.startswith(":") else text


def split_label(line: str) -> tuple[str, str | None]:
    """An unknown line's label and value: split on the first ' : ', else the first colon."""
    text = line.strip()
    if " : " in text:
        label, _, value = text.partition(" : ")
        return label.strip(), value.strip()
    if ":" in text:
        label, _, value = text.partition(":")
        return label.strip(), value.strip()
    return text, None


def _settings(parser: _Parser, block: _Block, shown: Mapping[str, int]) -> dict[str, SettingValue]:
    """The block's settings; `shown` (setting -> first line) is what the output's other blocks show."""
    out: dict[str, SettingValue] = {}
    for s in SETTINGS:
        if s.name not in block.raw:
            if s.name in shown:  # one netsh build wrote every block: a missing line was cut or edited out
                parser.refuse(
                    block.line,
                    f"no line for this setting, which other bindings of this output show (first on line "
                    f"{shown[s.name]}): truncated or edited output? save the whole `netsh` output again",
                    block,
                    s.name,
                )
            if s.name in CORE_SETTINGS:
                parser.refuse(
                    block.line,
                    f"no line for this setting; every netsh build prints it (label table "
                    f"{parser.matcher.table.language!r} may not know its label)",
                    block,
                    s.name,
                )
            if s.default is not None:
                out[s.name] = s.default
            continue
        line, text = block.raw[s.name]
        value = _value(parser, block, s.name, line, text)
        if value is not None:
            out[s.name] = value
    return out


def _value(parser: _Parser, block: _Block, name: str, line: int, text: str) -> SettingValue | None:
    setting = SETTINGS_BY_NAME[name]
    if text.startswith(":"):  # `Label : : value`: French typography, or a colon of the value itself?
        if setting.kind in _FREE_TEXT_KINDS and text != ":" and not text[1].isspace():
            parser.refuse(
                line,
                f"value {text!r}: a second colon after the label, or part of the value? not clear; "
                "write the line as `label : value`",
                block,
                name,
            )
        text = after_second_colon(text)
    if fold(text) in NULL_WORDS:
        if name == "certstorename":
            return "MY"  # NULL store is MY for HTTP.sys (reference 2.1)
        if name in ("sslctlidentifier", "sslctlstorename") or (
            name == "certhash" and block.kind in HASHLESS_KINDS
        ):
            return None
        parser.refuse(line, f"value {text!r} is empty; this binding needs one", block, name)
    if setting.kind == "onoff":
        word = parser.words.get(fold(text))
        if word is None:
            parser.refuse(line, f"value {text!r} is not a known on/off word", block, name)
        return word
    try:
        return values.setting_value(name, text)
    except ValueError as error:
        parser.refuse(line, str(error), block, name)


def _warnings(bindings: tuple[Binding, ...], extras: list[ExtraSetting]) -> list[BindingWarning]:
    """Lines for bits no netsh parameter sets that are on, and a freshness line at odds with the time."""
    found = warnings_for(extras)
    times = {str(b.key): int(b.settings.get("revocationfreshnesstime", 0)) for b in bindings}
    for extra in extras:
        if extra.bit == CHECK_MODE_FRESHNESS and extra.binding in times:
            where = f"line {extra.line}: {extra.text.strip()!r}"
            warning = freshness_warning(extra.binding, extra.on, times[extra.binding], where)
            if warning is not None:
                found.append(warning)
    return found


def _check_ending(parser: _Parser, text: str, count: int) -> None:
    """Refuse output that stops inside a value line: netsh ends every line, and its output with a
    blank line, so a last line without a line break may be cut (`Usage Check : Enable|d`). A console
    copy ends that way too, so such a line is read when its value cannot be the start of a longer
    one (`_whole_last_line`), and refused when it may be cut."""
    if not text or text.endswith(("\n", "\r")):
        return
    block = parser.block
    if block is not None and block.last == count:
        last = text[text.rfind("\n") + 1 :].strip()
        if _whole_last_line(parser, block, count, last):
            return
        parser.refuse(
            count,
            f"the output stops inside this line ({last!r}, no line break after it): its value may be "
            "cut short; save the whole `netsh` output again",
            block,
        )


_PROPERTY_IDS = frozenset("01234")  # Extended Properties blocks: PropertyId 0-4, one digit each


def _whole_number(value: str) -> bool:
    """netsh writes numbers (32-bit) without leading zeros: 0, or one no further digit fits."""
    return value.isdigit() and value.isascii() and (value == "0" or int(value) * 10 > UINT32_MAX)


def _whole_last_line(parser: _Parser, block: _Block, count: int, line: str) -> bool:
    """Whether the last line's value is complete for what the line holds: a full thumbprint or
    GUID, `(null)`, an on/off word no word of another meaning extends, an Extended Properties
    PropertyId (one digit), a number no further digit fits (`_whole_number`). Any other number, a
    store or CTL name, or an empty value may be cut."""
    if block.in_extended:
        pairs = block.extended[-1][1] if block.extended else []
        if not pairs:
            return False
        label, value = fold(pairs[-1][0]), pairs[-1][1].strip()
        return (label == "propertyid" and value in _PROPERTY_IDS) or _whole_number(value)
    named = [name for name, (number, _text) in block.raw.items() if number == count]
    if named:
        value = block.raw[named[0]][1]
        return _whole_value(parser, SETTINGS_BY_NAME[named[0]].kind, value)
    if parser.extras and parser.extras[-1].line == count:  # a bit no netsh parameter sets: on/off
        return _whole_value(parser, "onoff", split_label(line)[1] or "")
    return False


def _whole_value(parser: _Parser, kind: SettingKind, text: str) -> bool:
    value = after_second_colon(text) if text.startswith(":") else text
    word = fold(value)
    if word == "(null)":
        return True
    if kind in ("hash", "guid"):
        return re.fullmatch(PATTERNS[kind], value.strip()) is not None
    if kind == "uint32":
        return _whole_number(value.strip())
    if kind == "onoff":
        meaning = parser.words.get(word)
        longer = (m for w, m in parser.words.items() if w.startswith(word))
        return meaning is not None and all(m == meaning for m in longer)
    return False


def parse_netsh(data: bytes, source: str, encoding: str | None = None) -> ImportResult:
    """Bindings in saved `netsh http show sslcert` output (`data` as read from the file)."""
    try:
        decoded = decode_output(data, lambda text: max(m.count(text) for m in MATCHERS), encoding)
    except DecodeError as error:
        raise ImportInputError(source, None, f"{error}; pass --encoding") from error
    matcher = max(MATCHERS, key=lambda m: m.count(decoded.text))  # first (English) wins a tie
    parser = _Parser(source, matcher)
    count = 0
    for count, line in enumerate(iter_lines(decoded.text), start=1):
        parser.feed(count, line)
    if not parser.blocks:
        raise ImportInputError(
            source, None, "no SSL binding found; is this `netsh http show sslcert` output?"
        )
    _check_ending(parser, decoded.text, count)
    shown: dict[str, int] = {}
    for b in parser.blocks:
        for name, (first, _text) in b.raw.items():
            shown.setdefault(name, first)
    bindings = tuple(
        Binding(BindingKey(b.kind, b.key), _settings(parser, b, shown), mode="exact", line=b.line)
        for b in parser.blocks
    )
    extended = tuple(
        ExtendedBlock(b.name, line, tuple(pairs)) for b in parser.blocks for line, pairs in b.extended
    )
    table = matcher.table
    language = table.language + ("" if table.verified else ", unverified label table")
    return ImportResult(
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        format=f"netsh http show sslcert ({language})",
        encoding=decoded.encoding,
        bindings=bindings,
        not_imported=tuple(parser.not_imported),
        inferred=tuple(parser.inferred),
        extras=tuple(parser.extras),
        warnings=tuple(sorted(_warnings(bindings, parser.extras) + extended_warnings(extended))),
        extended=extended,
    )


def read_netsh(path: Path, encoding: str | None = None) -> ImportResult:
    data = read_input(path, IMPORT_MAX_BYTES, "an import input")
    return parse_netsh(data, str(path), encoding)
