"""The steps behind the offline commands, so the CLI only parses and prints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from generator.model import Change
from generator.record import write_record
from generator.render import iter_rendered, validate_change
from generator.spec import load_spec, normalized_yaml


def record_files(change: Change) -> Iterator[tuple[str, bytes]]:
    """Every file of the record but the manifest, one host at a time (memory stays flat)."""
    yield "change.yaml", normalized_yaml(change).encode()
    yield from iter_rendered(change)


def render_record(spec_path: Path, out_dir: Path) -> Path:
    """Validate the spec, render every script and write the change record; returns its folder.

    Every value is validated before the first byte is written, and the record appears only when
    complete, so bad input writes nothing.
    """
    change = load_spec(spec_path)
    validate_change(change)
    return write_record(out_dir, change.id, change.spec_sha256, record_files(change))
