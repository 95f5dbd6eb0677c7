"""Change objects for the PowerShell tests, built from generator.model directly.

`contract_change()` is the product contract's example; `broad_changes()` covers every binding kind,
every setting, IPv6, method registry and odd but valid values; `pester_changes()` are the small
changes the Pester tests run (by folder name).
"""

from __future__ import annotations

from generator.binding import SETTINGS, UINT32_MAX, KeyKind, SettingValue
from generator.model import Binding, BindingKey, Change, Connection, Mode, Target

HASH = "40db5bb1bf5659a155258d1d007c530fcb8996c2"
OTHER_HASH = "0123456789abcdef0123456789abcdef01234567"
APPID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
OTHER_APPID = "{00112233-4455-6677-8899-aabbccddeeff}"
SHA = "ab" * 32


def _binding(
    kind: KeyKind,
    key: str,
    settings: dict[str, SettingValue],
    mode: Mode = "preserve",
    registry: bool = False,
) -> Binding:
    return Binding(BindingKey(kind, key), settings, mode=mode, method="registry" if registry else "netsh")


def _change(change_id: str, *targets: tuple[str, tuple[Binding, ...]], title: str = "Test change") -> Change:
    return Change(
        id=change_id,
        title=title,
        description="",
        spec_sha256=SHA,
        targets=tuple(Target(host, Connection(), bindings) for host, bindings in targets),
    )


def contract_change() -> Change:
    return Change(
        id="CHG0012345",
        title="Renew api.contoso.com certificate, keep client-cert revocation check off",
        description="optional free text",
        spec_sha256="5f" * 32,
        targets=(
            Target(
                "web01.contoso.local",
                Connection(),
                (
                    _binding(
                        KeyKind.IPPORT,
                        "0.0.0.0:443",
                        {
                            "certhash": HASH,
                            "appid": APPID,
                            "certstorename": "My",
                            "verifyclientcertrevocation": "disable",
                        },
                    ),
                    _binding(
                        KeyKind.HOSTNAMEPORT,
                        "api.contoso.com:443",
                        {"certhash": HASH, "certstorename": "WebHosting"},
                    ),
                ),
            ),
        ),
    )


def every_setting(flip: bool) -> dict[str, SettingValue]:
    """Every setting at a non-default value (flip=False) or the other way round."""
    out: dict[str, SettingValue] = {"certhash": HASH, "appid": APPID, "certstorename": "Web_Hosting-2.x"}
    for setting in SETTINGS:
        if setting.kind == "onoff":
            on = (setting.default == "enable") == flip
            out[setting.name] = "enable" if on else "disable"
    out["revocationfreshnesstime"] = 0 if flip else UINT32_MAX
    out["urlretrievaltimeout"] = 1 if flip else 30000
    out["sslctlidentifier"] = "ctl.id_with-odd@chars.0"
    out["sslctlstorename"] = "ClientAuthIssuer"
    return out


def broad_changes() -> list[Change]:
    kinds = (
        _binding(KeyKind.IPPORT, "0.0.0.0:443", every_setting(False), mode="exact"),
        _binding(KeyKind.IPPORT, "[::]:443", every_setting(True)),
        _binding(KeyKind.IPPORT, "[fe80::1:2:3]:65535", {"certhash": HASH, "appid": APPID}),
        _binding(KeyKind.IPPORT, "10.0.0.255:1", {"certhash": OTHER_HASH.upper()}),
        _binding(
            KeyKind.HOSTNAMEPORT, "api.contoso.com:443", {"certhash": HASH, "certstorename": "WebHosting"}
        ),
        _binding(KeyKind.HOSTNAMEPORT, "*.wild-card_host.example:8443", {"appid": OTHER_APPID}, mode="exact"),
        _binding(KeyKind.CCS, "443", {"appid": APPID, "verifyclientcertrevocation": "disable"}),
        _binding(KeyKind.SCOPEDCCS, "www.contoso.com:443", {"appid": APPID}, mode="exact"),
        _binding(
            KeyKind.IPPORT,
            "127.0.0.1:444",
            {"verifyclientcertrevocation": "disable", "usagecheck": "disable"},
            registry=True,
        ),
        _binding(KeyKind.HOSTNAMEPORT, "empty.example:443", {}),
    )
    return [
        _change("BROAD-1", ("web01.contoso.local", kinds), ("10.1.2.3", kinds[:3])),
        _change(
            "odd.id_with-chars.0",
            ("v6-host.example", (kinds[0],)),
            title="It's a 'quoted' title with $(Get-Date) `n ; #> <# & | @{} \"x\"",
        ),
        contract_change(),
    ]


def _one(
    kind: KeyKind, key: str, settings: dict[str, SettingValue], mode: Mode = "preserve"
) -> tuple[Binding]:
    return (_binding(kind, key, settings, mode=mode),)


def pester_changes() -> dict[str, Change]:
    """Folder name -> change, each with one host named after the folder."""
    motivating = {
        "certhash": HASH,
        "appid": APPID,
        "certstorename": "My",
        "verifyclientcertrevocation": "disable",
    }
    return {
        "motivating": _change("MOTIVATING", ("motivating", _one(KeyKind.IPPORT, "0.0.0.0:443", motivating))),
        "exact": _change(
            "EXACT",
            ("exact", _one(KeyKind.IPPORT, "0.0.0.0:443", {"certhash": HASH, "appid": APPID}, "exact")),
        ),
        "noappid": _change("NOAPPID", ("noappid", _one(KeyKind.IPPORT, "0.0.0.0:443", {"certhash": HASH}))),
        "multi": _change(
            "MULTI",
            (
                "multi",
                (
                    _binding(KeyKind.IPPORT, "0.0.0.0:443", motivating),
                    _binding(KeyKind.HOSTNAMEPORT, "api.contoso.com:443", {"certhash": HASH, "appid": APPID}),
                ),
            ),
        ),
        "scopedccs": _change(
            "SCOPEDCCS",
            ("scopedccs", _one(KeyKind.SCOPEDCCS, "www.contoso.com:443", {"appid": APPID}, "exact")),
        ),
        "registry": _change(
            "REGISTRY",
            (
                "registry",
                (
                    _binding(
                        KeyKind.IPPORT,
                        "0.0.0.0:443",
                        {"verifyclientcertrevocation": "disable"},
                        registry=True,
                    ),
                ),
            ),
        ),
    }
