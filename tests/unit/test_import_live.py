"""The live capture's JSON -> typed registry values -> bindings, without a host."""

from __future__ import annotations

from typing import Any

import pytest

from generator.importers.live import CaptureError, facts_from_capture, keys_from_capture
from generator.importers.reg_text import parse_registry_values

H1 = "40db5bb1bf5659a155258d1d007c530fcb8996c2"
IIS_LE = list(bytes.fromhex("81E1C34D4BE1214AB02259FC669B0914"))


def capture(
    values: list[dict[str, Any]], subkey: str = "SslBindingInfo", child: str = "0.0.0.0:443"
) -> dict[str, Any]:
    base = [
        {"name": "SslCertHash", "type": "binary", "data": list(bytes.fromhex(H1))},
        {"name": "AppId", "type": "binary", "data": IIS_LE},
    ]
    return {"keys": [{"subkey": subkey, "child": child, "values": base + values}]}


def test_capture_document_decodes_like_the_registry() -> None:
    document = capture([{"name": "DefaultSslCertCheckMode", "type": "dword", "data": 1},
                        {"name": "SslCertStoreName", "type": "string", "data": "My"}])  # fmt: skip
    result = parse_registry_values(keys_from_capture(document, "web01"), "web01")
    (binding,) = result.bindings
    assert str(binding.key) == "ipport=0.0.0.0:443"
    assert binding.settings["certhash"] == H1
    assert binding.settings["appid"] == "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
    assert binding.settings["verifyclientcertrevocation"] == "disable"


def test_negative_int32_dword_is_read_unsigned_and_its_extra_bit_reported() -> None:
    keys = keys_from_capture(capture([{"name": "DefaultFlags", "type": "dword", "data": -2147483648}]), "h")
    assert (
        keys["HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters\\SslBindingInfo\\0.0.0.0:443"][
            "DefaultFlags"
        ]
        == 0x80000000
    )
    result = parse_registry_values(keys, "h")
    assert [(e.field, e.bit, e.name) for e in result.extras] == [
        ("DefaultFlags", 0x80000000, "0x80000000 (unnamed)")
    ]
    assert [w.code for w in result.warnings] == ["extra-bit"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"name": "X", "type": "other", "data": "1 2"}, "value 'X' has a registry type sslbind cannot read"),
        ({"name": "AppId2", "type": "binary", "data": [300]}, "value 'AppId2' has a registry type"),
        ({"name": "F", "type": "dword", "data": True}, "value 'F' has a registry type"),
    ],
)
def test_unreadable_values_are_refused(value: dict[str, Any], message: str) -> None:
    with pytest.raises(CaptureError, match=message) as caught:
        keys_from_capture(capture([value]), "h")
    assert caught.value.exit_code == 1


def test_unexpected_subkey_is_refused() -> None:
    with pytest.raises(CaptureError, match="unexpected key 'UrlAclInfo'"):
        keys_from_capture(capture([], subkey="UrlAclInfo"), "h")


def test_certificate_facts() -> None:
    assert facts_from_capture({"store": "My", "found": False}, "A" * 40) is None
    facts = facts_from_capture(
        {"store": "My", "found": True, "subject": "CN=x", "has_private_key": True,
         "not_before": "2026-01-01T00:00:00Z", "not_after": "2027-01-01T00:00:00Z", "ekus": []},
        "A" * 40,
    )  # fmt: skip
    assert facts is not None and facts.thumbprint == "a" * 40 and facts.server_auth
    assert facts.not_after.year == 2027 and facts.not_after.tzinfo is not None
