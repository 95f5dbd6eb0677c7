"""The README's "Try it without Windows" tour, run line for line as a reader would paste it.

The lines between `<!-- tour:start -->` and `<!-- tour:end -->` run in one bash, in an empty folder,
with only the venv and pwsh on PATH and none of sslbind's variables set (the tour sets its own).
Each line must end with the exit code its comment names (`# exit 3`), 0 otherwise; the run stops at
the first line that does not. Then the lab's state must be where the tour says: rotated, verified,
rolled back to the old certificate with every other setting kept, and the lab stopped.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
START, END = "<!-- tour:start -->", "<!-- tour:end -->"
_EXIT = re.compile(r"#\s*exit (\d+)\b")

pytestmark = [pytest.mark.lab, pytest.mark.pwsh, pytest.mark.timeout(1800)]


def tour_lines(readme: str) -> list[str]:
    """The commands of the tour: the fenced block between the markers, without blank lines."""
    if readme.count(START) != 1 or readme.count(END) != 1:
        raise AssertionError(f"README.md must hold {START} and {END} once each")
    block = readme.split(START, 1)[1].split(END, 1)[0].strip().splitlines()
    if not block or not block[0].startswith("```") or block[-1].strip() != "```":
        raise AssertionError("the tour markers must enclose exactly one fenced code block")
    return [line for line in block[1:-1] if line.strip()]


def expected_exit(line: str) -> int:
    found = _EXIT.search(line)
    return int(found.group(1)) if found else 0


def tour_script(lines: list[str], results: Path) -> str:
    """Bash running `lines` in order, writing `index exit` per line to `results`, stopping at the first
    unexpected exit code."""
    out = [f"exec 3>{results}"]
    for index, line in enumerate(lines):
        out += [
            line,
            f"rc=$?; echo {index} $rc >&3; [ $rc -eq {expected_exit(line)} ] || "
            f'{{ echo "tour line {index + 1} exit $rc" >&2; exit 1; }}',
        ]
    return "\n".join(out) + "\n"


def test_tour_extraction_and_expected_exits() -> None:
    """The parser above can fail: markers missing, no fence, and the exit annotations."""
    lines = tour_lines(README.read_text("utf-8"))
    assert any(line.startswith("sslbind rotate ") for line in lines)
    assert [expected_exit(line) for line in lines].count(3) == 2  # plan pending, verify after rollback
    with pytest.raises(AssertionError, match="once each"):
        tour_lines("no markers")
    with pytest.raises(AssertionError, match="fenced code block"):
        tour_lines(f"{START}\nsslbind render x\n{END}")


def _bindings(state: Path) -> dict[str, dict[str, object]]:
    document = json.loads(state.read_text("utf-8"))
    out = {}
    for binding in document["bindings"]:
        kind = next(k for k in ("ipport", "hostnameport", "ccs", "scopedccs") if k in binding)
        out[f"{kind}={binding[kind]}"] = {k: v for k, v in binding.items() if k != kind}
    return out


def _lab_processes(folder: Path) -> list[psutil.Process]:
    """`sslbind lab serve` processes started in `folder` (the tour's own lab) still running (an exited
    one may stay a zombie until the container's init reaps it)."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd", "status"]):
        try:
            command = " ".join(process.info["cmdline"] or [])
            running = process.info["status"] != psutil.STATUS_ZOMBIE
            if running and "lab serve" in command and process.info["cwd"] == str(folder):
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


@pytest.mark.slow
def test_readme_tour_runs_line_for_line(pwsh: str, tmp_path: Path) -> None:
    lines = tour_lines(README.read_text("utf-8"))
    work = tmp_path / "tour"
    work.mkdir()
    results = tmp_path / "exits.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSLBIND_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), str(Path(pwsh).parent), env["PATH"]])
    process = subprocess.Popen(
        ["bash", "-c", tour_script(lines, results)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the lab the tour starts is in this group, stopped below whatever happens
    )
    try:
        output, _ = process.communicate(timeout=1500)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        deadline = time.monotonic() + 60  # the tour's `kill` asks the lab to stop its shells first
        while _lab_processes(work) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _lab_processes(work)
        if left:  # never leave the tour's lab running, whatever the assertions below say
            os.killpg(process.pid, signal.SIGKILL)
    text = output.decode("utf-8", "replace")
    ran = results.read_text("utf-8").split("\n") if results.exists() else []
    assert process.returncode == 0, f"{text[-3000:]}\nexits: {ran}"
    exits = [int(line.split()[1]) for line in ran if line]
    assert exits == [expected_exit(line) for line in lines], text[-3000:]

    # The final state: rolled back to the old certificate, every other setting as it was.
    state = _bindings(work / "lab.json")
    spec = (work / "web01.yaml").read_text("utf-8")
    old = re.search(r'certhash: "([0-9a-f]{40})"', spec).group(1)  # type: ignore[union-attr]
    assert state["ipport=0.0.0.0:443"]["certhash"].lower() == old  # type: ignore[union-attr]
    assert state["ipport=0.0.0.0:443"]["verifyclientcertrevocation"] == "disable"
    assert state["hostnameport=api.contoso.com:443"]["certhash"].lower() == old  # type: ignore[union-attr]
    record = next((work / "changes").iterdir())
    kinds = sorted(
        json.loads((run / "run.json").read_text("utf-8"))["kind"] for run in (record / "runs").iterdir()
    )
    assert kinds == ["apply", "rollback"], kinds
    assert not left, f"the tour's last line did not stop the lab: {left}"
