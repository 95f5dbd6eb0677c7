"""Where the page goes: a new file (atomically, never overwriting unless asked), or stdout."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from generator.errors import UserError, local_fault
from generator.record import RecordError, write_new_file


def replace_file(path: Path, data: bytes) -> None:
    """Write `path` through a temporary file and a rename: readers see the old page or the new one."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


def write_page(path: Path, data: bytes, force: bool) -> None:
    """A new file; an existing one only with `force` (replaced atomically). One line on any fault."""
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give a file name for the report")
    if path.exists() and not force:
        raise UserError(f"{path}: already exists; choose another -o or pass --force to replace it")
    try:
        if force:
            replace_file(path, data)
        else:
            write_new_file(path, data)  # link(2) refuses a file that appeared meanwhile
    except RecordError:
        raise UserError(f"{path}: already exists; choose another -o or pass --force to replace it") from None
    except OSError as error:  # exit 1 when the disk is full, 2 when the path cannot be written
        raise local_fault(error, "write the report", path) from None
