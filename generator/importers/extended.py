"""`Extended Properties:` blocks of `netsh http show sslcert`: read, carried into the spec, never dropped.

Newer netsh builds print, under a binding's settings, blocks such as

     Extended Properties:
        PropertyId                   : 0
        Receive Window               : 1048576

(reference 3.2: PropertyId 0 is the HTTP/2 receive window, 1 the HTTP/2 settings limits, 2-4 newer,
usually empty). `netsh http add sslcert` has no parameter for any of them (only `netsh http update
sslpropertyex` sets 0 and 1), so a delete+add gives the binding whatever a plain add gives it.

What a plain add gives is known from public captures (tests/fixtures/import/real/SOURCES.md): right
after `netsh http add sslcert ipport=... certhash=... appid=...`, netsh shows PropertyId 0 with
Receive Window 1048576, PropertyId 1 with 2796202 / 4294967295, and empty blocks 2, 3 and 4. A block
with exactly those values survives a delete+add and is a note; any other value, an unknown
PropertyId or a line we cannot read is a warning naming the binding, because a delete+add would
reset it. Values are compared by position, not by label, so translated labels need no table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from generator.importers.result import ExtendedBlock
from generator.importers.warnings import BindingWarning

EXTENDED_PROPERTIES = "extended-properties"  # the warning code
# PropertyId -> the values a plain `netsh http add sslcert` shows, in order (public captures).
AS_ADDED: Mapping[str, tuple[str, ...]] = {
    "0": ("1048576",),
    "1": ("2796202", "4294967295"),
    "2": (),
    "3": (),
    "4": (),
}
# HTTP_SSL_SERVICE_CONFIG_EX_PARAM_TYPE names (reference 3.2 and http.h).
PROPERTY_NAMES: Mapping[str, str] = {
    "0": "HTTP/2 receive window",
    "1": "HTTP/2 settings limits",
    "2": "performance",
    "3": "TLS restrictions",
    "4": "error headers",
    "5": "TLS session ticket keys",
}
# English labels of the lines inside a block; translated ones are read by position.
LABELS = ("PropertyId", "Receive Window", "Max Settings Per Frame", "Max Settings Per Minute")


def property_id(block: ExtendedBlock) -> str | None:
    """The block's PropertyId: the value of its first line when that is a number."""
    if not block.pairs:
        return None
    value = block.pairs[0][1].strip()
    return value if value.isdigit() else None


def as_added(block: ExtendedBlock) -> bool:
    """True when the block holds exactly what a plain `netsh http add sslcert` gives a binding."""
    pid = property_id(block)
    if pid is None or pid not in AS_ADDED:
        return False
    return tuple(value.strip() for _label, value in block.pairs[1:]) == AS_ADDED[pid]


def describe(block: ExtendedBlock) -> str:
    """`PropertyId 0 (HTTP/2 receive window): Receive Window 1048576`, labels as the source spells them."""
    pid = property_id(block)
    name = f"PropertyId {pid} ({PROPERTY_NAMES.get(pid, 'not public')})" if pid else "no PropertyId line"
    rest = block.pairs[1:] if pid else block.pairs
    values = "; ".join(f"{' '.join(label.split())} {' '.join(value.split())}" for label, value in rest)
    return f"{name}: {values}" if values else f"{name}: empty"


def _as_added_text(pid: str | None) -> str:
    values = AS_ADDED.get(pid or "")
    if values is None:
        return "nothing (a plain add does not show this PropertyId)"
    return ", ".join(values) if values else "an empty block"


def extended_warnings(blocks: Iterable[ExtendedBlock]) -> list[BindingWarning]:
    """A warning for every block a delete+add would change (not as a plain add leaves it)."""
    found = []
    for block in blocks:
        if as_added(block):
            continue
        message = (
            f"line {block.line}: Extended Properties {describe(block)}: `netsh http add sslcert` cannot "
            f"set it, so a delete+add resets it to {_as_added_text(property_id(block))}; only "
            "`netsh http update sslpropertyex` (or an update in place) keeps it"
        )
        found.append(BindingWarning(block.binding, EXTENDED_PROPERTIES, message))
    return found


def binding_notes(blocks: Sequence[ExtendedBlock]) -> dict[str, list[str]]:
    """binding -> one comment per block, to stand under the binding in the spec (where a reviewer looks)."""
    notes: dict[str, list[str]] = {}
    for block in blocks:
        verdict = (
            "as a plain `netsh http add sslcert` leaves it, so a delete+add keeps it"
            if as_added(block)
            else "NOT settable by `netsh http add sslcert`: a delete+add loses it (see the warning)"
        )
        text = f"Extended Properties (line {block.line}) {describe(block)}; {verdict}"
        notes.setdefault(block.binding, []).append(text)
    return notes
