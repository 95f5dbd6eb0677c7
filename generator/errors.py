"""Errors meant for the user: one line, a fixed exit code, never a traceback."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1  # failed, hosts as before (or a tampered record)
EXIT_USAGE = 2  # bad usage or bad input: nothing was written, nothing changed
EXIT_PENDING = 3  # plan: changes pending; verify: drift
EXIT_MANUAL = 4  # failed and not safely restored: a person must act


class UserError(Exception):
    """A problem the user can fix; the CLI prints `str(error)` as one line and exits `exit_code`."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class SpecError(UserError):
    """A spec that cannot be accepted; the message names file, line, key and the fix."""

    def __init__(self, path: str, line: int | None, key: str, problem: str) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {problem}")
        self.path, self.line, self.key, self.problem = path, line, key, problem


# --- local faults: a user-given path that cannot be read or written is one line, never a traceback --

MIB = 1024 * 1024
# A spec names hosts and bindings; 16 MiB is hundreds of thousands of bindings, far past any estate,
# and a larger file is a mistake (a wrong path, /dev/zero) that would otherwise eat memory and time.
SPEC_MAX_BYTES = 16 * MIB
# Saved netsh or registry output of one host: a few kB per binding, so 256 MiB is ~100k bindings.
IMPORT_MAX_BYTES = 256 * MIB
# Errors of the machine rather than of the path the user chose: exit 1 (local I/O failure). Every
# other OSError (no such file, permission, read-only, not a folder, exists) is bad input: exit 2.
_MACHINE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EIO", "EFBIG", "ENOMEM", "EMFILE", "ENFILE", "ESTALE")
    if hasattr(errno, name)
)
_SPECIAL_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def shown_path(path: object) -> str:
    """A path as text that can always be printed: bytes that are not UTF-8 shown as \\xNN."""
    text = os.fsdecode(path) if isinstance(path, str | bytes | os.PathLike) else str(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def os_error_exit(error: OSError) -> int:
    return EXIT_FAILED if error.errno in _MACHINE_ERRNOS else EXIT_USAGE


def local_fault(error: OSError, doing: str = "", path: object = None) -> UserError:
    """One line for an OSError: the path, what sslbind was doing, and the system's reason."""
    where = path if path is not None else error.filename
    reason = error.strerror or str(error)
    shown_where = shown_path(where) if where is not None else None
    named = [n for n in (error.filename, error.filename2) if n is not None and shown_path(n) != shown_where]
    if named:  # the file that failed, when the message names the folder it is in
        reason += f" ({', '.join(shown_path(name) for name in named)})"
    parts = [shown_where] if shown_where is not None else []
    parts += [f"cannot {doing}" if doing else "local I/O error", reason]
    return UserError(": ".join(parts), os_error_exit(error))


@contextmanager
def local_io(doing: str = "", path: object = None) -> Iterator[None]:
    """Turn an OSError inside the block into `local_fault`'s one-line UserError."""
    try:
        yield
    except OSError as error:
        raise local_fault(error, doing, path) from None


def _special(mode: int) -> str | None:
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), None)


class InputFileError(UserError):
    """A user-given input file that cannot be read as one; `problem` is the message without the path."""

    def __init__(self, path: object, problem: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(f"{shown_path(path)}: {problem}", exit_code)
        self.path, self.problem = path, problem


# O_NONBLOCK (POSIX) keeps a FIFO swapped in from blocking the open; O_BINARY (Windows) keeps the
# C runtime from translating CRLF and stopping at Ctrl-Z. Each platform lacks the other's flag.
_READ_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
)


def read_input(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a user-given input file, refusing special files and anything over `limit`.

    `what` names the input with its article, e.g. "a spec", for the messages.

    A FIFO or device is refused before it is opened (opening a FIFO blocks, /dev/zero never ends),
    and checked again on the open descriptor, so a path swapped in between is caught too. At most
    `limit + 1` bytes are read, so an oversized file costs no more memory than the limit.
    """
    data = _read_bytes(path, limit + 1, what)
    if len(data) > limit:
        raise InputFileError(
            path, f"is larger than {_size(limit)}, the limit for {what}; is this the right file?"
        )
    return data


def read_head(path: Path, limit: int, what: str) -> tuple[bytes, int | None]:
    """At most `limit` bytes of a file that may legitimately be long (a run's event log), read as
    `read_input` reads; with the file's whole size when it was longer (else None)."""
    data = _read_bytes(path, limit + 1, what)
    if len(data) <= limit:
        return data, None
    try:
        size = os.stat(path).st_size
    except OSError:
        size = len(data)
    return data[:limit], size


def sha256_of_input(path: Path, limit: int, what: str) -> str:
    """The sha256 of a regular file of at most `limit` bytes, read as `read_input` reads but in
    chunks, so memory stays flat whatever the file holds."""
    digest = hashlib.sha256()
    if _read_regular(path, limit + 1, what, digest.update) > limit:
        raise InputFileError(path, f"is larger than {_size(limit)}, the limit for {what}")
    return digest.hexdigest()


def _size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit >= MIB else f"{limit} bytes"


def _read_regular(path: Path, size: int, what: str, sink: Callable[[bytes], object]) -> int:
    """Feed at most `size` bytes of `path` to `sink`, a MiB at a time; the bytes read. A FIFO or
    device is refused before it is opened and again on the open descriptor."""
    read = 0
    try:
        kind = _special(os.stat(path).st_mode)
        if kind is None:
            fd = os.open(path, _READ_FLAGS)
            try:
                kind = _special(os.fstat(fd).st_mode)
                while kind is None and read < size and (chunk := os.read(fd, min(size - read, MIB))):
                    sink(chunk)
                    read += len(chunk)
            finally:
                os.close(fd)
    except OSError as error:
        reason = error.strerror or str(error)
        raise InputFileError(
            path, f"cannot be read ({reason}); check the path", os_error_exit(error)
        ) from None
    if kind is not None:
        raise InputFileError(path, f"is {kind}, not a regular file; {what} must be a regular file")
    return read


def _read_bytes(path: Path, size: int, what: str) -> bytes:
    chunks: list[bytes] = []
    _read_regular(path, size, what, chunks.append)
    return b"".join(chunks)


class NotJsonError(InputFileError):
    """A file whose text is not JSON at all (cut short, or another file)."""


def load_json(data: bytes, path: object, what: str) -> object:
    """A JSON file's value; one line naming the file for text that is not UTF-8, nested deeper
    than Python parses (a hostile file: no sslbind file nests more than a few levels), or not
    JSON (`NotJsonError`)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputFileError(path, f"is not UTF-8 text (byte {error.start}); {what} is UTF-8 JSON") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise InputFileError(path, f"nests too deeply to be {what}; the file was edited or damaged") from None
    except ValueError as error:
        raise NotJsonError(path, f"is not JSON ({error}); the file was cut short or edited") from None


def error_document(message: str, exit_code: int) -> dict[str, object]:
    """What `--json` prints when a command ends in an error before printing its own document."""
    return {"outcome": "error", "exit_code": exit_code, "error": message}
