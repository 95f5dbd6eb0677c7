"""The one sanitizer for host- and record-supplied text (generator.safetext), and the places that
print such text: doctor's Markdown, import's spec and notes, plan's terminal output, error lines."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from generator.cli import cli
from generator.doctor.report import to_markdown
from generator.importers.certfacts import CertFacts
from generator.importers.live import keys_from_capture
from generator.importers.reg_text import parse_registry_values
from generator.importers.spec_writer import import_spec
from generator.remote.display import plan_lines, summary_table
from generator.remote.fleet import HostOutcome
from generator.safetext import CAP, comment, md_cell, md_text, shown, shown_block
from tests.unit.test_doctor import document, key, run, set_value
from tests.unit.test_import_live import H1, capture

# What adversarial run 2 put in subjects, registry values and the host lock (N2, N3).
EVIL = "\x1b]0;PWNED-TITLE\x1b\\\x1b[2J\x1b[31mred\x00<script>alert(1)</script><img src=x onerror=alert(2)>"
C0 = [chr(c) for c in range(0x20)]
C1 = [chr(c) for c in range(0x7F, 0xA0)]  # DEL and C1 (0x9b is the one-byte CSI)
INVISIBLE = ["\u00ad", "\u061c", "\u200b", "\u200e", "\u200f", "\u2028", "\u2029", "\u202a", "\u202e"]
INVISIBLE += ["\u2066", "\u2069", "\ufeff", "\udcff"]  # isolates, BOM, an undecodable byte


def raw_controls(text: str) -> list[str]:
    return [c for c in text if c in C0 + C1 + INVISIBLE and c not in "\n"]


@pytest.mark.parametrize("char", C0 + C1 + INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_every_control_and_invisible_character_is_shown_escaped(char: str) -> None:
    text = f"a{char}b"
    escaped = f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    assert shown(text) == f"a{escaped}b"
    assert md_text(text) == f"a{escaped}b"
    assert comment(text) == f"a{escaped}b" and comment(text).isprintable()
    if char not in "\n\t":
        assert shown_block(text) == f"a{escaped}b"


def test_a_block_keeps_its_lines_and_tabs_but_no_carriage_return() -> None:
    assert shown_block("a\r\nb\tc\rd") == "a\nb\tc\\x0dd"
    assert shown("a\nb\tc") == "a\\x0ab\\x09c"  # one line stays one line


def test_printable_text_is_unchanged() -> None:
    for text in ("CN=api.contoso.com, O=Contoso", "CONTOSO\\svc-change", "Zürich Straße 名前 ✓", "{a-b}"):
        assert shown(text) == text == comment(text) == shown_block(text)


def test_markdown_metacharacters_are_entities_and_pipes_escaped() -> None:
    assert md_text("<script>&amp;</script>") == "&lt;script&gt;&amp;amp;&lt;/script&gt;"
    assert md_cell("a | b\n<img onerror=x>") == "a \\| b &lt;img onerror=x&gt;"
    assert md_cell("") == " " and md_cell(None) == " "
    assert "<" not in md_cell(EVIL) and ">" not in md_cell(EVIL) and not raw_controls(md_cell(EVIL))


def test_host_strings_are_capped_where_printed() -> None:
    long = "x" * (CAP + 500)
    assert shown(long) == "x" * CAP + "... (500 more characters not shown)"
    assert shown(long, cap=None) == long
    assert len(md_cell(long)) < CAP + 100


# --- where host text is printed ------------------------------------------------------------------


def test_doctor_markdown_of_hostile_values_holds_none_raw() -> None:
    doc = document()
    set_value(doc, "0.0.0.0:443", "EvilValue", "REG_SZ", EVIL)
    set_value(doc, "0.0.0.0:443", "SslCtlStoreName", "REG_SZ", EVIL)
    key(doc, "0.0.0.0:443")["values"].append({"name": "Evil" + EVIL, "type": "REG_SZ", "data": "x"})
    doc["computer_name"] = EVIL
    doc["netsh"]["show"]["text"] += "\n    Evil : " + EVIL + "\n"
    text = to_markdown(run(doc))
    assert not raw_controls(text), sorted({f"U+{ord(c):04X}" for c in raw_controls(text)})
    assert "<script>" not in text.replace("````text", "").split("## netsh output, verbatim")[0]
    assert "| EvilValue | REG_SZ (inferred) | \\x1b]0;PWNED-TITLE\\x1b\\\\x1b[2J" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Evil : \\x1b]0;PWNED-TITLE" in text  # the verbatim block shows it escaped


def hostile_import() -> str:
    result = parse_registry_values(keys_from_capture(capture([]), "web01"), "web01")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    cert = CertFacts(H1, "My", "CN=api\n" + EVIL, now - timedelta(days=300), now + timedelta(days=5), True)
    return import_spec(result, "web01.contoso.local", {}, {H1: cert}, now)


def test_import_writes_hostile_subjects_as_printable_comments_and_the_spec_renders(tmp_path: Path) -> None:
    text = hostile_import()
    assert "CN=api \\x1b]0;PWNED-TITLE" in text  # the warning names the subject, escaped
    assert not raw_controls(text)
    spec = tmp_path / "imported.yaml"
    spec.write_text(text, encoding="utf-8")
    rendered = CliRunner().invoke(cli, ["render", str(spec), "-o", str(tmp_path / "out")])
    assert rendered.exit_code == 0, rendered.output


def plan_output(summary: str) -> str:
    capture = {"before": [], "after": [], "bindings": [{"binding": "ipport=0.0.0.0:443" + EVIL}]}
    outcomes = [HostOutcome("web01", "error", 1, summary, {"capture": capture})]
    stream = io.StringIO()
    console = Console(file=stream, width=120, force_terminal=False, color_system=None)
    console.print(summary_table("plan: CHG1", outcomes))
    for line in plan_lines(outcomes):
        console.print(line, highlight=False)
    return stream.getvalue()


def test_plan_output_of_a_hostile_lock_holder_holds_none_raw_and_is_capped() -> None:
    lock = "prepare.ps1 refused: another sslbind phase holds this host: an unreadable lock: " + EVIL
    output = plan_output(lock + "[/][link=http://x]" + "A" * 200_000)
    assert "\x1b" not in output and "\x00" not in output
    assert "[/][link=http://x]" in output  # rich markup from a host is text, not obeyed (nor a crash)
    assert "more characters not shown" in output and len(output) < 20_000


def test_an_error_line_quoting_a_host_holds_none_raw(tmp_path: Path) -> None:
    record = tmp_path / ("rec" + "\x1b[2J")
    record.mkdir()
    result = CliRunner().invoke(cli, ["record", "check", str(record)])
    assert result.exit_code != 0
    assert "\x1b" not in result.output and "\\x1b[2J" in result.output
