"""The data side of SimWindows.ps1: one call per cmdlet, answered through the lab's service.

    get PATH                 -> {"exists", "item", "children"}
    set PATH NAME VALUE TYPE -> {"ok"} or {"error", "category"}
    tcp FILTERS_JSON         -> {"rows", "errors"} (tcp.py)
    tls-endpoint ADDR PORT   -> {"endpoint": "127.0.0.1:3443" | null}

PATH is a registry path under HTTP\\Parameters or a `Cert:` path; SimWindows.ps1 decides which
paths it sends here and turns the JSON into the objects the cmdlets return on Windows.
FILTERS_JSON maps Get-NetTCPConnection's filter parameters to their values, e.g.
`{"LocalPort": [50443], "State": ["Listen"]}`.
"""

from __future__ import annotations

import json
from typing import Any

from generator.lab import faults
from generator.lab.simwin import certs, registry, tcp
from generator.lab.state import LabStateError, StateFile, binding_key


def get(store: StateFile, path: str) -> dict[str, Any]:
    state = store.read()
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


def set_value(
    store: StateFile, caller: faults.Caller, path: str, name: str, value: str, kind: str
) -> dict[str, Any]:
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
    if not faults.hang(fault, caller):
        return {"error": "stopped", "category": "OperationStopped"}  # nobody waits: the set never ran
    if fault is not None and fault.kill_pwsh and not fault.kill_after:
        faults.kill_pwsh(caller)
        return {"error": "killed", "category": "OperationStopped"}  # nobody is left to read it
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
        faults.drop_connection(caller)
    if fault is not None and fault.kill_pwsh and fault.kill_after:
        faults.kill_pwsh(caller)
    return {"ok": True}


def tls_endpoint(store: StateFile, address: str, port: str) -> dict[str, Any]:
    """Where the lab's TLS front serves `address:port` (front.py); null when no front serves it."""
    from generator.lab.tlsmap import lab_tls_endpoint

    try:
        host, mapped = lab_tls_endpoint(store, address, int(port))
    except (LabStateError, ValueError) as error:
        return {"endpoint": None, "reason": str(error)}
    return {"endpoint": f"[{host}]:{mapped}" if ":" in host else f"{host}:{mapped}"}


def answer(argv: list[str], store: StateFile, caller: faults.Caller) -> dict[str, Any]:
    """One call of SimWindows.ps1 (the service passes it on)."""
    if len(argv) == 2 and argv[0] == "get":
        return get(store, argv[1])
    if len(argv) == 5 and argv[0] == "set":
        return set_value(store, caller, *argv[1:])
    if len(argv) == 3 and argv[0] == "tls-endpoint":
        return tls_endpoint(store, argv[1], argv[2])
    if len(argv) == 2 and argv[0] == "tcp":
        return tcp.query(store.read(), json.loads(argv[1]))
    raise ValueError("usage: get PATH | set PATH NAME VALUE TYPE | tcp FILTERS_JSON | tls-endpoint ADDR PORT")
