"""What the remote commands read from and add to a change record.

Scripts are read once, hashed and compared with manifest.json, and exactly those bytes are sent: a
file changed after review is refused, never run. Plans and runs go through `generator.record`'s
atomic, never-overwriting writers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import (
    EXIT_FAILED,
    SPEC_MAX_BYTES,
    InputFileError,
    SpecError,
    UserError,
    load_json,
    read_input,
    sha256_of_input,
)
from generator.model import Change, Target
from generator.record import MANIFEST, PLANS, check_record, read_manifest, sha256_hex
from generator.render import LIBRARY_MODULE, host_dir, pinned_library
from generator.signing import signature_problems
from generator.spec import load_spec, parse_spec

CHANGE_FILE = "change.yaml"
PLAN_MAX_BYTES = 256 * 1024 * 1024  # a plan holds a few kB per binding
# The ceiling for a change.yaml sslbind wrote itself (see load_change): 16 times the spec's cap.
RECORD_CHANGE_MAX_BYTES = 16 * SPEC_MAX_BYTES
INTERRUPTED = ("unsealed:", "interrupted:")
SCRIPT_NAMES = ("prepare", "delete", "add", "verify", "rollback", "apply")


class TamperedRecord(UserError):
    """A record whose files no longer match their manifest: nothing is run (exit 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_FAILED)


@dataclass(frozen=True)
class Script:
    """One verified script: its text exactly as hashed in the manifest, and the text of the library
    module it pins (checked against the manifest and the pin; None for a record without one)."""

    relpath: str
    text: str
    sha256: str
    library: str | None = None


@dataclass(frozen=True)
class Record:
    path: Path
    change: Change
    files: dict[str, str]  # manifest: relative path -> sha256
    manifest_sha256: str

    def target(self, host: str) -> Target:
        for target in self.change.targets:
            if target.host == host:
                return target
        raise UserError(f"{self.path}: host {host} is not in this change")

    def script_path(self, host: str, name: str) -> str:
        return f"hosts/{host_dir(host)}/{name}.ps1"

    def script(self, host: str, name: str) -> Script:
        """The script's text, refused (TamperedRecord) if its bytes differ from the manifest; with the
        library it pins, refused if that differs from the manifest or from the script's pin."""
        relpath, data, actual = self._verified(self.script_path(host, name))
        text = data.decode("utf-8-sig")
        pin = pinned_library(text)
        if pin is None:
            return Script(relpath, text, actual)
        library_path, library_data, library_sha = self._verified(LIBRARY_MODULE)
        if library_sha != pin:
            raise TamperedRecord(
                f"{self.path}: {library_path} (sha256 {library_sha[:12]}...) is not the library {relpath} "
                f"was rendered against ({pin[:12]}...); refusing to run it: render and review a new record"
            )
        return Script(relpath, text, actual, library_data.decode("utf-8-sig"))

    def _verified(self, relpath: str) -> tuple[str, bytes, str]:
        """A record file's bytes and sha256, refused (TamperedRecord) unless they match the manifest."""
        expected = self.files.get(relpath)
        if expected is None:
            raise TamperedRecord(
                f"{self.path}: {relpath} is not listed in {MANIFEST}; render the record again"
            )
        try:
            data = (self.path / relpath).read_bytes()
        except OSError:
            raise TamperedRecord(f"{self.path}: {relpath} is missing; the record is incomplete") from None
        actual = sha256_hex(data)
        if actual != expected:
            raise TamperedRecord(
                f"{self.path}: {relpath} was changed after rendering (sha256 {actual[:12]}... is not the "
                f"manifest's {expected[:12]}...); refusing to run it: render and review a new record"
            )
        return relpath, data, actual


def open_record(path: Path) -> Record:
    """Load a record's manifest and normalized change; a missing or broken one is a user error."""
    manifest = read_manifest(path)
    files = manifest["files"]
    assert isinstance(files, dict)
    change = load_change(path, manifest)
    digest = sha256_hex((path / MANIFEST).read_bytes())
    return Record(path, change, {str(k): str(v) for k, v in files.items()}, digest)


def load_change(record: Path, manifest: Mapping[str, object]) -> Change:
    """The record's normalized change.yaml. A spec is capped at 16 MiB against hostile input, but
    what render writes from a spec under that cap can be larger (defaults merged into every
    binding: a 13.7 MB spec of 5,000 hosts x 20 bindings gives 18.9 MB). So a larger change.yaml
    is read only when its sha256 is the manifest's, the file sslbind itself wrote (hashed in
    chunks first, so a hostile one costs no memory), up to RECORD_CHANGE_MAX_BYTES."""
    path = record / CHANGE_FILE
    try:
        size = os.stat(path).st_size
    except OSError:
        size = 0  # load_spec says what is wrong with it
    files = manifest.get("files")
    expected = files.get(CHANGE_FILE) if isinstance(files, Mapping) else None
    if size <= SPEC_MAX_BYTES or not isinstance(expected, str):
        return load_spec(path)
    what = "a record's change.yaml"
    try:
        if sha256_of_input(path, RECORD_CHANGE_MAX_BYTES, what) != expected:
            return load_spec(path)  # not the file render wrote: the spec's own cap applies
        data = read_input(path, RECORD_CHANGE_MAX_BYTES, what)
    except InputFileError as error:
        raise SpecError(str(path), None, "file", error.problem) from None
    if sha256_hex(data) != expected:  # changed between the two reads
        return load_spec(path)
    return parse_spec(data, str(path))


def refuse_if_tampered(path: Path) -> None:
    """Every integrity problem except an unsealed run folder or a plan write cut short (an
    interrupted command must leave a record that stays usable; `record resolve` closes both)."""
    problems = [p for p in check_record(path) if not p.startswith(INTERRUPTED)]
    if problems:
        shown = "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")
        raise TamperedRecord(f"{path}: the record fails its integrity check: {shown}")


def open_trusted(path: Path, required_signers: Sequence[str] = ()) -> Record:
    """The record, opened only if `record check` would pass it (`refuse_if_tampered`) and its
    signatures hold as `record check` verifies them (every file signed once, by the stored signer;
    `required_signers` refuse any other signer, and an unsigned record). Checked before any host is
    contacted; the manifest verified is the one the record is opened with."""
    refuse_if_tampered(path)
    manifest = read_manifest(path)
    _report, problems = signature_problems(path, manifest, required_signers)
    if problems:
        shown = "; ".join(problems[:2]) + (f" (+{len(problems) - 2} more)" if len(problems) > 2 else "")
        raise TamperedRecord(f"{path}: refusing to run its scripts: {shown}")
    record = open_record(path)
    if read_manifest(path) != manifest:  # changed while the signatures were checked
        raise TamperedRecord(f"{path}: {MANIFEST} changed while it was being checked; run again")
    return record


def read_json(path: Path) -> dict[str, Any]:
    try:
        value = load_json(read_input(path, PLAN_MAX_BYTES, "a plan"), path, "a plan")
    except InputFileError as error:  # a FIFO or device, too large, not UTF-8, too deep, not JSON
        raise UserError(f"{path}: cannot read: {error.problem}", EXIT_FAILED) from None
    if not isinstance(value, dict):
        raise UserError(f"{path}: not a JSON object", EXIT_FAILED)
    return value


def latest_plan(record: Path) -> tuple[Path, dict[str, Any]] | None:
    plans = sorted((record / PLANS).glob("*.json"))
    return (plans[-1], read_json(plans[-1])) if plans else None
