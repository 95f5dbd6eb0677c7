"""Errors meant for the user: one line, a fixed exit code, never a traceback."""

from __future__ import annotations

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
