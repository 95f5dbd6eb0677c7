"""Rotation: which bindings use OLD, the preserve-mode spec it writes, refusals, and the preflight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from generator.binding import KeyKind
from generator.importers.certfacts import SERVER_AUTH_OID, CertFacts
from generator.importers.rotate import (
    RotationError,
    plan_rotation,
    preflight_problems,
    preflight_rotation,
    rotation_report,
    rotation_spec,
)
from generator.model import Binding, BindingKey, Change, Connection, Target
from generator.spec import parse_spec

OLD, NEW, OTHER = "40db5bb1bf5659a155258d1d007c530fcb8996c2", "a" * 40, "b" * 40
SPEC = f"""
version: 1
change: {{id: CHG1, title: current state}}
connection: {{port: 5986, username: 'CONTOSO\\svc'}}
defaults: {{certstorename: My}}
targets:
  - host: web01.contoso.local
    connection: {{auth: kerberos}}
    bindings:
      - {{ipport: "0.0.0.0:443", certhash: {OLD.upper()}, appid: "{{4dc3e181-e14b-4a21-b022-59fc669b0914}}",
          verifyclientcertrevocation: disable, mode: exact}}
      - {{hostnameport: "api.contoso.com:443", certhash: {OLD}, certstorename: WebHosting}}
      - {{ipport: "0.0.0.0:8443", certhash: {OTHER}}}
      - {{ipport: "0.0.0.0:9443", verifyclientcertrevocation: disable}}
  - host: web02.contoso.local
    bindings:
      - {{ipport: "0.0.0.0:443", certhash: {OTHER}}}
"""


def test_plan_finds_bindings_using_old() -> None:
    spec = parse_spec(SPEC.encode(), "current.yaml")
    plan = plan_rotation(spec.targets, OLD.upper(), " ".join(NEW[i : i + 2] for i in range(0, 40, 2)))
    assert plan.new == NEW
    assert [str(i) for i in plan.changes] == [
        "web01.contoso.local ipport=0.0.0.0:443",
        "web01.contoso.local hostnameport=api.contoso.com:443",
    ]
    assert [str(i) for i in plan.others] == [
        "web01.contoso.local ipport=0.0.0.0:8443",
        "web02.contoso.local ipport=0.0.0.0:443",
    ]
    assert [str(i) for i in plan.unknown] == ["web01.contoso.local ipport=0.0.0.0:9443"]
    report = rotation_report(plan)
    assert report[0] == f"change web01.contoso.local ipport=0.0.0.0:443: certhash {OLD} -> {NEW}"
    assert report[-1].startswith("check  web01.contoso.local ipport=0.0.0.0:9443")


def test_rotation_spec_is_preserve_mode_and_loads() -> None:
    spec = parse_spec(SPEC.encode(), "current.yaml")
    text = rotation_spec(spec.targets, plan_rotation(spec.targets, OLD, NEW), "current.yaml")
    rotated = parse_spec(text.encode(), "rotated.yaml")
    (target,) = rotated.targets
    assert target.host == "web01.contoso.local"
    assert target.connection.auth == "kerberos" and target.connection.username == "CONTOSO\\svc"
    got = {str(b.key): (b.mode, dict(b.settings)) for b in target.bindings}
    assert got == {
        "ipport=0.0.0.0:443": ("preserve", {"certhash": NEW}),
        "hostnameport=api.contoso.com:443": ("preserve", {"certhash": NEW, "certstorename": "WebHosting"}),
    }
    assert rotated.id == f"rotate-{OLD[:8]}-{NEW[:8]}"
    assert text == rotation_spec(spec.targets, plan_rotation(spec.targets, OLD, NEW), "current.yaml")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (OLD, OLD.upper(), "the same certificate"),
        (OTHER[:39], NEW, "--from: 'bbb.*' is not a SHA-1 thumbprint"),
        (OLD, "\u200e" + NEW, "--to: contains invisible or non-ASCII character.*U\\+200E"),
        (OLD, "g" * 40, "--to: 'g{40}' is not a SHA-1 thumbprint"),
        ("c" * 40, NEW, "no binding uses this certificate; 1 binding\\(s\\) name no certhash"),
    ],
)
def test_refusals(old: str, new: str, message: str) -> None:
    spec = parse_spec(SPEC.encode(), "current.yaml")
    with pytest.raises(RotationError, match=message) as caught:
        plan_rotation(spec.targets, old, new)
    assert caught.value.exit_code == 2


def test_hostname_binding_store_comes_from_defaults_or_is_refused() -> None:
    spec = parse_spec(SPEC.replace(", certstorename: WebHosting", "").encode(), "c")
    assert 'certstorename: "My"' in rotation_spec(spec.targets, plan_rotation(spec.targets, OLD, NEW), "c")
    sni = Binding(BindingKey(KeyKind.HOSTNAMEPORT, "a.com:443"), {"certhash": OLD})
    bare = Change("C", "t", (Target("h", Connection(), (sni,)),))
    with pytest.raises(RotationError, match=r"c\.yaml: h hostnameport=a\.com:443: hostname bindings need"):
        rotation_spec(bare.targets, plan_rotation(bare.targets, OLD, NEW), "c.yaml")


NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def facts(**changes: object) -> CertFacts:
    base: dict[str, object] = {
        "thumbprint": NEW,
        "store": "My",
        "subject": "CN=api.contoso.com",
        "not_before": NOW - timedelta(days=1),
        "not_after": NOW + timedelta(days=90),
        "has_private_key": True,
        "enhanced_key_usages": (SERVER_AUTH_OID,),
    }
    return CertFacts(**{**base, **changes})  # type: ignore[arg-type]


def test_preflight_accepts_a_good_certificate() -> None:
    assert preflight_problems(facts(), "MY", NOW) == []
    assert preflight_problems(facts(enhanced_key_usages=()), "My", NOW) == []  # no EKU: every usage


@pytest.mark.parametrize(
    ("cert", "store", "problem"),
    [
        (None, "My", "not found in LocalMachine\\My"),
        (facts(store="WebHosting"), "My", "is in LocalMachine\\WebHosting"),
        (facts(has_private_key=False), "My", "no private key"),
        (facts(not_before=NOW + timedelta(hours=2)), "My", "not valid before 2026-11-27 14:00"),
        (facts(enhanced_key_usages=("1.3.6.1.5.5.7.3.2",)), "My", "does not allow server authentication"),
        (facts(not_after=NOW + timedelta(days=13)), "My", "within --min-days 14 (13 day(s) left)"),
        (facts(not_after=NOW - timedelta(days=2)), "My", "expired on 2026-11-25"),
    ],
)
def test_preflight_problems(cert: CertFacts | None, store: str, problem: str) -> None:
    problems = preflight_problems(cert, store, NOW)
    assert len(problems) == 1 and problem in problems[0]


def test_preflight_min_days_is_a_parameter() -> None:
    cert = facts(not_after=NOW + timedelta(days=20))
    assert preflight_problems(cert, "My", NOW, min_days=14) == []
    assert preflight_problems(cert, "My", NOW, min_days=30) != []


def test_preflight_rotation_checks_new_in_each_bindings_store() -> None:
    spec = parse_spec(SPEC.encode(), "current.yaml")
    plan = plan_rotation(spec.targets, OLD, NEW)
    calls: list[tuple[str, str, str]] = []

    def lookup(host: str, store: str, thumb: str) -> CertFacts | None:
        calls.append((host, store, thumb))
        return facts(store=store) if store == "My" else None

    problems = preflight_rotation(plan, lookup, NOW)
    assert calls == [("web01.contoso.local", "My", NEW), ("web01.contoso.local", "WebHosting", NEW)]
    assert problems == {
        "web01.contoso.local hostnameport=api.contoso.com:443": [
            "certificate not found in LocalMachine\\WebHosting"
        ]
    }
