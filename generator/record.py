"""The change record on disk: layout, atomic never-overwriting writes, manifests and their check.

Layout (product contract, "Change record")::

    <out>/<change.id>/
      manifest.json              tool version, spec sha256, sha256 of every rendered file, created_at
      change.yaml  README.md  hosts/<host>/*.ps1
      plans/<stamp>.json         each with plans/<stamp>.json.sha256 (sha256sum format)
      runs/<stamp>/...           each run folder sealed by its own runs/<stamp>/manifest.json

Every file a record holds is covered by exactly one manifest, so `check_record` can report
changed, missing and unexpected files alike. Rendered files never change after rendering; plans and
runs are only ever added.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from generator import __version__
from generator.errors import EXIT_FAILED, InputFileError, UserError, load_json, local_io, read_input

MANIFEST = "manifest.json"
PLANS = "plans"
RUNS = "runs"
# apply and rollback lock the record through this file (mode 0600); it holds nothing.
LOCK_FILE = ".sslbind.lock"
SIDECAR = ".sha256"
# A script run by hand from the record saves its JSON result beside itself (never overwriting):
# evidence of that run, not part of what was rendered, so no manifest covers it.
BY_HAND_RESULT = re.compile(
    r"hosts/[^/]+/(prepare|delete|add|verify|rollback|apply)-\d{8}T\d{9}Z(-\d{1,2})?\.json"
)
STAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"
WRITE_BACKLOG = 64  # rendered files waiting for a writer thread


class RecordError(UserError):
    """A record that cannot be written or read as asked."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_stamp(now: datetime | None = None) -> str:
    """A sortable UTC timestamp usable as a file name, e.g. 20261127T010203.123456Z."""
    return (now or datetime.now(UTC)).strftime(STAMP_FORMAT)


def created_at() -> str:
    """Creation time for the manifest; SOURCE_DATE_EPOCH pins it for reproducible records."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(p in ("", ".", "..") for p in path.parts):
        raise ValueError(f"unsafe record path {name!r}")
    return path


def _fsync_dir(path: Path) -> None:
    # Windows cannot open a directory for fsync (no O_DIRECTORY; NTFS journals renames)
    directory = getattr(os, "O_DIRECTORY", None)
    if os.name == "nt" or directory is None:
        return
    fd = os.open(path, os.O_RDONLY | directory)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_plain(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as handle:
        handle.write(data)


def _write_one(path: Path, data: bytes) -> str:
    _write_plain(path, data)
    return sha256_hex(data)


def _write_all(staging: Path, files: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    """Write every file under `staging` and return their hashes.

    Files are written and hashed on worker threads (both release the GIL) while the caller's
    generator renders the next host; at most WRITE_BACKLOG files wait, so memory stays flat.
    """
    hashes: dict[str, str] = {}
    pending: deque[tuple[str, Future[str]]] = deque()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for name, data in files:
            _check_relative(name)
            if name in hashes or name == MANIFEST or any(name == p for p, _ in pending):
                raise ValueError(f"record path {name!r} given twice")
            pending.append((name, pool.submit(_write_one, staging / name, data)))
            while len(pending) > WRITE_BACKLOG:
                done, future = pending.popleft()
                hashes[done] = future.result()
        for done, future in pending:
            hashes[done] = future.result()
    return hashes


def _sync_tree(root: Path) -> None:
    """Make every file under `root` durable before the record is renamed into place.

    One `sync()` costs far less than an fsync per file for thousands of scripts; where the
    platform has no sync(), each file is fsynced.
    """
    if hasattr(os, "sync"):
        os.sync()
        return
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb+") as handle:
                os.fsync(handle.fileno())


def write_new_file(path: Path, data: bytes) -> None:
    """Write `path` atomically; refuse if it exists. A crash leaves no partial file at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # fails if path exists: never overwrites
        except FileExistsError:
            raise RecordError(f"{path} already exists; a record file is never overwritten") from None
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def manifest_bytes(hashes: Mapping[str, str], extra: Mapping[str, object]) -> bytes:
    body = {**extra, "files": {name: hashes[name] for name in sorted(hashes)}}
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def write_record(
    out_dir: Path,
    change_id: str,
    spec_sha256: str,
    files: Iterable[tuple[str, bytes]],
    extra: Mapping[str, object] | None = None,
) -> Path:
    """Create `out_dir/change_id` holding `files` and a manifest, all at once or not at all.

    `files` may be a generator: each file is written as it comes and only its hash is kept, so
    memory does not grow with the size of the record. `extra` adds manifest keys (the `signature`
    section of a signed record).
    """
    target = out_dir / change_id
    with local_io("write the change record", target):  # read-only, full, not a folder: one line
        return _write_record(out_dir, target, change_id, spec_sha256, files, extra or {})


def _write_record(
    out_dir: Path,
    target: Path,
    change_id: str,
    spec_sha256: str,
    files: Iterable[tuple[str, bytes]],
    extra: Mapping[str, object],
) -> Path:
    if target.exists():
        raise RecordError(
            f"{target} already exists; a change record is never overwritten "
            "(use a new change.id or another -o directory)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{change_id}.", suffix=".partial", dir=out_dir))
    try:
        hashes = _write_all(staging, files)
        meta = {
            "tool": "sslbind",
            "tool_version": __version__,
            "change_id": change_id,
            "spec_sha256": spec_sha256,
            "created_at": created_at(),
            **extra,
        }
        _write_plain(staging / MANIFEST, manifest_bytes(hashes, meta))
        _sync_tree(staging)
        try:
            os.rename(staging, target)  # atomic; fails on a non-empty target
        except OSError:
            raise RecordError(f"{target} appeared while writing; a record is never overwritten") from None
        _fsync_dir(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


MANIFEST_MAX_BYTES = 256 * 1024 * 1024  # 5,000 hosts x 20 bindings list 30,006 files in 3 MB


def read_manifest(record: Path) -> dict[str, object]:
    path = record / MANIFEST
    if not os.path.lexists(path):
        raise RecordError(f"{record} is not a change record: {MANIFEST} is missing")
    try:
        data = load_json(read_input(path, MANIFEST_MAX_BYTES, "a manifest"), path, "a manifest")
    except InputFileError as error:  # a FIFO or device, too large, not UTF-8, too deep, not JSON
        raise RecordError(f"{path}: cannot read the manifest: {error.problem}", EXIT_FAILED) from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise RecordError(f"{path}: not an sslbind manifest (no 'files' table)", EXIT_FAILED)
    return data


def add_plan(record: Path, document: Mapping[str, object], stamp: str | None = None) -> Path:
    """Store a plan as plans/<stamp>.json with its sha256sum sidecar; never overwrites.

    The sidecar is written first: a write cut short (SIGKILL, power loss) leaves at most a sidecar
    without its plan, which `check_record` reports as interrupted and which no command obeys,
    never a plan without its checksum.
    """
    stamp = stamp or utc_stamp()
    data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
    path = record / PLANS / f"{stamp}.json"
    sidecar = path.with_name(path.name + SIDECAR)
    if path.exists():
        raise RecordError(f"{path} already exists; a record file is never overwritten")
    write_new_file(sidecar, f"{sha256_hex(data)}  {path.name}\n".encode())
    write_new_file(path, data)
    return path


def orphan_sidecars(record: Path) -> list[Path]:
    """Plan sidecars whose plan was never written (an interrupted plan write), oldest first."""
    return sorted(
        p
        for p in (record / PLANS).glob(f"*.json{SIDECAR}")
        if not p.with_name(p.name[: -len(SIDECAR)]).exists()
    )


def latest(record: Path, folder: str) -> Path | None:
    """Newest plan file or sealed run folder of a record, by stamp."""
    base = record / folder
    if folder == PLANS:
        found = sorted(base.glob("*.json"))
    else:
        found = sorted(p for p in base.iterdir() if (p / MANIFEST).is_file()) if base.is_dir() else []
    return found[-1] if found else None


@contextlib.contextmanager
def new_run(record: Path, stamp: str | None = None) -> Iterator[Path]:
    """Create runs/<stamp>/ for a run's files, then seal it with a manifest, even on failure.

    The folder exists from the start so the event log survives a crash of the client; an unsealed
    run folder is reported by `check_record`.
    """
    folder = record / RUNS / (stamp or utc_stamp())
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir()
    except FileExistsError:
        raise RecordError(f"{folder} already exists; a run is never overwritten") from None
    try:
        yield folder
    finally:
        seal_folder(folder)


def seal_folder(folder: Path) -> Path:
    hashes = {
        p.relative_to(folder).as_posix(): sha256_hex(p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }
    path = folder / MANIFEST
    write_new_file(path, manifest_bytes(hashes, {"sealed_at": utc_stamp()}))
    return path


def _check_manifest(base: Path, listed: Mapping[str, object], label: str) -> tuple[list[str], set[Path]]:
    problems: list[str] = []
    covered: set[Path] = set()
    for name, expected in sorted(listed.items()):
        path = base / name
        covered.add(path)
        special = _special_kind(path)
        if special is not None:
            problems.append(f"special: {label}{name} is {special}, not a regular file")
        elif not path.is_file():
            problems.append(f"missing: {label}{name}")
        elif sha256_hex(path.read_bytes()) != expected:
            problems.append(f"changed: {label}{name} (sha256 differs from the manifest)")
    return problems, covered


def _check_plans(record: Path) -> tuple[list[str], set[Path]]:
    problems: list[str] = []
    covered: set[Path] = set()
    plans = sorted((record / PLANS).glob("*.json"))
    for plan in plans:
        sidecar = plan.with_name(plan.name + SIDECAR)
        covered.update({plan, sidecar})
        special = _special_kind(plan) or _special_kind(sidecar)
        if special is not None:  # never opened: a FIFO blocks, a device never ends
            problems.append(f"special: {PLANS}/{plan.name} or its sidecar is {special}, not a regular file")
            continue
        if not sidecar.is_file():
            problems.append(f"missing: {PLANS}/{sidecar.name}")
            continue
        expected = sidecar.read_text(encoding="utf-8").split()[0] if sidecar.stat().st_size else ""
        if sha256_hex(plan.read_bytes()) != expected:
            problems.append(f"changed: {PLANS}/{plan.name} (sha256 differs from {sidecar.name})")
    newest = plans[-1].name if plans else ""
    for sidecar in orphan_sidecars(record):
        covered.add(sidecar)
        if sidecar.name > newest:  # written after every plan: a plan write that was cut short
            problems.append(
                f"interrupted: {PLANS}/{sidecar.name} has no plan (a plan write was cut short); "
                "`sslbind record resolve` clears it"
            )
        else:  # an older plan is gone: someone removed it
            problems.append(f"missing: {PLANS}/{sidecar.name[: -len(SIDECAR)]}")
    return problems, covered


def _check_runs(record: Path) -> tuple[list[str], set[Path]]:
    problems: list[str] = []
    covered: set[Path] = set()
    runs = record / RUNS
    for folder in sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []:
        manifest = folder / MANIFEST
        label = f"{RUNS}/{folder.name}/"
        if not manifest.is_file():
            problems.append(f"unsealed: {label} has no {MANIFEST} (the run was interrupted)")
            covered.update(p for p in folder.rglob("*") if p.is_file())
            continue
        covered.add(manifest)
        try:
            if _special_kind(manifest) is not None:
                raise ValueError("not a regular file")
            listed = json.loads(manifest.read_text(encoding="utf-8"))["files"]
            if not isinstance(listed, dict):
                raise TypeError("not a table")
        except (ValueError, KeyError, TypeError, RecursionError):
            problems.append(f"changed: {label}{MANIFEST} is not a manifest")
            continue
        found, files = _check_manifest(folder, listed, label)
        problems += found
        covered |= files
    return problems, covered


def check_record(record: Path) -> list[str]:
    """Every problem with a record's integrity, one line each; empty when intact."""
    with local_io("check the record", record):
        return _check_record(record)


def _check_record(record: Path) -> list[str]:
    manifest = read_manifest(record)
    listed = manifest["files"]
    assert isinstance(listed, dict)
    problems, covered = _check_manifest(record, listed, "")
    covered.update({record / MANIFEST, record / LOCK_FILE})
    for check in (_check_plans, _check_runs):
        found, files = check(record)
        problems += found
        covered |= files
    covered.update(by_hand_results(record))
    for path in sorted(record.rglob("*")):
        special = _special_kind(path)
        name = path.relative_to(record).as_posix()
        if special is not None and path not in covered:
            problems.append(f"special: {name} is {special}, not a regular file")
        elif path.is_file() and path not in covered:
            problems.append(f"unexpected: {name} is in no manifest")
    return problems


def _special_kind(path: Path) -> str | None:
    """What a path is when it is neither a regular file nor a folder (a record holds only those;
    a FIFO or device would hang or flood whoever reads it, a link points outside the record)."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return None
    kinds = {
        stat.S_ISLNK: "a symbolic link",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((what for test, what in kinds.items() if test(mode)), None)


def by_hand_results(record: Path) -> list[Path]:
    """Results a script run by hand saved beside itself (hosts/<host>/<phase>-<stamp>.json)."""
    hosts = record / "hosts"
    found = (p for p in hosts.rglob("*.json") if p.is_file()) if hosts.is_dir() else iter(())
    return sorted(p for p in found if BY_HAND_RESULT.fullmatch(p.relative_to(record).as_posix()))
