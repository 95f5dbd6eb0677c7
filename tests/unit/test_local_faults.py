"""Every local fault is one line `sslbind: <path>: <problem>` and exit 1 or 2, never a traceback.

Exit 2: the path given cannot be used as asked (missing, special file, too large, not a folder,
read-only, not UTF-8); exit 1: the machine failed (disk full, I/O error). Special files are refused
without being read: /dev/zero as a spec used to be read until memory ran out.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from generator import errors, record
from generator.cli import cli
from generator.importers import netsh_text, reg_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "renew-api.yaml"
NETSH = ROOT / "tests" / "fixtures" / "import" / "netsh-2016-en.txt"


def one_line(result: Result, exit_code: int) -> str:
    assert result.exit_code == exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("sslbind: "), line
    return line


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)  # nobody ever writes to it: opening it for reading would block
    return path


@pytest.mark.parametrize(
    ("device", "kind"), [("/dev/zero", "a character device"), ("/dev/urandom", "a character device")]
)
def test_a_device_as_spec_is_refused_without_reading_it(device: str, kind: str) -> None:
    line = one_line(CliRunner().invoke(cli, ["render", device]), 2)
    assert line == f"sslbind: {device}: file: is {kind}, not a regular file; a spec must be a regular file"


def test_a_fifo_as_spec_or_import_input_is_refused_without_blocking(fifo: Path) -> None:
    line = one_line(CliRunner().invoke(cli, ["render", str(fifo)]), 2)
    assert line == f"sslbind: {fifo}: file: is a FIFO, not a regular file; a spec must be a regular file"
    for option in ("--from-netsh", "--from-reg"):
        line = one_line(CliRunner().invoke(cli, ["import", option, str(fifo)]), 2)
        assert (
            line == f"sslbind: {fifo}: is a FIFO, not a regular file; an import input must be a regular file"
        )


def test_a_device_as_import_input_is_refused() -> None:
    line = one_line(CliRunner().invoke(cli, ["import", "--from-reg", "/dev/urandom"]), 2)
    assert "/dev/urandom: is a character device, not a regular file" in line


def test_a_spec_over_16_mib_is_refused_having_read_no_more_than_the_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with open(big, "wb") as handle:
        handle.truncate(errors.SPEC_MAX_BYTES + 1)  # sparse: one byte over
    line = one_line(CliRunner().invoke(cli, ["render", str(big), "-o", str(tmp_path / "out")]), 2)
    assert line == (
        f"sslbind: {big}: file: is larger than 16 MiB, the limit for a spec; is this the right file?"
    )
    assert not (tmp_path / "out").exists()


def test_a_spec_at_the_cap_is_read(tmp_path: Path) -> None:
    data = errors.read_input(EXAMPLE, EXAMPLE.stat().st_size, "spec")
    assert data == EXAMPLE.read_bytes()


@pytest.mark.parametrize("module", [netsh_text, reg_text])
def test_an_import_input_over_its_cap_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: object
) -> None:
    assert errors.IMPORT_MAX_BYTES == 256 * errors.MIB
    monkeypatch.setattr(module, "IMPORT_MAX_BYTES", errors.MIB)  # 256 MiB is too big for a unit test
    big = tmp_path / "show.txt"
    big.write_bytes(b"x" * (errors.MIB + 1))
    option = "--from-netsh" if module is netsh_text else "--from-reg"
    line = one_line(CliRunner().invoke(cli, ["import", option, str(big)]), 2)
    assert (
        line
        == f"sslbind: {big}: is larger than 1 MiB, the limit for an import input; is this the right file?"
    )


def test_an_output_folder_below_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="ascii")
    line = one_line(CliRunner().invoke(cli, ["render", str(EXAMPLE), "-o", str(blocker / "out")]), 2)
    assert line.startswith(f"sslbind: {blocker / 'out' / 'CHG0012345'}: cannot write the change record: ")


@pytest.mark.parametrize(
    ("code", "exit_code"), [(errno.EROFS, 2), (errno.EACCES, 2), (errno.ENOSPC, 1), (errno.EIO, 1)]
)
def test_a_read_only_or_full_output_folder_is_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, exit_code: int
) -> None:
    def failing(path: Path, data: bytes) -> str:
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(record, "_write_one", failing)
    out = tmp_path / "out"
    line = one_line(CliRunner().invoke(cli, ["render", str(EXAMPLE), "-o", str(out)]), exit_code)
    assert line.startswith(
        f"sslbind: {out / 'CHG0012345'}: cannot write the change record: {os.strerror(code)} ("
    )
    assert list(out.iterdir()) == []  # the staging folder went with the failure


def test_a_path_that_is_not_utf8_is_refused_before_anything_runs(tmp_path: Path) -> None:
    bad = os.fsdecode(bytes(tmp_path) + b"/r\xe9cord")
    line = one_line(CliRunner().invoke(cli, ["render", str(EXAMPLE), "-o", bad]), 2)
    assert (
        line
        == f"sslbind: {tmp_path}/r\\xe9cord: holds bytes that are not UTF-8; rename it or give another path"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_os_error_no_layer_caught_is_still_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from generator.remote import operations

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "plans" / "x.json"))

    monkeypatch.setattr(operations, "preflight", full)
    monkeypatch.setenv("SSLBIND_PASSWORD", "x")
    line = one_line(CliRunner().invoke(cli, ["plan", str(EXAMPLE), "-o", str(tmp_path)]), 1)
    assert line == f"sslbind: {tmp_path}/plans/x.json: local I/O error: No space left on device"


def test_an_os_error_escaping_apply_or_rollback_never_claims_the_hosts_are_as_before(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from generator.remote import operations

    def runs_is_a_file(*args: object, **kwargs: object) -> None:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(tmp_path / "runs"))

    monkeypatch.setattr(operations, "apply", runs_is_a_file)
    monkeypatch.setattr(operations, "rollback", runs_is_a_file)
    for command in ("apply", "rollback"):
        line = one_line(CliRunner().invoke(cli, [command, "--yes", str(tmp_path)]), 4)
        assert line == (
            f"sslbind: {tmp_path}/runs: local I/O error: File exists; a host may have been changed: "
            "check with `sslbind verify RECORD`"
        )


def test_record_check_of_a_missing_manifest_path_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").mkdir()
    result = CliRunner().invoke(cli, ["record", "check", str(tmp_path)])
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    assert result.stderr.startswith("sslbind: ") and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(("code", "exit_code"), [(errno.ENOSPC, 1), (errno.EROFS, 2)])
def test_an_import_output_that_cannot_be_written_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, exit_code: int
) -> None:
    from generator.importers import cli as import_cli

    def failing(path: Path, data: bytes) -> None:
        raise OSError(code, os.strerror(code), str(path.parent / ".spec.yaml.tmp"))

    monkeypatch.setattr(import_cli, "write_new_file", failing)
    out = tmp_path / "spec.yaml"
    result = CliRunner().invoke(cli, ["import", "--from-netsh", str(NETSH), "-o", str(out)])
    assert result.exit_code == exit_code and "Traceback" not in result.output
    *report, line = result.stderr.splitlines()  # what was imported, then the one failure line
    assert line == f"sslbind: {out}: cannot write: {os.strerror(code)} ({tmp_path}/.spec.yaml.tmp)"
    assert not any(r.startswith("sslbind: ") for r in report)
