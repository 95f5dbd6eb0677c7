"""Import stays linear in the number of bindings, asserted by counting, never by timing.

Every line of Python executed under `generator/` is counted (sys.settrace) while importing N and 2N
IP:port bindings on one port (the shape of issue 12's slow host) and writing the spec: twice the
bindings must cost at most a little over twice the lines. A pass over all bindings per binding
(warnings comparing all pairs, a list scan per line, a buffer re-read per block) would cost four
times as many. Speed itself is measured by benchmarks/bench_import.py.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

from generator.importers.netsh_text import parse_netsh
from generator.importers.spec_writer import import_spec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
GENERATOR = str(Path(__file__).resolve().parents[2] / "generator")


def netsh_text(count: int, port: int = 443) -> str:
    """The 2025 fixture's binding block repeated `count` times with distinct addresses on `port`."""
    text = (FIXTURES / "netsh-2025-en.txt").read_text(encoding="utf-8").replace("\r\n", "\n")
    head, _sep, rest = text.partition("    IP:port")
    block = "    IP:port" + rest.rstrip("\n") + "\n\n"
    blocks = [block.replace("0.0.0.0:443", f"10.0.{i >> 8}.{i & 255}:{port}") for i in range(count)]
    return head + "".join(blocks)


def with_sni(count: int) -> str:
    """`count` IP bindings and `count` hostname bindings, all on port 443: each IP one shadows all."""
    text = netsh_text(count)
    hostnames = "    IP:port" + netsh_text(count).partition("    IP:port")[2]
    hostnames = hostnames.replace("IP:port                      : 10.0.", "Hostname:port : site-")
    hostnames = hostnames.replace("Certificate Store Name       : My", "Certificate Store Name : WebHosting")
    return text + hostnames


def lines_run(count: int, sni: bool = False) -> tuple[int, int]:
    """Python lines executed under generator/ to import `count` bindings and write their spec, and
    the characters of that spec (work done in C, such as joining names, shows in what it writes)."""
    data = (with_sni(count) if sni else netsh_text(count)).encode("utf-8")
    counts: Counter[str] = Counter()

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            counts["lines"] += 1
        return local

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename.startswith(GENERATOR) else None

    sys.settrace(tracer)
    try:
        result = parse_netsh(data, "show.txt")
        spec = import_spec(result, "web01")
    finally:
        sys.settrace(None)
    assert len(result.bindings) == count * (2 if sni else 1)
    return counts["lines"], len(spec)


def test_twice_the_bindings_cost_about_twice_the_work() -> None:
    (small, small_spec), (large, large_spec) = lines_run(150), lines_run(300)
    assert large <= 2.1 * small, (small, large)
    assert large_spec <= 2.1 * small_spec, (small_spec, large_spec)


def test_many_ip_bindings_shadowing_many_sni_bindings_stay_linear() -> None:
    (small, small_spec), (large, large_spec) = lines_run(100, sni=True), lines_run(200, sni=True)
    assert large <= 2.1 * small, (small, large)
    assert large_spec <= 2.1 * small_spec, (small_spec, large_spec)  # no warning names them all
