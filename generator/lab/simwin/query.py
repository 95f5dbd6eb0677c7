"""The data side of SimWindows.ps1: one call per cmdlet, JSON on stdout.

    python -m generator.lab.simwin.query get PATH                 -> {"exists", "item", "children"}
    python -m generator.lab.simwin.query set PATH NAME VALUE TYPE -> {"ok"} or {"error", "category"}
    python -m generator.lab.simwin.query tcp FILTERS_JSON         -> {"rows", "errors"} (tcp.py)
    python -m generator.lab.simwin.query tls-endpoint ADDR PORT   -> {"endpoint": "127.0.0.1:3443" | null}

PATH is a registry path under HTTP\\Parameters or a `Cert:` path; SimWindows.ps1 decides which
paths it sends here and turns the JSON into the objects the cmdlets return on Windows.
FILTERS_JSON maps Get-NetTCPConnection's filter parameters to their values, e.g.
`{"LocalPort": [50443], "State": ["Listen"]}`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from generator.lab import faults
from generator.lab.simwin import certs, registry, tcp
from generator.lab.simwin.env import state_file
from generator.lab.state import LabStateError, binding_key


def get(path: str) -> dict[str, Any]:
    state = state_file().read()
    if certs.is_cert_path(path):
        item, children = certs.lookup(state, path)
        return {"exists": item is not None, "item": item, "children": children}
    key, subkeys = registry.lookup(state, path)
    return {
        "exists": key is not None,
        "item": key.to_json() if key else None,
        "children": [k.to_json() for k in subkeys],
    }


def _typed(value: str, kind: str) -> Any:
    if kind.lower() == "dword":
        return int(value, 0) & 0xFFFFFFFF  # a negative Int32 from PowerShell is the same 32 bits
    if kind.lower() == "qword":
        return int(value, 0)
    if kind.lower() == "binary":
        return "hex:" + value.lower()
    return value


def set_value(path: str, name: str, value: str, kind: str) -> dict[str, Any]:
    store = state_file()
    state = store.read()
    key, _ = registry.lookup(state, path)
    if key is None:
        return {
            "error": f"Cannot find path '{path}' because it does not exist.",
            "category": "ObjectNotFound",
        }
    if key.binding is None:
        return {"error": "Requested registry access is not allowed.", "category": "PermissionDenied"}
    kind_key = binding_key(key.binding)
    with store.transaction() as state:
        fault = faults.take_fault(state, "set", *kind_key)
    faults.hang(fault)
    if fault is not None and fault.kill_pwsh and not fault.kill_after:
        faults.kill_pwsh()
    if fault is not None and fault.error is not None:
        return {"error": "Requested registry access is not allowed.", "category": "PermissionDenied"}
    with store.transaction() as state:
        current, _ = registry.lookup(state, path)
        if current is None or current.binding is None:
            return {
                "error": f"Cannot find path '{path}' because it does not exist.",
                "category": "ObjectNotFound",
            }
        registry.set_value(current.binding, name, _typed(value, kind))
    if fault is not None and fault.drop_connection:
        faults.drop_connection()
    if fault is not None and fault.kill_pwsh and fault.kill_after:
        faults.kill_pwsh()
    return {"ok": True}


def tls_endpoint(address: str, port: str) -> dict[str, Any]:
    """Where the lab's TLS front serves `address:port` (front.py); null when no front serves it."""
    from generator.lab.tlsmap import lab_tls_endpoint

    try:
        host, mapped = lab_tls_endpoint(state_file(), address, int(port))
    except (LabStateError, ValueError) as error:
        return {"endpoint": None, "reason": str(error)}
    return {"endpoint": f"[{host}]:{mapped}" if ":" in host else f"{host}:{mapped}"}


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "get":
        result = get(argv[1])
    elif len(argv) == 5 and argv[0] == "set":
        result = set_value(*argv[1:])
    elif len(argv) == 3 and argv[0] == "tls-endpoint":
        result = tls_endpoint(argv[1], argv[2])
    elif len(argv) == 2 and argv[0] == "tcp":
        result = tcp.query(state_file().read(), json.loads(argv[1]))
    else:
        sys.stderr.write(
            "usage: query get PATH | query set PATH NAME VALUE TYPE | query tcp FILTERS_JSON"
            " | query tls-endpoint ADDR PORT\n"
        )
        return 2
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
