"""Lab timings: open a pool and run a trivial pipeline (median of 20), then 20 pools in parallel.

    .venv/bin/python benchmarks/bench_lab.py [--runs 20] [--parallel 20]

Starts its own lab on a temporary sample state; prints the figures. Needs pwsh (scripts/setup.sh).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.lab.bridge import surviving_processes
from generator.lab.sample import sample_state
from generator.lab.server import LabServer
from generator.lab.state import StateFile

USER, PASSWORD = "bench", "bench-Passw0rd"


def one_round_trip(lab: LabServer) -> float:
    """Seconds to open a pool, run `1 + 1` and close the pool."""
    started = time.perf_counter()
    wsman = WSMan(
        "127.0.0.1",
        port=lab.port,
        ssl=False,
        auth="basic",
        encryption="never",
        username=USER,
        password=PASSWORD,
        operation_timeout=20,
        read_timeout=60,
        no_proxy=True,
    )
    with RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_script("1 + 1")
        if ps.invoke() != [2]:
            raise RuntimeError("unexpected output")
    return time.perf_counter() - started


def parallel(lab: LabServer, count: int) -> tuple[float, list[float]]:
    times: list[float] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            times.append(one_round_trip(lab))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {count} pools failed: {errors[0]!r}")
    return time.perf_counter() - started, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        state = StateFile(Path(work) / "state.json")
        state.create(sample_state())
        with LabServer(state.path, USER, PASSWORD, keep_spare=True) as lab:
            one_round_trip(lab)  # warm-up: disk caches, JIT of the lab itself
            sequential = [one_round_trip(lab) for _ in range(args.runs)]
            wall, each = parallel(lab, args.parallel)
    low, mid, high = min(sequential), statistics.median(sequential), max(sequential)
    print(f"open pool + trivial pipeline + close, sequential x{args.runs}:")
    print(f"  median {mid:.2f} s  min {low:.2f} s  max {high:.2f} s")
    print(f"{args.parallel} pools in parallel:")
    print(f"  wall {wall:.2f} s  per pool median {statistics.median(each):.2f} s  max {max(each):.2f} s")
    left = surviving_processes()
    print(f"pwsh processes left after the lab stopped: {len(left)}")


if __name__ == "__main__":
    main()
