"""The lab target: a loopback WinRM endpoint running real pwsh on a simulated Windows HTTP.sys.

See README.md in this folder for the mechanism and its limits. `LabServer` is imported lazily so
the simulated-Windows shims, which run as short-lived processes inside every shell, stay fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LabServer"]


def __getattr__(name: str) -> Any:
    if name == "LabServer":
        from generator.lab.server import LabServer

        return LabServer
    raise AttributeError(name)
