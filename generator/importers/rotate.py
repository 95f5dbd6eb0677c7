"""Certificate rotation: swap OLD for NEW on every binding that uses OLD, keeping every other setting.

Which bindings use OLD, and the preflight of NEW, serve both forms. `rotate --spec` edits the user's
own spec (generator.importers.rotate_spec). `rotate --host` reads the host, and the spec it writes
(`rotation_spec`) is in **preserve** mode with only the certhash (plus certstorename on hostname
bindings, which netsh requires): every other setting is read from the host at apply time, right
before the delete, and re-added as it is then, with unknown bits refusing the change. An exact-mode
spec would instead re-assert the values captured when the spec was written, so a setting changed
since then, or one the capture could not see, would be reset: the very loss rotation must prevent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from generator.binding import KeyKind
from generator.errors import UserError
from generator.importers.certfacts import CertFacts
from generator.importers.spec_writer import (
    NO_NAMES,
    ChangeNames,
    TargetDoc,
    change_id_for,
    render_spec,
    spec_connection,
)
from generator.model import Binding, Target

MIN_DAYS = 14
_HASH = re.compile(r"[0-9a-f]{40}")


class RotationError(UserError):
    """A rotation that cannot be written (bad thumbprint, nothing to rotate, missing store)."""


def thumbprint(text: str, option: str) -> str:
    """A thumbprint as 40 lowercase hex digits; spaces (as the certificate dialog shows them) dropped."""
    cleaned = text.replace(" ", "").lower()
    if _HASH.fullmatch(cleaned):
        return cleaned
    hidden = [f"U+{ord(c):04X}" for c in cleaned if not c.isprintable() or ord(c) > 127]
    if hidden:
        raise RotationError(
            f"{option}: contains invisible or non-ASCII character(s) {', '.join(hidden)} (often copied "
            "from the certificate dialog); type the thumbprint again"
        )
    raise RotationError(f"{option}: {text!r} is not a SHA-1 thumbprint (40 hex digits)")


@dataclass(frozen=True)
class HostBinding:
    host: str
    binding: Binding

    def __str__(self) -> str:
        return f"{self.host} {self.binding.key}"


@dataclass(frozen=True)
class RotationPlan:
    old: str
    new: str
    changes: tuple[HostBinding, ...]  # use OLD: certhash becomes NEW
    others: tuple[HostBinding, ...]  # name another certificate: untouched
    unknown: tuple[HostBinding, ...]  # the spec names no certhash: cannot tell offline


def plan_rotation(targets: Sequence[Target], old: str, new: str) -> RotationPlan:
    """Which bindings use OLD. Refuses OLD == NEW and an OLD no binding uses."""
    old, new = thumbprint(old, "--from"), thumbprint(new, "--to")
    if old == new:
        raise RotationError("--from and --to are the same certificate; nothing to rotate")
    changes: list[HostBinding] = []
    others: list[HostBinding] = []
    unknown: list[HostBinding] = []
    for target in targets:
        for binding in target.bindings:
            item = HostBinding(target.host, binding)
            current = binding.settings.get("certhash")
            if current is None:
                (others if binding.key.kind in (KeyKind.CCS, KeyKind.SCOPEDCCS) else unknown).append(item)
            elif str(current).lower() == old:
                changes.append(item)
            else:
                others.append(item)
    if not changes:
        hint = f"; {len(unknown)} binding(s) name no certhash, so check them live (--host)" if unknown else ""
        raise RotationError(f"--from {old}: no binding uses this certificate{hint}")
    return RotationPlan(old, new, tuple(changes), tuple(others), tuple(unknown))


def _rotated(item: HostBinding, new: str, origin: str) -> Binding:
    settings: dict[str, str | int] = {"certhash": new}
    if item.binding.key.kind is KeyKind.HOSTNAMEPORT:
        store = item.binding.settings.get("certstorename")
        if store is None:
            raise RotationError(
                f"{origin}: {item}: hostname bindings need certstorename and the spec does not name it; "
                "add it to that binding"
            )
        settings["certstorename"] = store
    return Binding(item.binding.key, settings, mode="preserve")


def rotation_spec(
    targets: Sequence[Target], plan: RotationPlan, origin: str, names: ChangeNames = NO_NAMES
) -> str:
    """The preserve-mode spec that swaps the certificate on exactly the bindings in `plan.changes`.

    `origin` says where the bindings were read (a spec file and its change id, or a live host);
    `names` replaces the written change id, title and description.
    """
    by_host = {t.host: t for t in targets}
    docs = []
    left_out: list[str] = []
    for host in dict.fromkeys(item.host for item in plan.changes):  # hosts in spec order
        bindings = tuple(_rotated(i, plan.new, origin) for i in plan.changes if i.host == host)
        connection, note = spec_connection(host, by_host[host].connection)
        docs.append(TargetDoc(host, bindings, connection))
        left_out += note
    header = [
        f"Written by sslbind rotate from {origin}.",
        f"Certificate {plan.old} -> {plan.new} on {len(plan.changes)} binding(s).",
        "mode: preserve: every other setting is kept as it is on the host at apply time.",
        *left_out,
    ]
    header += [f"  {line}" for line in rotation_report(plan)]
    title = f"Rotate certificate {plan.old[:8]} to {plan.new[:8]} on {len(plan.changes)} binding(s)"
    change_id = names.id or change_id_for("rotate", f"{plan.old[:8]}-{plan.new[:8]}")
    return render_spec(change_id, names.title or title, docs, header, names.description or "")


def rotation_report(plan: RotationPlan) -> list[str]:
    lines = [f"change {item}: certhash {plan.old} -> {plan.new}" for item in plan.changes]
    lines += [f"keep   {item}: uses another certificate" for item in plan.others]
    lines += [f"check  {item}: the spec names no certhash; not rotated offline" for item in plan.unknown]
    return lines


def preflight_problems(
    cert: CertFacts | None, store: str, now: datetime, min_days: int = MIN_DAYS
) -> list[str]:
    """Why NEW must not be bound from `store` (empty when it may): found there, private key, valid,
    allows server authentication, and not expiring within `min_days`."""
    if cert is None:
        return [f"certificate not found in LocalMachine\\{store}"]
    problems = []
    if cert.store.lower() != store.lower():
        problems.append(f"certificate is in LocalMachine\\{cert.store}, the binding uses {store}")
    if not cert.has_private_key:
        problems.append("certificate has no private key (netsh would fail with 1312)")
    if now < cert.not_before:
        problems.append(f"certificate is not valid before {cert.not_before:%Y-%m-%d %H:%M} UTC")
    if not cert.server_auth:
        problems.append("certificate's enhanced key usage does not allow server authentication")
    days_left = (cert.not_after - now).total_seconds() / 86400
    if days_left < 0:
        problems.append(f"certificate expired on {cert.not_after:%Y-%m-%d}")
    elif days_left < min_days:
        problems.append(
            f"certificate expires on {cert.not_after:%Y-%m-%d}, within --min-days {min_days} "
            f"({int(days_left)} day(s) left)"
        )
    return problems


CertLookup = Callable[[str, str, str], CertFacts | None]  # (host, store, thumbprint) -> facts


def preflight_rotation(
    plan: RotationPlan, lookup: CertLookup, now: datetime, min_days: int = MIN_DAYS
) -> dict[str, list[str]]:
    """Problems per changing binding (`host key` -> problems), NEW looked up in that binding's store.

    The live layer supplies `lookup` (one certificate query per host and store); an empty result
    means every binding may take NEW.
    """
    problems: dict[str, list[str]] = {}
    for item in plan.changes:
        store = str(item.binding.settings.get("certstorename", "MY"))
        found = preflight_problems(lookup(item.host, store, plan.new), store, now, min_days)
        if found:
            problems[str(item)] = found
    return problems


def stores_to_check(plan: RotationPlan) -> list[str]:
    """The stores NEW must be in: each changing binding's own (MY when it names none), once each."""
    stores: dict[str, str] = {}
    for item in plan.changes:
        store = str(item.binding.settings.get("certstorename", "MY"))
        stores.setdefault(store.lower(), store)
    return sorted(stores.values(), key=str.lower)
