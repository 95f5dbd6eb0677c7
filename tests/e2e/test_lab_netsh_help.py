"""The lab's netsh help layouts: the golden texts and how the simulated netsh prints them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator.binding import SETTING_NAMES, SETTING_NAMES_CLASSIC
from generator.lab.sample import sample_state
from generator.lab.simwin import netsh
from generator.lab.simwin.netsh_help import (
    DEFAULT_LAYOUT,
    HELP_DIR,
    HELP_LAYOUTS,
    HELP_VERBS,
    help_text,
    without_tags,
)
from generator.lab.state import LabStateError, StateFile

KEYS = {"ipport", "hostnameport", "ccs"}
# What each build's add/update usage lists (reference httpsys-sslcert.md §2.2, the 2025 page).
EXPECTED_TAGS = {
    "2012r2": KEYS | set(SETTING_NAMES_CLASSIC),
    "2016": KEYS | set(SETTING_NAMES_CLASSIC),
    "2019": KEYS | set(SETTING_NAMES),
    "2025": KEYS | set(SETTING_NAMES) | {"json"},
    "de-2019": KEYS | set(SETTING_NAMES),
}
USAGE_WORD = {"de-2019": "Syntax:"}
LAYOUT_VERBS = [(layout, verb) for layout in HELP_LAYOUTS for verb in HELP_VERBS]


def usage_block(text: str) -> str:
    """The usage lines: from 'Usage:'/'Syntax:' to the first empty line."""
    start = re.search(r"(?m)^(Usage|Syntax):", text)
    assert start is not None, text
    return text[start.start() :].split("\n\n")[0]


def usage_tags(text: str) -> set[str]:
    return set(re.findall(r"\[?([a-z0-9]+)=", usage_block(text)))


def parameter_rows(text: str) -> set[str]:
    return {line.split()[0] for line in text.splitlines() if re.match(r"^    [a-z0-9]+ +- ", line)}


def store_with(tmp_path: Path, **behaviour: object) -> StateFile:
    state = sample_state()
    state["netsh"].update(behaviour)
    store = StateFile(tmp_path / "state.json")
    store.create(state)
    return store


def test_the_files_are_exactly_the_layouts_times_the_verbs() -> None:
    files = {p.relative_to(HELP_DIR).as_posix() for p in HELP_DIR.rglob("*.txt")}
    expected = {f"{layout}/{verb}.txt" for layout, verb in LAYOUT_VERBS} - {"2012r2/update.txt"}
    assert files == expected
    assert DEFAULT_LAYOUT == "2019"
    assert (HELP_DIR / "README.md").is_file()


@pytest.mark.parametrize(("layout", "verb"), LAYOUT_VERBS)
def test_each_text_is_ascii_and_starts_its_usage_with_the_verb(layout: str, verb: str) -> None:
    text = help_text(layout, verb)
    if layout == "2012r2" and verb == "update":
        assert text is None
        return
    assert text is not None
    text.encode("ascii")
    word = USAGE_WORD.get(layout, "Usage:")
    assert f"\n{word} {verb} sslcert " in text
    assert ("Usage:" in text) == (word == "Usage:")


@pytest.mark.parametrize(("layout", "verb"), [lv for lv in LAYOUT_VERBS if lv != ("2012r2", "update")])
def test_each_text_lists_every_tag_its_build_knows(layout: str, verb: str) -> None:
    text = help_text(layout, verb)
    assert text is not None
    expected = EXPECTED_TAGS[layout] if verb != "delete" else KEYS
    assert usage_tags(text) == expected
    described = expected - {"json"}  # the 2025 page describes json= in prose, not as a row
    assert parameter_rows(text) == described


def test_delete_usage_has_the_classic_examples() -> None:
    for layout in HELP_LAYOUTS:
        text = help_text(layout, "delete")
        assert text is not None and "delete sslcert ipport=1.1.1.1:443" in text, layout


def test_the_2025_layout_prints_several_tags_per_line_and_2019_one() -> None:
    def most_per_line(layout: str) -> int:
        text = help_text(layout, "add")
        assert text is not None
        return max(len(re.findall(r"\[[a-z0-9]+=", line)) for line in usage_block(text).splitlines())

    assert most_per_line("2025") >= 3
    assert most_per_line("2019") == 1
    assert most_per_line("de-2019") == 1


@pytest.mark.parametrize("layout", HELP_LAYOUTS)
@pytest.mark.parametrize("verb", ["add", "update"])
def test_missing_parameters_leave_the_usage_and_the_rows(layout: str, verb: str) -> None:
    text = help_text(layout, verb)
    if text is None:
        pytest.skip("2012 R2 has no update sslcert")
    gone = {"certhash", "dsmapperusage", "disablesessionid"} & EXPECTED_TAGS[layout]
    trimmed = without_tags(text, gone)
    assert usage_tags(trimmed) == EXPECTED_TAGS[layout] - gone
    assert parameter_rows(trimmed) == EXPECTED_TAGS[layout] - gone - {"json"}
    assert not re.search(r"(?m)^[ \t]+$", usage_block(trimmed).split("\n", 2)[-1])  # no emptied lines
    assert "Remarks:" in trimmed or "Hinweise:" in trimmed


@pytest.mark.parametrize("layout", HELP_LAYOUTS)
@pytest.mark.parametrize("verb", HELP_VERBS)
def test_the_lab_netsh_answers_help_from_the_layout(tmp_path: Path, layout: str, verb: str) -> None:
    store = store_with(tmp_path, help_layout=layout)
    code, text = netsh.run(["http", verb, "sslcert", "/?"], store)
    expected = help_text(layout, verb)
    if expected is None:
        assert (code, text) == (1, "The following command was not found: http update sslcert /?.\n")
    else:
        assert (code, text) == (0, expected)


def test_a_2012r2_netsh_has_no_update_command(tmp_path: Path) -> None:
    store = store_with(tmp_path, help_layout="2012r2")
    argv = ["http", "update", "sslcert", "ipport=0.0.0.0:443", "appid={00000000-0000-0000-0000-000000000000}"]
    code, text = netsh.run(argv, store)
    assert (code, text) == (1, "The following command was not found: " + " ".join(argv) + ".\n")


def test_missing_parameters_apply_to_every_layout(tmp_path: Path) -> None:
    store = store_with(tmp_path, help_layout="2025", missing_parameters=["disablesessionid"])
    _, text = netsh.run(["http", "add", "sslcert", "/?"], store)
    assert "disablesessionid" not in text and "[enablesessionticket=enable|disable]" in text
    _, delete = netsh.run(["http", "delete", "sslcert", "/?"], store)
    assert delete == help_text("2025", "delete")


@pytest.mark.parametrize(
    ("netsh_section", "message"),
    [
        ('{"help_layout": "2008r2"}', "netsh.help_layout: must be one of 2012r2, 2016, 2019, 2025, de-2019"),
        ('{"colour": "red"}', "netsh: unknown key 'colour'"),
    ],
)
def test_bad_netsh_sections_are_refused(tmp_path: Path, netsh_section: str, message: str) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"netsh": ' + netsh_section + "}", encoding="utf-8")
    with pytest.raises(LabStateError, match=re.escape(message)):
        StateFile(path).read()
