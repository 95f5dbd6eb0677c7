"""What the bridge tells every lab pwsh through its environment."""

from __future__ import annotations

ENV_STATE = "SSLBIND_LAB_STATE"  # the state file (the library's lab lock sits beside it)
ENV_SERVICE = "SSLBIND_LAB_SERVICE"  # the Unix socket of the lab's simulated Windows (service.py)
