"""Every bad spec under tests/specs/bad is refused with exactly its expected one-line message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator.errors import EXIT_USAGE, SpecError
from generator.spec import load_spec, parse_spec

BAD = Path(__file__).resolve().parent.parent / "specs" / "bad"
EXPECTED: dict[str, str] = yaml.safe_load((BAD / "expected.yaml").read_text(encoding="utf-8"))
FILES = sorted(p.name for p in BAD.iterdir() if p.name != "expected.yaml")


def message_for(path: Path) -> str:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return str(caught.value).replace(str(path), path.name, 1)


def test_corpus_is_large_and_complete() -> None:
    assert len(FILES) >= 40
    assert sorted(EXPECTED) == FILES, "every bad spec needs exactly one expected message"


@pytest.mark.parametrize("name", FILES)
def test_bad_spec_message(name: str) -> None:
    message = message_for(BAD / name)
    assert message == EXPECTED[name]
    assert "\n" not in message and len(message) < 400


@pytest.mark.parametrize("name", FILES)
def test_bad_spec_error_is_a_usage_error(name: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(BAD / name)
    error = caught.value
    assert error.exit_code == EXIT_USAGE
    assert error.problem and error.key
    assert str(error).startswith(str(BAD / name))


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"missing\.yaml: file: cannot be read \(No such file or directory\)"):
        load_spec(tmp_path / "missing.yaml")


def test_utf16_without_valid_text_is_refused() -> None:
    with pytest.raises(SpecError, match="is not valid UTF-16; save the file as UTF-8"):
        parse_spec(b"\xff\xfe\x00\xd8", "spec.yaml")


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01\x02",
        b"version: [1,\n",
        b"{{{{",
        b"version: 1\n" * 3,
        b"- - - -\n",
        b"? [a, b]\n: c\n",
        b"version: !!binary aGVsbG8=\n",
        b"version: !!set {a, b}\n",
        b"version: 1\nchange: !!omap [{id: x}]\n",
        b"\xef\xbb\xbf",
        b"'" * 10,
        b"version: 1e400\n",
        b"version: .inf\n",
        b"version: " + b"9" * 5000 + b"\n",
    ],
)
def test_odd_input_gives_a_spec_error_not_a_traceback(data: bytes) -> None:
    with pytest.raises(SpecError):
        parse_spec(data, "spec.yaml")


@pytest.mark.parametrize("name", FILES)
def test_same_error_without_libyaml(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pure-Python PyYAML words syntax errors its own way; file, line and every other message agree."""
    from generator import spec_yaml

    monkeypatch.setattr(spec_yaml, "_Loader", yaml.SafeLoader)
    message = message_for(BAD / name)
    if ": YAML syntax: " in EXPECTED[name]:
        assert message.split(": YAML syntax: ")[0] == EXPECTED[name].split(": YAML syntax: ")[0]
    else:
        assert message == EXPECTED[name]
