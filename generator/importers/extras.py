"""Bits a binding carries that no `netsh http add sslcert` parameter sets: read, reported, never dropped.

Current Windows builds carry such bits (DefaultFlags 0x8000 ENABLE_CACHE_CLIENT_HELLO, 0x2000, 0x4),
and the newest netsh prints lines for some of them. Import reads such a binding and warns, per
binding, that sslbind refuses a change that deletes and re-adds it (the PowerShell library refuses
before any delete, because netsh could not put the bit back). Check-mode bit 0x4 is different:
sslbind knows it, but whether netsh sets it with revocationfreshnesstime is not established (see
generator/binding.py), so a disagreement between the two is a warning, never a refusal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from generator.binding import (
    CHECK_MODE_FRESHNESS,
    CHECK_MODE_VALUE,
    EXTRA_CHECK_MODE_NAMES,
    EXTRA_FLAG_NAMES,
    FLAGS_VALUE,
    KNOWN_CHECK_MODE_BITS,
    KNOWN_FLAG_BITS,
    describe_bits,
    extra_bits,
)
from generator.importers.result import ExtraSetting
from generator.importers.warnings import BindingWarning

EXTRA_BIT = "extra-bit"
FRESHNESS_BIT = "freshness-bit"
REFUSED_CHANGE = (
    "no netsh parameter can set it, so sslbind refuses a change that deletes and re-adds this binding"
)
# Per bit field: the bits sslbind understands and the names public sources give the others.
FIELDS: Mapping[str, tuple[int, Mapping[int, str]]] = {
    FLAGS_VALUE: (KNOWN_FLAG_BITS, EXTRA_FLAG_NAMES),
    CHECK_MODE_VALUE: (KNOWN_CHECK_MODE_BITS, EXTRA_CHECK_MODE_NAMES),
}


def single_bits(value: int) -> list[int]:
    return [1 << i for i in range(32) if value & (1 << i)]


def registry_extras(binding: str, field: str, value: int, line: int | None = None) -> list[ExtraSetting]:
    """One ExtraSetting per bit of the registry value `field` that no netsh parameter sets."""
    known, names = FIELDS[field]
    return [
        ExtraSetting(binding, field, bit, describe_bits(bit, names), line=line)
        for bit in single_bits(extra_bits(value, known))
    ]


def is_extra(extra: ExtraSetting) -> bool:
    """True unless the bit is one sslbind knows (check-mode 0x4 shown by netsh as its own line)."""
    known, _names = FIELDS[extra.field]
    return extra.bit == 0 or bool(extra_bits(extra.bit, known))


def extra_warning(extra: ExtraSetting) -> BindingWarning:
    """The warning for an extra bit (or netsh line) that is on."""
    where = f"line {extra.line}: " if extra.line else ""
    if extra.text:  # from netsh text: quote the line, say which bit it stands for
        bit = f"{extra.field} bit 0x{extra.bit:X}" if extra.bit else f"a {extra.field} bit that is not public"
        what = f"{where}{extra.text.strip()!r} ({bit})"
    else:
        what = f"{where}{extra.field} carries {extra.name}"
    if is_extra(extra):
        return BindingWarning(extra.binding, EXTRA_BIT, f"{what}: {REFUSED_CHANGE}")
    message = (
        f"{what}: no netsh parameter sets check-mode bit 0x{CHECK_MODE_FRESHNESS:X} directly, and whether "
        "revocationfreshnesstime sets it is not established"
    )
    return BindingWarning(extra.binding, FRESHNESS_BIT, message)


def freshness_warning(binding: str, bit_set: bool, freshness: int, where: str = "") -> BindingWarning | None:
    """A warning when check-mode bit 0x4 and revocationfreshnesstime disagree (None when they agree).

    The old rule "0x4 set exactly when the time is above 0" rests on one third-party report, so a
    disagreement is reported, not refused.
    """
    if bit_set == (freshness > 0):
        return None
    prefix = f"{where}: " if where else ""
    if bit_set:
        message = (
            f"{prefix}{CHECK_MODE_VALUE} bit 0x{CHECK_MODE_FRESHNESS:X} (freshness time in effect) is set "
            "but revocationfreshnesstime is 0; netsh add cannot reproduce that, so re-adding this "
            "binding may lose the bit"
        )
    else:
        message = (
            f"{prefix}revocationfreshnesstime is {freshness} but {CHECK_MODE_VALUE} bit "
            f"0x{CHECK_MODE_FRESHNESS:X} is clear; whether netsh sets the bit with a freshness time is not "
            "established, so re-adding this binding may change it"
        )
    return BindingWarning(binding, FRESHNESS_BIT, message)


def warnings_for(extras: Iterable[ExtraSetting]) -> list[BindingWarning]:
    """A warning for every extra that is on."""
    return [extra_warning(e) for e in extras if e.on]
