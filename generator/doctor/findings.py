"""What `sslbind doctor` found: one Finding per fact an engineer must know, with its weight.

`disagreement` (sslbind's reading of the registry differs from netsh's own output) and `blocking`
(something that stops sslbind, or the check itself, on this host) make the doctor exit 1; a `note`
is reported and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["disagreement", "blocking", "note"]
SEVERITIES: tuple[Severity, ...] = ("disagreement", "blocking", "note")  # report order
FAILING: frozenset[Severity] = frozenset({"disagreement", "blocking"})

Value = str | int | None


@dataclass(frozen=True)
class Finding:
    severity: Severity
    message: str
    binding: str | None = None  # e.g. "ipport=0.0.0.0:443"
    setting: str | None = None  # a netsh parameter, a registry value or a netsh line label
    registry: Value = None  # what sslbind decoded from the registry, where a setting disagrees
    netsh: Value = None  # what netsh shows for it

    def __str__(self) -> str:
        owner = ": ".join(part for part in (self.binding, self.setting) if part)
        return f"{owner}: {self.message}" if owner else self.message

    def to_json(self) -> dict[str, Value]:
        document: dict[str, Value] = {
            "severity": self.severity,
            "binding": self.binding,
            "setting": self.setting,
        }
        document["message"] = self.message
        if self.registry is not None or self.netsh is not None:
            document["registry"], document["netsh"] = self.registry, self.netsh
        return document


def failing(findings: Iterable[Finding]) -> bool:
    return any(f.severity in FAILING for f in findings)


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Failing findings first; within a severity, the order they were found (binding by binding)."""
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
