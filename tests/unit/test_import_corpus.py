"""Import on the corpus of public real captures and of constructed localized / newest-layout variants.

tests/fixtures/import/real/SOURCES.md says where each real capture comes from and what was trimmed;
tests/fixtures/import/constructed/README.md how each constructed file was built. Every file either
imports to the bindings listed here or refuses with the reason listed here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator.binding import DISABLE, ENABLE
from generator.importers.extended import EXTENDED_PROPERTIES, as_added
from generator.importers.netsh_text import parse_netsh, read_netsh
from generator.importers.result import ImportInputError, ImportResult
from generator.importers.spec_writer import import_spec
from generator.spec import parse_spec

IMPORT = Path(__file__).resolve().parent.parent / "fixtures" / "import"
REAL, CONSTRUCTED = IMPORT / "real", IMPORT / "constructed"

# real capture -> bindings it imports to (key: certhash, store, settings switched on), or the refusal
REAL_IMPORTS: dict[str, dict[str, tuple[str, str, set[str]]]] = {
    "nbstrat-show-ipport-44307.txt": {
        "ipport=0.0.0.0:44307": (
            "61d34f532da121bbab64723c4871e72c92f03735",
            "MY",
            {"verifyclientcertrevocation", "usagecheck"},
        )
    },
    "nbstrat-show-ipport-44307-readded.txt": {
        "ipport=0.0.0.0:44307": ("61d34f532da121bbab64723c4871e72c92f03735", "MY", {"usagecheck"})
    },
    "azure-pipelines-extensions-140-show.txt": {  # `(null)` store: MY (reference 2.1)
        "ipport=0.0.0.0:443": (
            "5226dc6c54559761cd471b86eb51c096252c90f2",
            "MY",
            {"verifyclientcertrevocation", "usagecheck"},
        )
    },
    "adfsanalyzer-41-show.txt": {
        "hostnameport=sts.margiestravel.com:443": (
            "2d125f4d735def823178e8f17e6579d04fb97b7a",
            "my",
            {"verifyclientcertrevocation", "usagecheck"},
        )
    },
}
REAL_REFUSALS: dict[str, str] = {
    # the capture ends in the middle of a value ("Enabled" cut to "Enable")
    "adfsanalyzer-41-show-truncated.txt": (
        "adfsanalyzer-41-show-truncated.txt:27: hostnameport=sts.margiestravel.com:49443: usagecheck: "
        "value 'Enable' is not a known on/off word"
    ),
    # placeholders where the author masked real values
    "azure-pipelines-tasks-15528-show-2022.txt": (
        "azure-pipelines-tasks-15528-show-2022.txt:9: ipport=0.0.0.0:443: certhash: "
        "'f7eaa06813007460b6fb5ea52696d6fec15afXXX' does not match ^[0-9A-Fa-f]{40}$"
    ),
    "tri-line-echo-show.txt": "tri-line-echo-show.txt:3: binding key: '' is not ip:port (IPv6 in brackets)",
    "aspnet-benchmarks-netshwrapper-comment.txt": (
        "aspnet-benchmarks-netshwrapper-comment.txt:3: binding key: '<ip:port>' is not ip:port "
        "(IPv6 in brackets)"
    ),
    "bc-onprem-show-ipport-7048.txt": (
        "bc-onprem-show-ipport-7048.txt:5: ipport=0.0.0.0:7048: certhash: '<CERTIFICATE-THUMBPRINT>' "
        "does not match ^[0-9A-Fa-f]{40}$"
    ),
    # an excerpt without the hash, appid and revocation lines, joined without a final line break
    # (its last line, `Enable Caching Client Hello : Not Set`, is whole)
    "tokentimer-2025-transcript.txt": (
        "tokentimer-2025-transcript.txt:1: ipport=0.0.0.0:21443: certhash: no line for this setting; "
        "every netsh build prints it (label table 'en' may not know its label)"
    ),
}


def on(settings: dict[str, object]) -> set[str]:
    return {name for name, value in settings.items() if value == ENABLE}


def summary(result: ImportResult) -> dict[str, tuple[str, str, set[str]]]:
    return {
        str(b.key): (
            str(b.settings.get("certhash")),
            str(b.settings.get("certstorename")),
            on(dict(b.settings)),
        )
        for b in result.bindings
    }


def settings_of(result: ImportResult) -> dict[str, dict[str, object]]:
    return {str(b.key): dict(b.settings) for b in result.bindings}


def test_every_corpus_file_is_listed() -> None:
    assert {p.name for p in REAL.glob("*.txt")} == set(REAL_IMPORTS) | set(REAL_REFUSALS)
    assert {p.name for p in CONSTRUCTED.glob("*.txt")} == set(CONSTRUCTED_MATCHES)


@pytest.mark.parametrize("name", sorted(REAL_IMPORTS))
def test_real_capture_imports(name: str) -> None:
    result = read_netsh(REAL / name)
    assert summary(result) == REAL_IMPORTS[name]
    change = parse_spec(import_spec(result, "web01").encode(), "spec.yaml")  # the spec loads
    assert [str(b.key) for b in change.targets[0].bindings] == list(REAL_IMPORTS[name])


@pytest.mark.parametrize("name", sorted(REAL_REFUSALS))
def test_real_capture_refuses_with_the_reason(name: str) -> None:
    with pytest.raises(ImportInputError) as raised:
        parse_netsh((REAL / name).read_bytes(), name)
    assert str(raised.value) == REAL_REFUSALS[name]


def test_extended_properties_of_a_plain_add_are_kept_as_notes_without_warning() -> None:
    """The Business Central capture was taken right after a plain `netsh http add sslcert`."""
    text = (REAL / "bc-onprem-show-ipport-7048.txt").read_text(encoding="utf-8")
    filled = text.replace("<CERTIFICATE-THUMBPRINT>", "ab" * 20).replace(
        "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX", "5e0a42f5-33c4-4dd8-b1a0-64a2f31e8c6b"
    )
    result = parse_netsh(filled.encode(), "bc.txt")
    assert [(b.line, b.pairs[0][1]) for b in result.extended] == [
        (28, "0"),
        (31, "1"),
        (35, "2"),
        (37, "3"),
        (39, "4"),
    ]
    assert all(as_added(b) for b in result.extended)
    assert result.warnings == ()
    spec = import_spec(result, "bc01")
    notes = [line.strip() for line in spec.splitlines() if line.strip().startswith("# NOTE:")]
    assert notes[1] == (
        "# NOTE: Extended Properties (line 31) PropertyId 1 (HTTP/2 settings limits): Max Settings Per "
        "Frame 2796202; Max Settings Per Minute 4294967295; as a plain `netsh http add sslcert` leaves it, "
        "so a delete+add keeps it"
    )
    assert notes[2].startswith("# NOTE: Extended Properties (line 35) PropertyId 2 (performance): empty;")
    assert len(notes) == 5


# constructed file -> (the fixture whose bindings it must equal, format, encoding)
CONSTRUCTED_MATCHES: dict[str, tuple[str, str, str]] = {
    "netsh-fr-nbsp.txt": ("netsh-fr.txt", "netsh http show sslcert (fr, unverified label table)", "utf-16"),
    "netsh-fr-nnbsp.txt": ("netsh-fr.txt", "netsh http show sslcert (fr, unverified label table)", "utf-8"),
    "netsh-de-extended.txt": (
        "netsh-de.txt",
        "netsh http show sslcert (de, unverified label table)",
        "cp850",
    ),
    "netsh-2025-late-en.txt": ("netsh-2025-en.txt", "netsh http show sslcert (en)", "utf-8"),
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTED_MATCHES))
def test_constructed_variant_reads_the_same_bindings_as_its_plain_layout(name: str) -> None:
    plain, format_, encoding = CONSTRUCTED_MATCHES[name]
    result = read_netsh(CONSTRUCTED / name)
    assert (result.format, result.encoding) == (format_, encoding)
    assert settings_of(result) == settings_of(read_netsh(IMPORT / plain))
    # the translated title is a title, not an unknown line; Extended Properties are carried, not lost
    assert [r for r in result.not_imported if r.reason == "unknown line, not imported"] == []
    carried = {(b.line, b.binding) for b in result.extended}
    assert {(r.line, r.binding) for r in result.not_imported} == carried


def test_french_typography_no_break_spaces_value_after_colon_and_second_colon() -> None:
    result = read_netsh(CONSTRUCTED / "netsh-fr-nbsp.txt")
    settings = settings_of(result)["ipport=0.0.0.0:443"]
    assert settings["certhash"] == "40db5bb1bf5659a155258d1d007c530fcb8996c2"  # `:40db...`
    assert settings["certstorename"] == "My"  # `: : My`
    assert settings["appid"] == "{4dc3e181-e14b-4a21-b022-59fc669b0914}"  # typographic apostrophe
    assert [(b.binding, b.pairs[0][1], as_added(b)) for b in result.extended][:2] == [
        ("ipport=0.0.0.0:443", "0", True),
        ("ipport=0.0.0.0:443", "1", True),
    ]


def test_german_extended_properties_changed_from_a_plain_add_warn_and_stand_under_the_binding() -> None:
    result = read_netsh(CONSTRUCTED / "netsh-de-extended.txt")
    (warning,) = result.warnings
    assert (warning.binding, warning.code) == ("ipport=0.0.0.0:443", EXTENDED_PROPERTIES)
    assert warning.message.startswith(
        "line 31: Extended Properties PropertyId 0 (HTTP/2 receive window): Empfangsfenster 2097152: "
        "`netsh http add sslcert` cannot set it, so a delete+add resets it to 1048576"
    )
    spec = import_spec(result, "web-de")
    lines = spec.splitlines()
    key = lines.index('      - ipport: "0.0.0.0:443"')
    assert lines[key + 1].startswith("        # WARNING: line 31: Extended Properties PropertyId 0")
    assert lines[key + 2].startswith("        # NOTE: Extended Properties (line 31) PropertyId 0")
    assert "NOT settable by `netsh http add sslcert`: a delete+add loses it" in lines[key + 2]
    assert lines[key + 3].endswith("as a plain `netsh http add sslcert` leaves it, so a delete+add keeps it")
    assert any("1 that a delete+add would lose (WARNING)" in line for line in lines if line.startswith("#"))


def test_newest_english_lines_at_their_default_are_read_silently() -> None:
    result = read_netsh(CONSTRUCTED / "netsh-2025-late-en.txt")
    assert result.warnings == ()
    labels = {e.name for e in result.extras}
    assert labels == {
        "Enable Caching Client Hello",
        "Use Revocation Freshness Time",
        "Verify Revocation Using Cached URLs Only",
        "Disable Authority Info Access",
    }
    assert not any(e.on for e in result.extras)
    assert [b.pairs[0][1] for b in result.extended] == ["0", "1", "2", "3", "4"]


FR_PLAIN = (IMPORT / "netsh-fr.txt").read_bytes().decode("utf-16")


def test_untranslated_newer_lines_in_french_output_are_read() -> None:
    """Localized builds print newer lines in English: they are read (or refused) as in English output."""
    first = FR_PLAIN.index("    Désactiver l'ID de session")
    end = FR_PLAIN.index("\n", first) + 1
    added = (
        "    Enable Caching Client Hello  : Set\r\n"
        " Extended Properties:\r\n    PropertyId                   : 0\r\n"
        "    Receive Window               : 65535\r\n"
    )
    result = parse_netsh((FR_PLAIN[:end] + added + FR_PLAIN[end:]).encode("utf-8"), "fr.txt")
    assert result.format == "netsh http show sslcert (fr, unverified label table)"
    assert sorted(w.code for w in result.warnings) == ["extended-properties", "extra-bit"]
    assert {w.binding for w in result.warnings} == {"ipport=0.0.0.0:443"}
    assert [b.pairs for b in result.extended] == [(("PropertyId", "0"), ("Receive Window", "65535"))]


EN_2016 = (IMPORT / "netsh-2016-en.txt").read_bytes().decode("ascii")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (" : ", "\u00a0: "),  # no-break space before the colon
        (" : ", "\u202f: "),  # narrow no-break space
        (" : ", " :"),  # value straight after the colon
        (" : ", "\u00a0:"),
        (" : ", " : : "),  # a second colon
        (" : ", " :: "),
        (" : ", "\t:\t"),
    ],
)
def test_typography_around_the_colon_reads_the_same_values(before: str, after: str) -> None:
    baseline = settings_of(parse_netsh(EN_2016.encode(), "a.txt"))
    changed = EN_2016.replace(before, after)
    assert changed != EN_2016
    assert settings_of(parse_netsh(changed.encode(), "b.txt")) == baseline


@pytest.mark.parametrize("dashes", ["---", "-" * 25, "-" * 80, "- - -"])
def test_dash_lines_of_any_length_and_translated_titles_carry_nothing(dashes: str) -> None:
    baseline = settings_of(parse_netsh(EN_2016.encode(), "a.txt"))
    changed = EN_2016.replace("-------------------------", dashes, 1)
    result = parse_netsh(changed.encode(), "b.txt")
    assert settings_of(result) == baseline
    if dashes != "- - -":  # a spaced rule is not a dash line: reported, never a value
        assert result.not_imported == ()


def test_a_second_colon_glued_to_a_free_text_value_is_refused_as_unclear() -> None:
    changed = EN_2016.replace(
        "Certificate Store Name       : WebHosting", "Certificate Store Name : :WebHosting"
    )
    with pytest.raises(ImportInputError) as raised:
        parse_netsh(changed.encode(), "s.txt")
    assert "hostnameport=shop.contoso.com:443: certstorename: value ':WebHosting': a second colon" in str(
        raised.value
    )


def test_a_second_colon_glued_to_a_value_that_cannot_start_with_one_is_read() -> None:
    changed = EN_2016.replace("Usage Check                  : Enabled", "Usage Check ::Disabled")
    result = parse_netsh(changed.encode(), "s.txt")
    assert {s["usagecheck"] for s in settings_of(result).values()} == {DISABLE}


LATE = (CONSTRUCTED / "netsh-2025-late-en.txt").read_bytes().decode("utf-8")
LATE_LINES = LATE.split("\r\n")  # line 7 is the key line, 8-20 the lines every build prints


# Lines of LATE whose value cannot be the start of a longer one: a full hash (8) or GUID (9), an
# on/off word, a 0, a PropertyId, a number no further digit fits in 32 bits (41). The others (the
# store name 10, empty CTL values 16-17, the numbers 37 and 40, the headers) may be cut.
WHOLE_LINES = {8, 9, *range(11, 16), *range(18, 35), 36, 39, 41, 43, 45, 47}
EVERY_BUILD_LAST = 19  # lines 8-19 are the ones every build prints


@pytest.mark.parametrize("keep", range(7, len(LATE_LINES) - 1))
def test_output_ending_without_a_line_break_is_read_when_its_last_value_is_whole(keep: int) -> None:
    """A console copy ends without a line break: its last line is read when its value is whole;
    refused naming binding and line when it may be cut (`My` of `MyStore`, `104` of `1048576`)."""
    cut = "\r\n".join(LATE_LINES[:keep])
    if keep in WHOLE_LINES and keep >= EVERY_BUILD_LAST:
        whole = parse_netsh((cut + "\r\n").encode(), "whole.txt")
        assert parse_netsh(cut.encode(), "cut.txt").bindings == whole.bindings
        return
    with pytest.raises(ImportInputError) as raised:
        parse_netsh(cut.encode(), "cut.txt")
    message = str(raised.value)
    if keep in WHOLE_LINES or keep == 7:  # read, then refused for the lines every build prints
        assert re.match(r"^cut.txt:7: ipport=0.0.0.0:443: \w+: no line for this setting", message), message
    else:
        assert message.startswith(f"cut.txt:{keep}: ipport=0.0.0.0:443: the output stops inside this line")


VALUE_LINES = [n for n in range(8, len(LATE_LINES) - 1) if LATE_LINES[n - 1].split(":", 1)[1].strip()]


@pytest.mark.parametrize("keep", VALUE_LINES)
def test_output_cut_inside_a_value_is_refused_naming_binding(keep: int) -> None:
    """Cut one character into line `keep`'s value (`Disable` of `Disabled`, a hash one digit short):
    never read as a value, always refused."""
    lines = LATE_LINES[:keep]
    cut = "\r\n".join([*lines[:-1], lines[-1][:-1]])
    with pytest.raises(ImportInputError) as raised:
        parse_netsh(cut.encode(), "cut.txt")
    assert str(raised.value).startswith(
        f"cut.txt:{keep}: ipport=0.0.0.0:443: the output stops inside this line"
    )


@pytest.mark.parametrize(
    "name",
    [
        "netsh-2008r2-en.txt",
        "netsh-2016-en.txt",
        "netsh-2019-en.txt",
        "netsh-2022-en.txt",
        "netsh-2025-en.txt",
        "netsh-de.txt",
        "netsh-fr.txt",
    ],
)
def test_a_capture_copied_without_its_final_line_break_is_read_as_saved(name: str) -> None:
    data = (IMPORT / name).read_bytes()
    if data.startswith(b"\xff\xfe"):  # UTF-16 with BOM: strip line breaks as text
        text = data.decode("utf-16")
        assert text.endswith("\n")
        stripped = text.rstrip("\r\n").encode("utf-16")
    else:  # UTF-8 or an OEM code page: the line break bytes are ASCII
        assert data.endswith(b"\n")
        stripped = data.rstrip(b"\r\n")
    copied = parse_netsh(stripped, name)
    assert copied.bindings == parse_netsh(data, name).bindings
    assert copied.extended == parse_netsh(data, name).extended


@pytest.mark.parametrize("keep", range(7, 19))
def test_output_cut_before_a_line_every_build_prints_is_refused(keep: int) -> None:
    """Cut at a line end among the 13 lines every build prints: refused naming binding and setting.
    (A cut among the newer lines of the last binding, at a line end, is indistinguishable from an
    older build; other bindings of the same output catch it, see below.)"""
    cut = "\r\n".join(LATE_LINES[:keep]) + "\r\n"
    with pytest.raises(
        ImportInputError, match=r"^cut.txt:7: ipport=0.0.0.0:443: \w+: no line for this setting"
    ):
        parse_netsh(cut.encode(), "cut.txt")


def test_an_excerpt_without_the_lines_every_build_prints_is_refused() -> None:
    text = (REAL / "tokentimer-2025-transcript.txt").read_bytes() + b"\r\n"
    with pytest.raises(ImportInputError) as raised:
        parse_netsh(text, "t.txt")
    assert str(raised.value) == (
        "t.txt:1: ipport=0.0.0.0:21443: certhash: no line for this setting; every netsh build prints it "
        "(label table 'en' may not know its label)"
    )


def test_a_block_missing_a_line_the_other_blocks_show_is_refused() -> None:
    text = (IMPORT / "netsh-2025-en.txt").read_text(encoding="utf-8")
    two = (
        text.rstrip("\r\n")
        + "\r\n\r\n"
        + text.partition("\n\n\n\n")[2].replace("0.0.0.0:443", "10.0.0.1:443")
    )
    assert settings_of(parse_netsh(two.encode(), "two.txt")).keys() == {
        "ipport=0.0.0.0:443",
        "ipport=10.0.0.1:443",
    }
    last = two.rindex("    Disable TLS1.3")
    damaged = two[:last] + two[two.index("\n", last) + 1 :]
    with pytest.raises(ImportInputError) as raised:
        parse_netsh(damaged.encode(), "two.txt")
    assert (
        "ipport=10.0.0.1:443: disabletls13: no line for this setting, which other bindings of this output"
        in str(raised.value)
    )


def test_output_ending_inside_the_last_value_line_is_refused() -> None:
    text = (IMPORT / "netsh-2016-en.txt").read_bytes().decode("ascii").rstrip("\r\n")
    cut = text[: text.rindex("Disabled")] + "Disab"
    with pytest.raises(ImportInputError, match=r"the output stops inside this line"):
        parse_netsh(cut.encode(), "cut.txt")
