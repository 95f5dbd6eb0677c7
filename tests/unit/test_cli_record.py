"""`sslbind record check` through click's CliRunner: exit codes and output."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from generator.cli import cli
from generator.record import write_record


def test_record_check_intact_then_tampered(tmp_path: Path) -> None:
    record = write_record(tmp_path, "CHG9", "", [("hosts/h/apply.ps1", b"1\n")])
    runner = CliRunner()
    ok = runner.invoke(cli, ["record", "check", str(record)])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    (record / "hosts/h/apply.ps1").write_bytes(b"2\n")
    bad = runner.invoke(cli, ["record", "check", str(record)])
    assert bad.exit_code == 1
    assert "changed: hosts/h/apply.ps1" in bad.stdout
    assert bad.stderr.startswith("sslbind: ") and "do not apply" in bad.stderr
    assert "Traceback" not in bad.output


def test_record_check_not_a_record_is_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["record", "check", str(tmp_path)])
    assert result.exit_code == 2
    assert "manifest.json is missing" in result.stderr


def test_record_check_lists_by_hand_results_and_still_flags_other_files(tmp_path: Path) -> None:
    record = write_record(tmp_path, "CHG9", "", [("hosts/h/apply.ps1", b"1\n")])
    (record / "hosts/h/apply-20261130T101010123Z.json").write_text("{}", encoding="ascii")
    (record / "hosts/h/apply-20261130T101010123Z-1.json").write_text("{}", encoding="ascii")
    runner = CliRunner()
    ok = runner.invoke(cli, ["record", "check", str(record)])
    assert ok.exit_code == 0, ok.output
    assert "by hand: hosts/h/apply-20261130T101010123Z.json" in ok.stdout
    assert "by hand: hosts/h/apply-20261130T101010123Z-1.json" in ok.stdout
    (record / "hosts/h/apply-latest.json").write_text("{}", encoding="ascii")
    (record / "hosts/h/notes.json").write_text("{}", encoding="ascii")
    bad = runner.invoke(cli, ["record", "check", str(record)])
    assert bad.exit_code == 1
    assert "unexpected: hosts/h/apply-latest.json" in bad.stdout
    assert "unexpected: hosts/h/notes.json" in bad.stdout


def test_record_resolve_is_a_record_subcommand() -> None:
    result = CliRunner().invoke(cli, ["record", "resolve", "--help"])
    assert result.exit_code == 0, result.output
    assert "RECORD" in result.output


def test_version_is_the_installed_packages() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"sslbind, version {version('sslbind')}\n"
    assert version("sslbind") != "0.0.0+source"  # the package's own version, not the fallback


def test_changelog_has_unreleased_and_the_current_version() -> None:
    import re
    from importlib.metadata import version

    changelog = (Path(__file__).resolve().parents[2] / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.M)
    assert headings[:2] == ["Unreleased", version("sslbind")]  # newest first, this version released
