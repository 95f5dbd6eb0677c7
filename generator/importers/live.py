"""`sslbind import --host`: read a live host's bindings over PowerShell Remoting, read-only.

capture.ps1 sends the raw registry values back; decoding is the same code as for a saved
`reg query` (reg_text.parse_registry_values), so a live import and an offline one cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from generator.binding import REGISTRY_SUBKEY
from generator.errors import EXIT_FAILED, UserError
from generator.importers.reg_text import RegData, parse_registry_values
from generator.importers.result import ImportResult
from generator.model import Connection
from generator.remote.connection import Credentials, Endpoint, Overrides, resolve
from generator.remote.runner import ConnectionFailure, HostSession

CAPTURE_SCRIPT = (Path(__file__).with_name("capture.ps1")).read_text(encoding="ascii")
REGISTRY_PATH = r"HKLM\SYSTEM\CurrentControlSet\Services\HTTP\Parameters"
_SUBKEYS = set(REGISTRY_SUBKEY.values())


class CaptureError(UserError):
    """The host could not be read (unreachable, refused, or the capture script failed)."""

    exit_code = EXIT_FAILED


def endpoint_for(host: str, overrides: Overrides) -> Endpoint:
    """The host's endpoint: contract defaults (https, 5986, negotiate) with the command's overrides."""
    return resolve(host, Connection(), overrides)


def capture(endpoint: Endpoint, credentials: Credentials, timeout: float) -> ImportResult:
    """Every SSL binding on the host, decoded; refuses unknown values or bits like the offline path."""
    password = credentials.for_endpoint(endpoint)
    try:
        with HostSession(endpoint, password) as session:
            result = session.run(CAPTURE_SCRIPT, {}, timeout)
    except ConnectionFailure as error:
        raise CaptureError(str(error)) from None
    document = result.json_object()
    if not result.succeeded or document is None:
        detail = "; ".join(result.errors) or f"state {result.state}, no JSON result"
        raise CaptureError(f"host {endpoint.host}: capture failed: {detail}")
    return parse_registry_values(keys_from_capture(document, endpoint.host), endpoint.host, "live registry")


def keys_from_capture(document: Mapping[str, Any], host: str) -> dict[str, dict[str, RegData]]:
    """capture.ps1's JSON as registry key path -> typed values (bytes, int, str)."""
    keys: dict[str, dict[str, RegData]] = {}
    for entry in document.get("keys") or []:
        subkey, child = str(entry["subkey"]), str(entry["child"])
        if subkey not in _SUBKEYS:
            raise CaptureError(f"host {host}: capture returned an unexpected key {subkey!r}")
        path = f"{REGISTRY_PATH}\\{subkey}\\{child}"
        keys[path] = {str(v["name"]): _typed(v, f"{host}: {path}") for v in entry.get("values") or []}
    return keys


def _typed(value: Mapping[str, Any], where: str) -> RegData:
    kind, data = value.get("type"), value.get("data")
    if kind == "binary" and isinstance(data, list) and all(isinstance(b, int) and 0 <= b < 256 for b in data):
        return bytes(data)
    if kind == "dword" and isinstance(data, int) and not isinstance(data, bool):
        return data & 0xFFFFFFFF  # Get-ItemProperty gives Int32: 0x80000000 and above come back negative
    if kind == "string" and isinstance(data, str):
        return data
    raise CaptureError(
        f"{where}: value {value.get('name')!r} has a registry type sslbind cannot read ({kind})"
    )
