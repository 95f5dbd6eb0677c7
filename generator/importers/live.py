"""`sslbind import --host`: read a live host's bindings over PowerShell Remoting, read-only.

capture.ps1 sends the raw registry values back; decoding is the same code as for a saved
`reg query` (reg_text.parse_registry_values), so a live import and an offline one cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from generator.binding import REGISTRY_SUBKEY
from generator.errors import EXIT_FAILED, UserError
from generator.importers import served as served_tls
from generator.importers.certfacts import CertFacts
from generator.importers.reg_text import RegData, parse_registry_values
from generator.importers.result import ImportResult
from generator.importers.rotate import (
    RotationError,
    RotationPlan,
    plan_rotation,
    preflight_rotation,
    stores_to_check,
)
from generator.importers.warnings import BindingWarning
from generator.model import Binding, Connection, Target
from generator.remote.connection import Credentials, Endpoint, Overrides, resolve
from generator.remote.runner import ConnectionFailure, HostSession

CAPTURE_SCRIPT = Path(__file__).with_name("capture.ps1").read_text(encoding="ascii")
CERTS_SCRIPT = Path(__file__).with_name("certs.ps1").read_text(encoding="ascii")
REGISTRY_PATH = r"HKLM\SYSTEM\CurrentControlSet\Services\HTTP\Parameters"
_SUBKEYS = set(REGISTRY_SUBKEY.values())


class CaptureError(UserError):
    """The host could not be read (unreachable, refused, or the capture script failed)."""

    exit_code = EXIT_FAILED


def endpoint_for(host: str, overrides: Overrides) -> Endpoint:
    """The host's endpoint: contract defaults (https, 5986, negotiate) with the command's overrides."""
    return resolve(host, Connection(), overrides)


class LiveHost:
    """One read-only session on a host: its bindings, then facts about a certificate, one connection."""

    def __init__(self, endpoint: Endpoint, credentials: Credentials, timeout: float) -> None:
        self.endpoint, self.timeout = endpoint, timeout
        self._session = HostSession(endpoint, credentials.for_endpoint(endpoint))

    def __enter__(self) -> LiveHost:
        try:
            self._session.open()
        except ConnectionFailure as error:
            raise CaptureError(str(error)) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.close()

    def run_json(
        self, script: str | tuple[str, ...], parameters: Mapping[str, Any], what: str
    ) -> dict[str, Any]:
        """Run `script` as one pipeline; its one JSON object, or CaptureError (exit 1) saying why not."""
        try:
            result = self._session.run(script, parameters, self.timeout)
        except ConnectionFailure as error:
            raise CaptureError(str(error)) from None
        document = result.json_object()
        if not result.succeeded or document is None:
            detail = "; ".join(result.errors) or f"state {result.state}, no JSON result"
            raise CaptureError(f"host {self.endpoint.host}: {what} failed: {detail}")
        return document

    def bindings(self) -> ImportResult:
        """Every SSL binding, decoded as in the offline path: unknown values refused, extra bits reported."""
        document = self.run_json(CAPTURE_SCRIPT, {}, "binding capture")
        host = self.endpoint.host
        return parse_registry_values(keys_from_capture(document, host), host, "live registry")

    def certificate(self, thumbprint: str, stores: Sequence[str]) -> dict[str, CertFacts | None]:
        """The certificate's facts per store (keyed by lowercase store name; None: not there)."""
        document = self.run_json(
            CERTS_SCRIPT, {"Thumbprint": thumbprint, "Stores": list(stores)}, "certificate check"
        )
        return {
            str(e["store"]).lower(): facts_from_capture(e, thumbprint) for e in document.get("stores") or []
        }

    def served(self, bindings: Sequence[Binding]) -> tuple[served_tls.Served, ...]:
        """Per binding, which certificate a TLS handshake from the host receives (served.py); a
        pipeline that cannot run makes every binding 'not checked' with the reason, never a failure."""
        if not bindings:
            return ()
        parameters = {"Bindings": served_tls.request(bindings)}
        try:
            document = self.run_json(served_tls.pipeline(), parameters, "TLS handshake")
            return served_tls.decode(document)
        except (CaptureError, ValueError) as error:
            return served_tls.unchecked(bindings, f"the handshake pipeline failed: {error}")


def capture(endpoint: Endpoint, credentials: Credentials, timeout: float) -> ImportResult:
    """Every SSL binding on the host (one session)."""
    with LiveHost(endpoint, credentials, timeout) as live:
        return live.bindings()


def live_import(
    endpoint: Endpoint, credentials: Credentials, timeout: float
) -> tuple[ImportResult, dict[str, CertFacts], tuple[served_tls.Served, ...]]:
    """Every SSL binding on the host, the facts of each bound certificate (for expiry warnings) and
    which certificate a TLS handshake from the host receives per binding."""
    with LiveHost(endpoint, credentials, timeout) as live:
        result = live.bindings()
        stores: dict[str, set[str]] = {}
        for binding in result.bindings:
            thumb = binding.settings.get("certhash")
            if isinstance(thumb, str):
                stores.setdefault(thumb, set()).add(str(binding.settings.get("certstorename", "MY")))
        certs: dict[str, CertFacts] = {}
        for thumb, names in sorted(stores.items()):
            found = [f for f in live.certificate(thumb, sorted(names, key=str.lower)).values() if f]
            if found:
                certs[thumb] = found[0]
        served = live.served(result.bindings)
    return result, certs, served


def facts_from_capture(entry: Mapping[str, Any], thumbprint: str) -> CertFacts | None:
    if not entry.get("found"):
        return None
    return CertFacts(
        thumbprint=thumbprint.lower(),
        store=str(entry["store"]),
        subject=str(entry.get("subject", "")),
        not_before=datetime.fromisoformat(str(entry["not_before"])),
        not_after=datetime.fromisoformat(str(entry["not_after"])),
        has_private_key=bool(entry.get("has_private_key")),
        enhanced_key_usages=tuple(str(oid) for oid in entry.get("ekus") or ()),
    )


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


def live_rotation(
    endpoint: Endpoint, credentials: Credentials, timeout: float, old: str, new: str, min_days: int
) -> tuple[Target, RotationPlan, list[BindingWarning]]:
    """Read the host, find the bindings using OLD and check NEW in each of their stores (preflight).

    Refuses (exit 2) when NEW is missing from a store, lacks a private key, is not valid yet or any
    more, does not allow server authentication, or expires within `min_days`. Also returns the
    import warnings of the bindings that change (an extra bit there makes the apply refuse).
    """
    with LiveHost(endpoint, credentials, timeout) as live:
        result = live.bindings()
        target = Target(endpoint.host, endpoint.connection, result.bindings)
        plan = plan_rotation([target], old, new)
        facts = live.certificate(plan.new, stores_to_check(plan))
    now = datetime.now(UTC)
    problems = preflight_rotation(plan, lambda _host, store, _thumb: facts.get(store.lower()), now, min_days)
    if problems:
        listed = "; ".join(f"{binding}: {', '.join(found)}" for binding, found in problems.items())
        raise RotationError(f"--to {plan.new} cannot replace {plan.old}: {listed}; nothing written")
    changing = {str(item.binding.key) for item in plan.changes}
    return target, plan, [w for w in result.warnings if w.binding in changing]
