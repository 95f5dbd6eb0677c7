"""What an importer yields: bindings in the normalized model plus everything it could not import."""

from __future__ import annotations

from dataclasses import dataclass

from generator.errors import UserError
from generator.importers.warnings import BindingWarning
from generator.model import Binding


@dataclass(frozen=True)
class Remark:
    """A line or value kept out of the bindings (or taken in by inference), with where it was."""

    line: int | None
    binding: str | None  # e.g. "ipport=0.0.0.0:443"; None outside any binding
    text: str  # the source line or value, verbatim
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "-"
        owner = f" [{self.binding}]" if self.binding else ""
        return f"{where}{owner}: {self.text.strip()!r}: {self.reason}"


@dataclass(frozen=True)
class ExtraSetting:
    """A bit of a binding (or a netsh line showing one) that no `netsh http add sslcert` parameter sets.

    Read and reported, never set: sslbind refuses a change that would delete and re-add such a binding.
    """

    binding: str  # e.g. "ipport=0.0.0.0:443"
    field: str  # DefaultFlags or DefaultSslCertCheckMode
    bit: int  # one bit; 0 when netsh names the setting but which bit it is, is not public
    name: str  # describe_bits() text ("0x8000 ENABLE_CACHE_CLIENT_HELLO ...") or the netsh label
    on: bool = True  # a netsh line may show it off ("Not Set"); registry extras are always on
    line: int | None = None
    text: str = ""  # the netsh line verbatim, when read from netsh text


@dataclass(frozen=True)
class ExtendedBlock:
    """One `Extended Properties:` block under a binding in netsh's output, its lines verbatim.

    No `netsh http add sslcert` parameter sets it; generator.importers.extended says whether a
    delete+add would keep it.
    """

    binding: str  # e.g. "ipport=0.0.0.0:443"
    line: int  # of the `Extended Properties:` line
    pairs: tuple[tuple[str, str], ...] = ()  # (label, value) of each line under it, in order


@dataclass(frozen=True)
class ImportResult:
    """Bindings read from one saved file; settings are complete (every known setting spelled out)."""

    source: str  # file name as given
    sha256: str  # of the file's bytes
    format: str  # e.g. "netsh http show sslcert (en)", "reg query", ".reg export"
    encoding: str
    bindings: tuple[Binding, ...]
    not_imported: tuple[Remark, ...] = ()
    inferred: tuple[Remark, ...] = ()
    extras: tuple[ExtraSetting, ...] = ()  # bits (or netsh lines) no netsh parameter sets, on or off
    warnings: tuple[BindingWarning, ...] = ()  # per binding: extra bits that are on, bit 0x4 doubts
    extended: tuple[ExtendedBlock, ...] = ()  # netsh's Extended Properties blocks, per binding


class ImportInputError(UserError):
    """Saved output the importer cannot read with certainty; names file, line, binding and setting."""

    def __init__(
        self,
        source: str,
        line: int | None,
        problem: str,
        binding: str | None = None,
        setting: str | None = None,
    ) -> None:
        where = f"{source}:{line}" if line else source
        parts = [where] + [p for p in (binding, setting) if p] + [problem]
        super().__init__(": ".join(parts))
        self.source, self.line, self.binding, self.setting = source, line, binding, setting
