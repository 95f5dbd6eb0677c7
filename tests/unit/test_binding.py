"""Every DefaultFlags and DefaultSslCertCheckMode bit, both ways, and the netsh argument list."""

from __future__ import annotations

import pytest

from generator.binding import (
    DISABLE,
    ENABLE,
    SETTINGS,
    BitDecodeError,
    KeyKind,
    decode_check_mode,
    decode_flags,
    diff_settings,
    encode_check_mode,
    encode_flags,
    netsh_add_arguments,
    powershell_command_line,
)

FLAG_BITS = {
    "dsmapperusage": 0x1,
    "clientcertnegotiation": 0x2,
    "reject": 0x8,
    "disablehttp2": 0x10,
    "disablequic": 0x20,
    "disabletls13": 0x40,
    "disableocspstapling": 0x80,
    "enabletokenbinding": 0x100,
    "logextendedevents": 0x200,
    "disablelegacytls": 0x400,
    "enablesessionticket": 0x800,
    "disabletls12": 0x1000,
    "disablesessionid": 0x4000,
}


@pytest.mark.parametrize(("name", "bit"), sorted(FLAG_BITS.items()))
def test_each_flag_bit_both_ways(name: str, bit: int) -> None:
    assert encode_flags({name: ENABLE}) == bit
    decoded = decode_flags(bit)
    assert decoded[name] == ENABLE
    assert [n for n, v in decoded.items() if v == ENABLE] == [name]


def test_all_flags_round_trip() -> None:
    everything = sum(FLAG_BITS.values())
    assert encode_flags(decode_flags(everything)) == everything
    assert encode_flags({}) == 0


@pytest.mark.parametrize("bit", [0x4, 0x2000, 0x8000, 0x10000])
def test_unknown_flag_bits_refused(bit: int) -> None:
    with pytest.raises(BitDecodeError, match="unknown bits"):
        decode_flags(bit | 0x1)


@pytest.mark.parametrize(
    ("settings", "mode"),
    [
        ({}, 0),
        ({"verifyclientcertrevocation": DISABLE}, 0x1),
        ({"verifyrevocationwithcachedclientcertonly": ENABLE}, 0x2),
        ({"revocationfreshnesstime": 600}, 0x4),
        ({"usagecheck": DISABLE}, 0x10000),
        ({"usagecheck": DISABLE, "verifyclientcertrevocation": DISABLE}, 0x10001),
    ],
)
def test_check_mode_both_ways(settings: dict[str, str | int], mode: int) -> None:
    assert encode_check_mode(settings) == mode
    decoded = decode_check_mode(mode)
    for name, value in settings.items():
        if name != "revocationfreshnesstime":
            assert decoded[name] == value


def test_check_mode_defaults_decode_to_netsh_defaults() -> None:
    assert decode_check_mode(0) == {
        "verifyclientcertrevocation": ENABLE,
        "verifyrevocationwithcachedclientcertonly": DISABLE,
        "usagecheck": ENABLE,
    }


@pytest.mark.parametrize("mode", [0x8, 0x100, 0x20000, -1])
def test_unknown_check_mode_bits_refused(mode: int) -> None:
    with pytest.raises(BitDecodeError):
        decode_check_mode(mode)


def test_motivating_command_line() -> None:
    args = netsh_add_arguments(
        KeyKind.IPPORT,
        "0.0.0.0:443",
        {
            "certhash": "40db5bb1bf5659a155258d1d007c530fcb8996c2",
            "appid": "{4dc3e181-e14b-4a21-b022-59fc669b0914}",
            "certstorename": "My",
            "verifyclientcertrevocation": DISABLE,
            "revocationfreshnesstime": 0,
            "dsmapperusage": DISABLE,
        },
    )
    assert powershell_command_line(args) == (
        "netsh http add sslcert ipport=0.0.0.0:443 certhash=40db5bb1bf5659a155258d1d007c530fcb8996c2 "
        "appid='{4dc3e181-e14b-4a21-b022-59fc669b0914}' certstorename=My verifyclientcertrevocation=disable"
    )


@pytest.mark.parametrize(
    ("kind", "key", "store", "named"),
    [
        (KeyKind.IPPORT, "0.0.0.0:443", "MY", True),
        (KeyKind.HOSTNAMEPORT, "a.example:443", "MY", True),
        (KeyKind.CCS, "443", "MY", False),
        (KeyKind.SCOPEDCCS, "a.example:443", "MY", False),
        (KeyKind.CCS, "443", "WebHosting", True),
        (KeyKind.SCOPEDCCS, "a.example:443", "My", True),
    ],
)
def test_store_named_for_ccs_only_when_not_the_default(
    kind: KeyKind, key: str, store: str, named: bool
) -> None:
    args = netsh_add_arguments(
        kind, key, {"appid": "{4dc3e181-e14b-4a21-b022-59fc669b0914}", "certstorename": store}
    )
    assert (f"certstorename={store}" in args) is named


def test_diff_is_case_blind_for_store_names_only() -> None:
    assert diff_settings({"certstorename": "MY"}, {"certstorename": "My"}) == {}
    assert diff_settings({"reject": DISABLE}, {"reject": ENABLE}) == {"reject": (DISABLE, ENABLE)}


def test_table_has_every_contract_parameter() -> None:
    assert len(SETTINGS) == 23
