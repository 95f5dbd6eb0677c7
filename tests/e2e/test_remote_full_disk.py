"""F2 on a real full disk: the output folder is a small tmpfs that fills up while apply.ps1 is
mid-change on the host. The client must end with exit 4 naming the host (never 1, "hosts as
before"), and once space is back, `rollback` restores the prior the run wrote before the change.

Needs root to mount the tmpfs; CI runs as root (and fails here rather than skip when it is not).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_remote_harness import MAIN, NEW_CERT, lab_hosts, swap_to_new
from tests.e2e.test_remote_outcomes import _client, _wait_for_event, certhash, rollback, same

pytestmark = [pytest.mark.lab, pytest.mark.pwsh, pytest.mark.timeout(900)]

CHANGE = "CHG0000700"  # the helpers above read this record


def _can_mount() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str = "8m") -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(filler: Path) -> None:
    """Writes zeros until the filesystem refuses a single byte more (unbuffered, so nothing is
    left to fail later at close)."""
    fd = os.open(filler, os.O_WRONLY | os.O_APPEND)
    try:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1):
            try:
                while os.write(fd, b"\0" * chunk):
                    pass
            except OSError as error:
                assert error.errno == errno.ENOSPC, error
    finally:
        os.close(fd)


@pytest.mark.skipif(not _can_mount() and os.environ.get("CI") != "true", reason="mounting a tmpfs needs root")
def test_a_disk_filling_up_while_the_host_changes_is_exit_4_naming_it(pwsh: str, tmp_path: Path) -> None:
    with lab_hosts(tmp_path, pwsh) as lab, small_tmpfs(lab.out, "32m"):
        host = lab.hosts[0]
        before = lab.bindings(host)
        planned = lab.plan(lab.spec(CHANGE, swap_to_new(swap="replace")))
        assert planned.exit_code == 3, planned.output
        filler = lab.out / "filler"
        filler.touch()  # made now: once the disk is full not even an empty file can be
        lab.fault(host, on="add", target=MAIN, hang=6)
        client = _client(lab, "apply", str(lab.record(CHANGE)), "--yes", "--json")
        _wait_for_event(lab, "apply-start")
        deadline = time.monotonic() + 240
        while lab.binding(host, MAIN) is not None and time.monotonic() < deadline:
            time.sleep(0.1)  # apply.ps1 deleted the binding; its add hangs: the host is changing
        fill(filler)
        out, err = client.communicate(timeout=300)
        output = out.decode() + err.decode()
        assert client.returncode == 4, output
        assert host in output and "No space left on device" in output
        document = json.loads(out)
        assert document["hosts"][0]["status"] == "manual", document
        assert certhash(lab) == NEW_CERT  # the host did change: the record must not say otherwise

        filler.unlink()
        rolled = rollback(lab)
        assert rolled.exit_code == 0, rolled.output
        assert same(lab.bindings(host), before)
