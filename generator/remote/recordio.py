"""What the remote commands read from and add to a change record.

Scripts are read once, hashed and compared with manifest.json, and exactly those bytes are sent: a
file changed after review is refused, never run. Plans and runs go through `generator.record`'s
atomic, never-overwriting writers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import EXIT_FAILED, UserError
from generator.model import Change, Target
from generator.record import MANIFEST, PLANS, check_record, read_manifest, sha256_hex
from generator.render import host_dir
from generator.spec import load_spec

CHANGE_FILE = "change.yaml"
INTERRUPTED = ("unsealed:", "interrupted:")
SCRIPT_NAMES = ("prepare", "delete", "add", "verify", "rollback", "apply")


class TamperedRecord(UserError):
    """A record whose files no longer match their manifest: nothing is run (exit 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_FAILED)


@dataclass(frozen=True)
class Script:
    """One verified script: its text exactly as hashed in the manifest."""

    relpath: str
    text: str
    sha256: str


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
        """The script's text, refused (TamperedRecord) if its bytes differ from the manifest."""
        relpath = self.script_path(host, name)
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
        return Script(relpath, data.decode("utf-8-sig"), actual)


def open_record(path: Path) -> Record:
    """Load a record's manifest and normalized change; a missing or broken one is a user error."""
    manifest = read_manifest(path)
    files = manifest["files"]
    assert isinstance(files, dict)
    change = load_spec(path / CHANGE_FILE)
    digest = sha256_hex((path / MANIFEST).read_bytes())
    return Record(path, change, {str(k): str(v) for k, v in files.items()}, digest)


def refuse_if_tampered(path: Path) -> None:
    """Every integrity problem except an unsealed run folder or a plan write cut short (an
    interrupted command must leave a record that stays usable; `record resolve` closes both)."""
    problems = [p for p in check_record(path) if not p.startswith(INTERRUPTED)]
    if problems:
        shown = "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")
        raise TamperedRecord(f"{path}: the record fails its integrity check: {shown}")


def read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: cannot read: {error}", EXIT_FAILED) from None
    if not isinstance(value, dict):
        raise UserError(f"{path}: not a JSON object", EXIT_FAILED)
    return value


def latest_plan(record: Path) -> tuple[Path, dict[str, Any]] | None:
    plans = sorted((record / PLANS).glob("*.json"))
    return (plans[-1], read_json(plans[-1])) if plans else None
