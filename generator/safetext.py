"""The one sanitizer for text that came from a host or a record, wherever sslbind shows it.

Certificate subjects, registry values, netsh output, lock holders, error messages and run files
are written by whoever controls the host or the record. Shown raw, an ESC sequence retitles or
clears the reader's terminal, a NUL or bidi override hides text, and `<script>` in a Markdown cell
is HTML to every renderer. So, wherever such text is printed:

- `shown` (a terminal line, a one-line message): every control character (C0, DEL, C1, ESC),
  the invisible format characters that reorder or hide text (bidi overrides, zero-width) and
  line/paragraph separators are written as escapes (`\\x1b`, `\\u202e`), and the text is capped.
- `shown_block` (multi-line text such as netsh's own output): the same, keeping newlines and tabs.
- `md_cell` / `md_text` (Markdown): `shown`, plus `&`, `<` and `>` as HTML entities (and `|` in a
  table cell), so no renderer sees a tag.
- `comment` (a YAML comment written by import): printable text only, so the spec still loads.

Nothing here decides whether text is acceptable; it only makes it harmless to look at.
"""

from __future__ import annotations

import re

CAP = 2000  # characters of one host- or record-supplied string where it is printed
BLOCK_CAP = 256 * 1024  # a verbatim block (netsh's output), characters

# Cc (C0, DEL, C1), surrogates (undecodable bytes), and the format characters that hide or
# reorder text: soft hyphen, Arabic letter mark, Mongolian vowel separator, zero-width and
# directional marks, line and paragraph separators, bidi embeddings/overrides/isolates, invisible
# operators, BOM, interlinear annotation.
_INVISIBLE = (
    "\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff"
)
_LINE = re.compile(f"[\x00-\x1f{_INVISIBLE}]")
_BLOCK = re.compile(f"[\x00-\x08\x0b-\x1f{_INVISIBLE}]")  # newline and tab kept
_MARKDOWN = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MARKDOWN_CHARS = re.compile("[&<>]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _capped(text: str, cap: int | None) -> str:
    if cap is None or len(text) <= cap:
        return text
    return f"{text[:cap]}... ({len(text) - cap} more characters not shown)"


def shown(text: object, cap: int | None = CAP) -> str:
    """`text` for one line of a terminal or a message: controls and invisible characters escaped
    (newlines and tabs too), at most `cap` characters of it (None: no cap)."""
    value = "" if text is None else str(text)
    return _LINE.sub(_escape, _capped(value, cap))


def shown_block(text: object, cap: int | None = BLOCK_CAP) -> str:
    """Multi-line `text` (netsh output): as `shown`, but newlines and tabs are kept."""
    value = "" if text is None else str(text).replace("\r\n", "\n")
    return _BLOCK.sub(_escape, _capped(value, cap))


def _markdown(text: str) -> str:
    return _MARKDOWN_CHARS.sub(lambda m: _MARKDOWN[m.group()], text)


def md_text(text: object, cap: int | None = CAP) -> str:
    """`text` inside a Markdown paragraph or heading: `shown`, and no HTML tag or entity."""
    return _markdown(shown(text, cap))


def md_cell(text: object, cap: int | None = CAP) -> str:
    """`text` as one Markdown table cell: `md_text`, whitespace runs as one space, `|` escaped."""
    value = "" if text is None else str(text)
    return md_text(" ".join(value.split()), cap).replace("|", "\\|") or " "


def comment(text: object, cap: int | None = CAP) -> str:
    """`text` for a YAML comment: one line of printable characters (everything else escaped),
    since a control character anywhere makes the whole file unloadable."""
    value = shown(text, cap)
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in value)
