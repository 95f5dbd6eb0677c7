"""Just enough of PSRP's fragment layer to batch pwsh output into envelopes and spot a pipeline's end.

A fragment is: ObjectId (8, big-endian), FragmentId (8), flags (1: 0x1 start, 0x2 end), length (4)
and the blob; a message's first blob starts with Destination (4, LE), MessageType (4, LE), RPID,
PID (16 each) and CLIXML. Source: MS-PSRP 2.2.4 and pypsrp's messages.Fragment.
"""

from __future__ import annotations

import re
import struct

HEADER = 21
MESSAGE_HEADER = 40
PIPELINE_STATE = 0x00041006
# PSInvocationState values after which a pipeline sends nothing more: Stopped, Completed, Failed.
TERMINAL_STATES = frozenset({3, 4, 5})
_STATE = re.compile(rb'N="PipelineState">(\d+)<')


def split(data: bytes) -> list[bytes]:
    """Cuts concatenated fragments apart; a truncated tail is kept as its own item."""
    out = []
    while data:
        if len(data) < HEADER:
            out.append(data)
            break
        length = struct.unpack(">I", data[17:21])[0]
        out.append(data[: HEADER + length])
        data = data[HEADER + length :]
    return out


def pipeline_state(fragment: bytes) -> int | None:
    """The state a PIPELINE_STATE message announces, if `fragment` starts one; else None."""
    if len(fragment) < HEADER + MESSAGE_HEADER or not fragment[16] & 0x1:
        return None
    blob = fragment[HEADER:]
    if struct.unpack("<I", blob[4:8])[0] != PIPELINE_STATE:
        return None
    match = _STATE.search(blob[MESSAGE_HEADER:])
    return int(match.group(1)) if match else None
