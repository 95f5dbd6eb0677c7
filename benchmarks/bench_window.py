"""Benchmark: the window without a binding per changed binding, update in place vs delete+add.

One lab host (real pypsrp, unmodified scripts). Each round rotates 0.0.0.0:443 between the old and
the new certificate with `swap: update` or `swap: replace` (alternating), and while apply runs a
poller reads the lab's simulated HTTP.sys (its state file, under the lab's lock) every few
milliseconds and measures how long 0.0.0.0:443 was absent. apply.ps1's own gap timing (delete to
add) is printed beside it. Not a test; run by hand:
`.venv/bin/python benchmarks/bench_window.py [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.test_remote_harness import LabHosts, lab_hosts  # noqa: E402


class AbsencePoller(threading.Thread):
    """Samples the lab host's bindings; the longest run of samples without 0.0.0.0:443, in ms."""

    def __init__(self, lab: LabHosts, host: str) -> None:
        super().__init__(daemon=True)
        self.lab, self.host = lab, host
        self.stop = threading.Event()
        self.samples = 0
        self.longest_ms = 0.0

    def run(self) -> None:
        gone_since: float | None = None
        while not self.stop.is_set():
            present = self.lab.binding(self.host) is not None
            now = time.monotonic()
            self.samples += 1
            if not present and gone_since is None:
                gone_since = now
            if present and gone_since is not None:
                self.longest_ms = max(self.longest_ms, (now - gone_since) * 1000)
                gone_since = None
            time.sleep(0.002)


def one_round(lab: LabHosts, index: int, swap: str, cert: str) -> dict[str, Any]:
    change = f"BENCH-WINDOW-{index:03d}"
    spec = lab.spec(change, [{"ipport": "0.0.0.0:443", "certhash": cert, "swap": swap}])
    assert lab.plan(spec).exit_code == 3
    poller = AbsencePoller(lab, lab.hosts[0])
    poller.start()
    result = lab.apply(change)
    poller.stop.set()
    poller.join()
    assert result.exit_code == 0, result.output
    host = lab.host_result(change, lab.hosts[0])
    return {
        "swap": swap,
        "gap_ms": host.get("gap_ms"),
        "absent_ms": poller.longest_ms,
        "samples": poller.samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per path (default 5)")
    args = parser.parse_args()
    from generator.lab.sample import NEW_CERT, OLD_CERT
    from tests.conftest import find_pwsh

    pwsh = find_pwsh()
    assert pwsh, "pwsh not found; run scripts/setup.sh"
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder, lab_hosts(Path(folder), pwsh) as lab:
        certs = [NEW_CERT, OLD_CERT]
        for index in range(args.rounds * 2):
            swap = ("update", "replace")[index % 2]
            rows.append(one_round(lab, index, swap, certs[index % 2]))
    print("| path | rounds | apply.ps1 gap, delete to add: ms median (max) | absent as polled: ms max |")
    print("|---|---|---|---|")
    for swap in ("update", "replace"):
        mine = [r for r in rows if r["swap"] == swap]
        gaps = [float(r["gap_ms"]) for r in mine if r["gap_ms"] is not None]
        gap = f"{statistics.median(gaps):.0f} ({max(gaps):.0f})" if gaps else "none (no delete)"
        absent = max(r["absent_ms"] for r in mine)
        label = "update in place" if swap == "update" else "delete+add"
        print(f"| {label} | {len(mine)} | {gap} | {absent:.0f} |")
    print(f"poller samples per apply: {statistics.median(r['samples'] for r in rows):.0f}")


if __name__ == "__main__":
    main()
