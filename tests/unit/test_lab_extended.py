"""The lab's HTTP/2 Extended Properties: validated in the state, shown by netsh as Server 2022
and later show them, and what the scripts' shape-based reader (Get-SslExtendedPropertyChange)
expects; a netsh add or update re-creates the binding without them."""

from __future__ import annotations

from typing import Any

import pytest

from generator.lab.simwin.netsh import show_text
from generator.lab.state import LabStateError, validate

TUNED = [{"id": 0, "values": [2097152]}, {"id": 1, "values": [2796202, 4294967295]}, {"id": 2, "values": []}]


def _state(extended: Any) -> dict[str, Any]:
    binding = {"ipport": "0.0.0.0:443", "certhash": "ab" * 20, "extended": extended}
    return {"bindings": [binding], "certificates": [], "faults": []}


def test_show_lists_each_block_with_a_one_space_header() -> None:
    state = validate(_state(TUNED), "state.json")
    lines = show_text(state["bindings"]).splitlines()
    at = lines.index(" Extended Properties:")
    assert lines[at + 1].split(":") == ["    PropertyId                   ", " 0"]
    assert lines[at + 2].startswith("    Receive Window") and lines[at + 2].endswith(": 2097152")
    assert lines.count(" Extended Properties:") == 3
    assert [line for line in lines if line.strip()][-1].endswith(": 2")  # block 2 has no values


@pytest.mark.parametrize(
    "bad",
    [
        {"id": 0},
        [{"id": -1, "values": []}],
        [{"id": 0, "values": ["x"]}],
        [{"values": [1]}],
        [{"id": True, "values": []}],
    ],
)
def test_a_malformed_block_is_refused_naming_the_binding(bad: Any) -> None:
    with pytest.raises(LabStateError, match=r"bindings\[0\]: extended"):
        validate(_state(bad), "state.json")
