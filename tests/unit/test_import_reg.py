"""The registry importer: reg query and .reg exports, bit decoding, refusals, and the netsh round trip."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from generator.importers.netsh_text import read_netsh
from generator.importers.reg_text import parse_reg, read_reg
from generator.importers.result import ImportInputError, ImportResult

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
ROOT = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\HTTP\Parameters"
H1_HEX = "40DB5BB1BF5659A155258D1D007C530FCB8996C2"
IIS_BYTES = "81E1C34D4BE1214AB02259FC669B0914"


def bindings(result: ImportResult) -> list[tuple[str, dict[str, object]]]:
    return sorted((str(b.key), dict(b.settings)) for b in result.bindings)


@pytest.mark.parametrize(
    ("reg", "netsh"),
    [("reg-query-2022.txt", "netsh-2022-en.txt"), ("reg-export-2016.reg", "netsh-2016-en.txt")],
)
def test_registry_and_netsh_of_one_host_give_the_same_bindings(reg: str, netsh: str) -> None:
    from_reg, from_netsh = read_reg(FIXTURES / reg), read_netsh(FIXTURES / netsh)
    assert bindings(from_reg) == bindings(from_netsh)
    assert len(from_reg.bindings) >= 2


def test_fixture_formats_and_ignored_keys() -> None:
    query = read_reg(FIXTURES / "reg-query-2022.txt")
    assert (query.format, query.encoding) == ("reg query", "utf-16")
    assert [str(r) for r in query.not_imported] == ["-: '2 key(s)': outside Ssl*BindingInfo: ignored"]
    export = read_reg(FIXTURES / "reg-export-2016.reg")
    assert (export.format, export.encoding) == (".reg export", "utf-16")
    sni = next(b for b in export.bindings if b.key.kind.value == "hostnameport")
    assert sni.key.value == "shop.contoso.com:443"  # from HostnamePort, not the opaque subkey name


def test_appid_bytes_are_guid_little_endian() -> None:
    guid = uuid.UUID("12345678-9abc-def0-1122-334455667788")
    text = query_text({"AppId": ("REG_BINARY", guid.bytes_le.hex().upper())})
    result = parse_reg(text.encode(), "q.txt")
    assert result.bindings[0].settings["appid"] == "{12345678-9abc-def0-1122-334455667788}"


def query_text(values: dict[str, tuple[str, str]], key: str = r"SslBindingInfo\0.0.0.0:443") -> str:
    base = {"SslCertHash": ("REG_BINARY", H1_HEX), "AppId": ("REG_BINARY", IIS_BYTES)}
    lines = ["", f"{ROOT}\\{key}"]
    for name, (kind, data) in {**base, **values}.items():
        if kind:
            lines.append(f"    {name}    {kind}    {data}".rstrip())
    return "\r\n".join([*lines, "", ""])


def test_defaults_when_values_are_absent() -> None:
    settings = parse_reg(query_text({}).encode(), "q.txt").bindings[0].settings
    assert settings["certstorename"] == "MY"
    assert settings["verifyclientcertrevocation"] == "enable"
    assert settings["usagecheck"] == "enable"
    assert settings["revocationfreshnesstime"] == 0
    assert "sslctlidentifier" not in settings


def test_value_name_with_spaces_splits_on_the_type_token() -> None:
    text = query_text({"My Odd Value": ("REG_SZ", "a  b")})
    with pytest.raises(ImportInputError, match="unknown registry value 'My Odd Value'"):
        parse_reg(text.encode(), "q.txt")
    with pytest.raises(ImportInputError, match="more than one REG_ type token"):
        parse_reg(query_text({"Odd    REG_SZ    x": ("REG_SZ", "y")}).encode(), "q.txt")


def test_other_keys_are_not_read_and_empty_default_is_skipped() -> None:
    other = (
        f"{ROOT}\\UrlAclInfo\r\n    http://+:80/a b/    REG_FUNNY    \r\n    x    REG_SZ    REG_SZ    y\r\n"
    )
    text = query_text({"(Default)": ("REG_SZ", "")}).replace("\r\n\r\n", "\r\n\r\n" + other, 1)
    result = parse_reg(text.encode(), "q.txt")
    assert len(result.bindings) == 1
    with pytest.raises(ImportInputError, match=r"unknown registry value '\(Default\)'"):
        parse_reg(query_text({"(Default)": ("REG_SZ", "set")}).encode(), "q.txt")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"SslFutureThing": ("REG_DWORD", "0x0")},
            r"ipport=0.0.0.0:443: unknown registry value 'SslFutureThing'",
        ),
        ({"DefaultFlags": ("REG_SZ", "1")}, "DefaultFlags is REG_SZ, expected REG_DWORD"),
        ({"SslCertHash": ("REG_BINARY", H1_HEX[:-2])}, "SslCertHash: 19 bytes, expected 20"),
        ({"SslCertHash": ("", "")}, "no SslCertHash value"),
        ({"AppId": ("", "")}, "no AppId value"),
        ({"AppId": ("REG_BINARY", "ZZ")}, "REG_BINARY data 'ZZ' is not hex"),
        ({"SslCertStoreName": ("REG_SZ", "My Store")}, "SslCertStoreName: 'My Store' does not match"),
        ({"HostnamePort": ("REG_SZ", "a.com:443")}, "HostnamePort under a ipport key"),
    ],
)
def test_unknown_or_malformed_values_are_refused(values: dict[str, tuple[str, str]], message: str) -> None:
    with pytest.raises(ImportInputError, match=message):
        parse_reg(query_text(values).encode(), "q.txt")


@pytest.mark.parametrize(
    ("field", "value", "bits", "named"),
    [
        (
            "DefaultFlags",
            "0x8002",
            [0x8000],
            "0x8000 ENABLE_CACHE_CLIENT_HELLO (netsh: Enable Caching Client Hello)",
        ),
        ("DefaultFlags", "0x2000", [0x2000], "0x2000 ENABLE_CLIENT_CORRELATION"),
        ("DefaultFlags", "0x4", [0x4], "0x4 NO_RAW_FILTER"),
        ("DefaultSslCertCheckMode", "0x20001", [0x20000], "0x20000 (unnamed)"),
    ],
)
def test_extra_bits_are_read_and_reported_per_binding(
    field: str, value: str, bits: list[int], named: str
) -> None:
    result = parse_reg(query_text({field: ("REG_DWORD", value)}).encode(), "q.txt")
    (binding,) = result.bindings
    known = int(value, 16) & ~sum(bits)
    if field == "DefaultFlags":
        assert binding.settings["clientcertnegotiation"] == ("enable" if known & 0x2 else "disable")
    else:
        assert binding.settings["verifyclientcertrevocation"] == ("disable" if known & 0x1 else "enable")
    assert [(e.binding, e.field, e.bit, e.name, e.on) for e in result.extras] == [
        ("ipport=0.0.0.0:443", field, bit, named, True) for bit in bits
    ]
    (warning,) = result.warnings
    assert warning.binding == "ipport=0.0.0.0:443" and warning.code == "extra-bit"
    assert warning.message == (
        f"line 5: {field} carries {named}: no netsh parameter can set it, so sslbind refuses a change "
        "that deletes and re-adds this binding"
    )


def test_several_extra_bits_each_get_a_warning() -> None:
    result = parse_reg(query_text({"DefaultFlags": ("REG_DWORD", "0xA004")}).encode(), "q.txt")
    assert [e.bit for e in result.extras] == [0x4, 0x2000, 0x8000]
    assert len(result.warnings) == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"DefaultSslCertCheckMode": ("REG_DWORD", "0x4")},
            "line 5: DefaultSslCertCheckMode bit 0x4 (freshness time in effect) is set but "
            "revocationfreshnesstime is 0",
        ),
        (
            {"DefaultSslRevocationFreshnessTime": ("REG_DWORD", "0xe10")},
            "revocationfreshnesstime is 3600 but DefaultSslCertCheckMode bit 0x4 is clear",
        ),
    ],
)
def test_freshness_bit_disagreeing_with_the_time_is_a_warning(
    values: dict[str, tuple[str, str]], message: str
) -> None:
    result = parse_reg(query_text(values).encode(), "q.txt")
    assert len(result.bindings) == 1 and result.extras == ()
    (warning,) = result.warnings
    assert (warning.binding, warning.code) == ("ipport=0.0.0.0:443", "freshness-bit")
    assert message in warning.message


def test_freshness_bit_with_a_time_is_no_warning() -> None:
    values = {
        "DefaultSslCertCheckMode": ("REG_DWORD", "0x4"),
        "DefaultSslRevocationFreshnessTime": ("REG_DWORD", "0xe10"),
    }
    result = parse_reg(query_text(values).encode(), "q.txt")
    assert result.bindings[0].settings["revocationfreshnesstime"] == 3600
    assert result.warnings == () and result.extras == ()


def test_reg_export_with_an_extra_bit_is_read() -> None:
    text = EXPORT.replace('"DefaultSslCtlIdentifier"="Ctl\\\\One"\n', "").replace(
        "dword:00000403", "dword:00008403"
    )
    result = parse_reg(text.encode("utf-16"), "x.reg")
    assert result.bindings[0].settings["dsmapperusage"] == "enable"
    (warning,) = result.warnings
    assert str(warning).startswith(
        "ipport=0.0.0.0:443: line 8: DefaultFlags carries 0x8000 ENABLE_CACHE_CLIENT_HELLO"
    )


def test_sni_needs_hostnameport_and_ccs_needs_no_hash() -> None:
    with pytest.raises(ImportInputError, match=r"hostnameport key '\{x\}' has no HostnamePort"):
        parse_reg(query_text({}, r"SslSniBindingInfo\{x}").encode(), "q.txt")
    ccs = query_text({"SslCertHash": ("", "")}, r"SslCcsBindingInfo\0.0.0.0:8443")
    result = parse_reg(ccs.encode("cp437"), "q.txt")
    assert str(result.bindings[0].key) == "ccs=8443" and "certhash" not in result.bindings[0].settings


def test_reg_exe_errors_and_empty_input_are_refused() -> None:
    with pytest.raises(ImportInputError, match=r"reg\.exe reported 'ERROR: The system was unable"):
        parse_reg(b"ERROR: The system was unable to find the specified registry key or value.\r\n", "q.txt")
    with pytest.raises(ImportInputError, match="no key under"):
        parse_reg(f"\r\n{ROOT}\r\n    X    REG_DWORD    0x1\r\n".encode(), "q.txt")


EXPORT = f"""Windows Registry Editor Version 5.00

[{ROOT}\\SslBindingInfo\\0.0.0.0:443]
"SslCertHash"=hex:40,db,5b,b1,bf,56,59,a1,55,25,8d,1d,00,7c,\\
  53,0f,cb,89,96,c2
"AppId"=hex:81,e1,c3,4d,4b,e1,21,4a,b0,22,59,fc,66,9b,09,14
"SslCertStoreName"="My"
"DefaultSslCtlIdentifier"="Ctl\\\\One"
"DefaultFlags"=dword:00000403
"""


def test_reg_export_continuations_escapes_and_dwords() -> None:
    text = EXPORT.replace('"DefaultSslCtlIdentifier"="Ctl\\\\One"\n', "")
    settings = parse_reg(text.encode("utf-16"), "x.reg").bindings[0].settings
    assert settings["certhash"] == H1_HEX.lower()
    assert (
        settings["dsmapperusage"]
        == settings["clientcertnegotiation"]
        == settings["disablelegacytls"]
        == "enable"
    )
    with pytest.raises(
        ImportInputError, match=r"x.reg:8: ipport=0.0.0.0:443: DefaultSslCtlIdentifier: 'Ctl\\\\One'"
    ):
        parse_reg(EXPORT.encode("utf-16"), "x.reg")  # the unescaped value has a backslash: not a CTL id


def test_reg_export_deletions_are_refused() -> None:
    with pytest.raises(ImportInputError, match="a deletion, not an export"):
        parse_reg(EXPORT.replace('"SslCertStoreName"="My"', '"SslCertStoreName"=-').encode(), "x.reg")
    with pytest.raises(ImportInputError, match="a deletion, not an export"):
        parse_reg(EXPORT.replace("[HKEY", "[-HKEY").encode(), "x.reg")


def test_typed_values_from_a_live_capture_decode_like_reg_query() -> None:
    from generator.importers.reg_text import parse_registry_values

    base = f"{ROOT}\\SslSniBindingInfo\\opaque"
    keys = {
        base: {
            "HostnamePort": "api.contoso.com:443",
            "SslCertHash": bytes.fromhex(H1_HEX),
            "AppId": bytes.fromhex(IIS_BYTES),
            "SslCertStoreName": "WebHosting",
            "DefaultFlags": 0x2,
        }
    }
    result = parse_registry_values(keys, "web01")
    (binding,) = result.bindings
    assert str(binding.key) == "hostnameport=api.contoso.com:443"
    assert binding.settings["clientcertnegotiation"] == "enable"
    keys[base]["DefaultFlags"] = 0x2002
    result = parse_registry_values(keys, "web01")
    assert result.bindings[0].settings["clientcertnegotiation"] == "enable"
    assert [str(w) for w in result.warnings] == [
        "hostnameport=api.contoso.com:443: DefaultFlags carries 0x2000 ENABLE_CLIENT_CORRELATION: no netsh "
        "parameter can set it, so sslbind refuses a change that deletes and re-adds this binding"
    ]


def test_duplicate_keys_and_values_are_refused() -> None:
    text = query_text({})
    with pytest.raises(
        ImportInputError, match=r"q.txt:\d+: ipport=0.0.0.0:443: the same binding appears twice"
    ):
        parse_reg((text + text).encode(), "q.txt")
    twice = text.replace("    AppId", f"    SslCertHash    REG_BINARY    {H1_HEX}\r\n    AppId")
    with pytest.raises(ImportInputError, match="value 'SslCertHash' twice"):
        parse_reg(twice.encode(), "q.txt")


# --- a damaged key line: the values under it belong to no key we saw (adversarial run F9) ----------

DAMAGED_EXPORT = f"""Windows Registry Editor Version 5.00

[{ROOT}\\SslBindingInfo\\0.0.0.0:443]
"SslCertHash"=hex:40,db,5b,b1,bf,56,59,a1,55,25,8d,1d,00,7c,53,0f,cb,89,96,c2
"AppId"=hex:81,e1,c3,4d,4b,e1,21,4a,b0,22,59,fc,66,9b,09,14
"SslCertStoreName"="My"

{ROOT}\\SslBindingInfo\\0.0.0.0:8443]
"DefaultSslCertCheckMode"=dword:00000001
"""


def test_reg_export_value_under_a_damaged_key_line_is_refused_not_given_to_the_previous_key() -> None:
    with pytest.raises(ImportInputError) as raised:
        parse_reg(DAMAGED_EXPORT.encode("utf-16"), "x.reg")
    message = str(raised.value)
    assert message.startswith("x.reg:9: this value cannot be placed: line 8 ")
    assert "0.0.0.0:8443]" in message and "(a damaged key line?)" in message
    assert "SslBindingInfo\\0.0.0.0:443 (line 3)" in message


def test_reg_export_without_the_damaged_part_still_imports() -> None:
    intact = DAMAGED_EXPORT.split(f"\n{ROOT}", 1)[0]
    (binding,) = parse_reg(intact.encode("utf-16"), "x.reg").bindings
    assert binding.settings["verifyclientcertrevocation"] == "enable"


def test_reg_export_damaged_key_with_nothing_under_it_is_reported() -> None:
    text = DAMAGED_EXPORT.replace('"DefaultSslCertCheckMode"=dword:00000001\n', "")
    result = parse_reg(text.encode("utf-16"), "x.reg")
    assert [r.line for r in result.not_imported] == [8]


def test_reg_query_value_under_a_damaged_key_line_is_refused() -> None:
    text = query_text({}) + f"KEY_LOCAL_MACHINE{ROOT[18:]}\\SslBindingInfo\\0.0.0.0:8443\r\n"
    text += "    DefaultSslCertCheckMode    REG_DWORD    0x1\r\n"
    with pytest.raises(ImportInputError, match=r"^q\.txt:7: this value cannot be placed: line 6 "):
        parse_reg(text.encode(), "q.txt")
