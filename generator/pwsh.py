"""Run PowerShell (pwsh) on a script file or script text and collect what it printed.

Small and generic: the tests, the lab and benchmarks use it. Scripts run with -NoProfile and
-NonInteractive; the caller decides the timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from generator.errors import UserError

_TOOLS_PWSH = Path(__file__).resolve().parent.parent / ".tools" / "pwsh" / "pwsh"


class PwshNotFound(UserError):
    """No pwsh executable: install PowerShell 7 or run scripts/setup.sh."""


@dataclass(frozen=True)
class PwshResult:
    stdout: str
    stderr: str
    exit_code: int

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def find_pwsh() -> str:
    """pwsh from $SSLBIND_PWSH, the checkout's .tools/pwsh, or PATH."""
    configured = os.environ.get("SSLBIND_PWSH")
    if configured:
        return configured
    if _TOOLS_PWSH.is_file():
        return str(_TOOLS_PWSH)
    found = shutil.which("pwsh")
    if found is None:
        raise PwshNotFound("pwsh not found: install PowerShell 7, run scripts/setup.sh or set SSLBIND_PWSH")
    return found


def run_file(
    script: Path,
    args: list[str] | None = None,
    *,
    pwsh: str | None = None,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> PwshResult:
    """Run `pwsh -File script args...`."""
    command = [pwsh or find_pwsh(), "-NoLogo", "-NoProfile", "-NonInteractive", "-File", str(script)]
    completed = subprocess.run(
        [*command, *(args or [])],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )
    return PwshResult(completed.stdout, completed.stderr, completed.returncode)


def run_text(
    text: str,
    args: list[str] | None = None,
    *,
    pwsh: str | None = None,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> PwshResult:
    """Write `text` to a temporary .ps1 and run it like `run_file` (a file keeps param() and $args)."""
    with tempfile.TemporaryDirectory(prefix="sslbind-pwsh-") as folder:
        script = Path(folder) / "script.ps1"
        script.write_text(text, encoding="utf-8")
        return run_file(script, args, pwsh=pwsh, timeout=timeout, env=env, cwd=cwd)
