"""Benchmark: `sslbind import --from-netsh` of 1,000 / 10,000 / 50,000 IP bindings on one port.

The input is the shape of issue 12's report (a shared IIS host: thousands of `IP:port` bindings on
port 443), written in the newest English layout (25 setting lines, `Enable Caching Client Hello` and
two `Extended Properties:` blocks per binding) from `tests/fixtures/import/netsh-2025-en.txt`.
Each size runs in a fresh child process (`--one N FILE`), which reads the saved file, parses it,
computes every warning and writes the spec text, exactly as `import_command` does; it reports wall
time, its own CPU time and peak RSS. Linear means CPU microseconds per binding stay flat.

Not a test; run by hand: `.venv/bin/python benchmarks/bench_import.py [--sizes 1000,10000,50000]`.
On a shared machine trust the CPU column: wall time includes waiting for the other processes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "tests" / "fixtures" / "import" / "netsh-2025-en.txt"
KEY = "0.0.0.0:443"


def netsh_text(count: int) -> str:
    """`netsh http show sslcert` output with `count` IP:port bindings on port 443 (CRLF)."""
    text = TEMPLATE.read_text(encoding="utf-8").replace("\r\n", "\n")
    head, _sep, rest = text.partition("    IP:port")
    block = "    IP:port" + rest.rstrip("\n") + "\n\n"
    parts = [head]
    for index in range(count):
        address = f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
        parts.append(block.replace(KEY, f"{address}:443"))
    return "".join(parts).replace("\n", "\r\n")


def one(count: int, path: Path) -> dict[str, float | int]:
    """Child process: import `path` as the CLI does; times and peak memory of this process."""
    sys.path.insert(0, str(ROOT))
    from datetime import UTC, datetime

    from generator.importers.netsh_text import read_netsh
    from generator.importers.spec_writer import import_spec, import_warnings

    wall, cpu = time.perf_counter(), time.process_time()
    result = read_netsh(path)
    parsed_wall, parsed_cpu = time.perf_counter(), time.process_time()
    now = datetime.now(UTC)
    warnings = import_warnings(result, {}, now)
    spec = import_spec(result, "web01.contoso.local", {}, {}, now)
    done_wall, done_cpu = time.perf_counter(), time.process_time()
    if len(result.bindings) != count:
        raise SystemExit(f"expected {count} bindings, imported {len(result.bindings)}")
    return {
        "bindings": count,
        "input_mb": round(path.stat().st_size / 1e6, 1),
        "parse_wall": round(parsed_wall - wall, 2),
        "parse_cpu": round(parsed_cpu - cpu, 2),
        "spec_cpu": round(done_cpu - parsed_cpu, 2),
        "total_wall": round(done_wall - wall, 2),
        "total_cpu": round(done_cpu - cpu, 2),
        "us_per_binding": round((done_cpu - cpu) / count * 1e6),
        "warnings": len(warnings),
        "spec_mb": round(len(spec.encode("utf-8")) / 1e6, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def measure(count: int, folder: Path) -> dict[str, float | int]:
    path = folder / f"show-{count}.txt"
    path.write_text(netsh_text(count), encoding="utf-8", newline="")
    command = [sys.executable, __file__, "--one", str(count), str(path)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    path.unlink()
    return dict(json.loads(output))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="binding counts, comma-separated")
    parser.add_argument("--one", nargs=2, metavar=("COUNT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(int(args.one[0]), Path(args.one[1]))))
        return
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    columns = [
        "bindings",
        "input_mb",
        "parse_wall",
        "parse_cpu",
        "spec_cpu",
        "total_wall",
        "total_cpu",
        "us_per_binding",
        "warnings",
        "spec_mb",
        "peak_rss_mb",
    ]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    with tempfile.TemporaryDirectory(prefix="sslbind-bench-import-") as folder:
        for size in (int(s) for s in args.sizes.split(",")):
            row = measure(size, Path(folder))
            print("| " + " | ".join(str(row[c]) for c in columns) + " |", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
