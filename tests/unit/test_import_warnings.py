"""Warnings over a host's bindings: each fires on its case and stays quiet otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from generator.binding import KeyKind
from generator.importers.certfacts import CertFacts
from generator.importers.warnings import (
    IIS_APPID,
    binding_warnings,
    expiry,
    iis_appid_missing,
    shadowing,
    unusual_store,
)
from generator.model import Binding, BindingKey

H1, H2 = "a" * 40, "b" * 40
NOW = datetime(2026, 11, 27, tzinfo=UTC)


def b(kind: KeyKind, key: str, **settings: str | int) -> Binding:
    base: dict[str, str | int] = {"appid": IIS_APPID, "certstorename": "My"}
    if kind in (KeyKind.IPPORT, KeyKind.HOSTNAMEPORT):
        base["certhash"] = H1
    return Binding(BindingKey(kind, key), {**base, **settings})


def cert(thumb: str, days: float) -> CertFacts:
    return CertFacts(thumb, "My", "CN=x", NOW - timedelta(days=300), NOW + timedelta(days=days), True)


def test_ipport_shadows_sni_and_ccs_on_its_port_only() -> None:
    bindings = [
        b(KeyKind.IPPORT, "0.0.0.0:443"),
        b(KeyKind.HOSTNAMEPORT, "a.com:443"),
        b(KeyKind.CCS, "443"),
        b(KeyKind.HOSTNAMEPORT, "b.com:8443"),
        b(KeyKind.IPPORT, "10.0.0.1:9443"),
    ]
    found = shadowing(bindings)
    assert [(w.binding, w.code) for w in found] == [("ipport=0.0.0.0:443", "shadows-sni")]
    assert "ccs=443, hostnameport=a.com:443" in found[0].message
    assert shadowing([b(KeyKind.HOSTNAMEPORT, "a.com:443"), b(KeyKind.IPPORT, "0.0.0.0:444")]) == []


def test_expiry_warns_near_and_past_expiry() -> None:
    bindings = [b(KeyKind.IPPORT, "0.0.0.0:443"), b(KeyKind.IPPORT, "0.0.0.0:444", certhash=H2)]
    assert expiry(bindings, {H1: cert(H1, 60), H2: cert(H2, 400)}, NOW) == []
    near = expiry(bindings, {H1: cert(H1, 10.5)}, NOW)
    assert [w.code for w in near] == ["expires"] and "in 10 day(s)" in near[0].message
    past = expiry(bindings, {H2: cert(H2, -1)}, NOW)
    assert past[0].binding == "ipport=0.0.0.0:444" and "expired on 2026-11-26" in past[0].message
    assert expiry(bindings, {}, NOW) == []


def test_unusual_store() -> None:
    assert unusual_store([b(KeyKind.IPPORT, "0.0.0.0:443", certstorename="WEBHOSTING")]) == []
    assert unusual_store([b(KeyKind.IPPORT, "0.0.0.0:443", certstorename="MY")]) == []
    found = unusual_store([b(KeyKind.IPPORT, "0.0.0.0:443", certstorename="Root")])
    assert [w.code for w in found] == ["unusual-store"] and "'Root'" in found[0].message


def test_iis_appid_missing_only_on_ports_iis_uses() -> None:
    other = "{11111111-2222-3333-4444-555555555555}"
    bindings = [
        b(KeyKind.HOSTNAMEPORT, "a.com:443"),
        b(KeyKind.IPPORT, "10.0.0.1:443", appid=other),
        b(KeyKind.IPPORT, "10.0.0.1:8443", appid=other),
    ]
    found = iis_appid_missing(bindings)
    assert [w.binding for w in found] == ["ipport=10.0.0.1:443"]
    upper = [b(KeyKind.HOSTNAMEPORT, "a.com:443"), b(KeyKind.IPPORT, "10.0.0.2:443", appid=IIS_APPID.upper())]
    assert iis_appid_missing(upper) == []


def test_binding_warnings_combines_and_sorts() -> None:
    bindings = [b(KeyKind.IPPORT, "0.0.0.0:443", certstorename="CA"), b(KeyKind.HOSTNAMEPORT, "a.com:443")]
    codes = [w.code for w in binding_warnings(bindings)]
    assert codes == ["shadows-sni", "unusual-store"]
    with_certs = binding_warnings(bindings, {H1: cert(H1, 3)}, NOW)
    assert sorted(w.code for w in with_certs) == ["expires", "expires", "shadows-sni", "unusual-store"]
