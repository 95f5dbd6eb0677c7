"""Record writing: atomic, never overwriting, every file under a manifest, tampering detected."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from generator.record import (
    RecordError,
    add_plan,
    check_record,
    latest,
    new_run,
    read_manifest,
    write_new_file,
    write_record,
)

FILES = {
    "README.md": b"# change\n",
    "change.yaml": b"version: 1\n",
    "hosts/web01/apply.ps1": b"Write-Output 1\n",
}


def make(tmp_path: Path) -> Path:
    return write_record(tmp_path, "CHG1", "ab" * 32, FILES.items())


def test_written_record_is_intact_and_listed(tmp_path: Path) -> None:
    record = make(tmp_path)
    manifest = read_manifest(record)
    assert sorted(manifest["files"]) == sorted(FILES)  # type: ignore[arg-type]
    assert manifest["spec_sha256"] == "ab" * 32
    assert check_record(record) == []
    assert [p.name for p in tmp_path.iterdir()] == ["CHG1"]  # no staging left behind


def test_never_overwrites(tmp_path: Path) -> None:
    make(tmp_path)
    with pytest.raises(RecordError, match="never overwritten"):
        make(tmp_path)


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        write_record(tmp_path, "CHG1", "", [("a", b"1"), ("../escape", b"x")])
    assert not (tmp_path / "CHG1").exists()
    assert not any(tmp_path.iterdir())


def test_created_at_pinned_by_source_date_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert read_manifest(make(tmp_path))["created_at"] == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda r: (r / "hosts/web01/apply.ps1").write_bytes(b"evil\n"), "changed: hosts/web01/apply.ps1"),
        (lambda r: (r / "README.md").unlink(), "missing: README.md"),
        (lambda r: (r / "hosts/web01/extra.ps1").write_bytes(b"x"), "unexpected: hosts/web01/extra.ps1"),
    ],
)
def test_tampering_detected(tmp_path: Path, damage: object, expected: str) -> None:
    record = make(tmp_path)
    damage(record)  # type: ignore[operator]
    assert any(p.startswith(expected) for p in check_record(record)), check_record(record)


def test_plans_and_runs_are_covered(tmp_path: Path) -> None:
    record = make(tmp_path)
    plan = add_plan(record, {"hosts": []}, stamp="20260101T000000.000000Z")
    with new_run(record, stamp="20260101T000001.000000Z") as run:
        (run / "events.jsonl").write_text('{"event": "start"}\n')
    assert check_record(record) == []
    assert latest(record, "plans") == plan
    assert latest(record, "runs") == run
    (run / "events.jsonl").write_text('{"event": "forged"}\n')
    plan.write_text("{}")
    problems = check_record(record)
    assert "changed: runs/20260101T000001.000000Z/events.jsonl (sha256 differs from the manifest)" in problems
    assert any(p.startswith("changed: plans/20260101T000000.000000Z.json") for p in problems)


def test_unsealed_run_reported(tmp_path: Path) -> None:
    record = make(tmp_path)
    (record / "runs" / "20260101T000002.000000Z").mkdir(parents=True)
    (record / "runs" / "20260101T000002.000000Z" / "events.jsonl").write_text("{}\n")
    assert check_record(record)[0].startswith("unsealed: runs/20260101T000002.000000Z/")


def test_write_new_file_refuses_existing(tmp_path: Path) -> None:
    write_new_file(tmp_path / "a.json", b"1")
    with pytest.raises(RecordError, match="never overwritten"):
        write_new_file(tmp_path / "a.json", b"2")
    assert (tmp_path / "a.json").read_bytes() == b"1"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_not_a_record(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="not a change record"):
        check_record(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps([1]))
    with pytest.raises(RecordError, match="not an sslbind manifest"):
        check_record(tmp_path)


def test_a_plan_write_cut_short_leaves_no_plan_without_its_sidecar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F7: a kill between the two writes must not leave a plan every command refuses; the orphan
    sidecar is reported as interrupted (not tampering) and ignored by the commands."""
    import generator.record as record_module
    from generator.remote.recordio import refuse_if_tampered

    record = make(tmp_path)
    add_plan(record, {"hosts": []}, stamp="20260101T000000.000000Z")
    real = record_module.write_new_file
    calls: list[Path] = []

    def killed_after_the_first(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(record_module, "write_new_file", killed_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        add_plan(record, {"hosts": []}, stamp="20260101T000001.000000Z")
    assert calls[0].name.endswith(".json.sha256")
    assert not (record / "plans" / "20260101T000001.000000Z.json").exists()
    problems = check_record(record)
    assert problems == [
        "interrupted: plans/20260101T000001.000000Z.json.sha256 has no plan (a plan write was cut short); "
        "`sslbind record resolve` clears it"
    ]
    refuse_if_tampered(record)  # the commands go on with the newest complete plan


def test_an_older_plan_removed_is_still_reported_missing(tmp_path: Path) -> None:
    record = make(tmp_path)
    old = add_plan(record, {"hosts": []}, stamp="20260101T000000.000000Z")
    add_plan(record, {"hosts": []}, stamp="20260101T000001.000000Z")
    old.unlink()
    assert check_record(record) == [f"missing: plans/{old.name}"]


def test_the_record_lock_file_is_not_an_unexpected_file(tmp_path: Path) -> None:
    record = make(tmp_path)
    (record / ".sslbind.lock").touch()
    assert check_record(record) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX-only")
def test_special_files_are_reported_never_opened(tmp_path: Path) -> None:
    # A FIFO would hang a reader and a link reaches outside the record: both are named, unread.
    record = make(tmp_path)
    (record / "README.md").unlink()
    os.mkfifo(record / "README.md")
    os.mkfifo(record / "hosts/web01/pipe")
    (record / "hosts/web01/link.ps1").symlink_to("/etc/hostname")
    problems = check_record(record)
    assert "special: README.md is a FIFO, not a regular file" in problems
    assert "special: hosts/web01/pipe is a FIFO, not a regular file" in problems
    assert "special: hosts/web01/link.ps1 is a symbolic link, not a regular file" in problems
