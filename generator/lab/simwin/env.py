"""What a shim learns from the environment the bridge gives every lab pwsh."""

from __future__ import annotations

import os

from generator.lab.state import LabStateError, StateFile

ENV_STATE = "SSLBIND_LAB_STATE"


def state_file() -> StateFile:
    path = os.environ.get(ENV_STATE)
    if not path:
        raise LabStateError(f"{ENV_STATE} is not set: this shim runs only inside an `sslbind lab` shell")
    return StateFile(path)
