"""The spec's keys and what each one means: the loader's list of allowed keys and the schema's text.

Binding settings are not listed here; they come from `generator.binding.SETTINGS`.
"""

from __future__ import annotations

from functools import cache
from typing import Literal, get_args, get_origin, get_type_hints

from generator.binding import REGISTRY_SUBKEY, SETTINGS, KeyKind, Setting
from generator.model import Connection, Method, Mode, Swap

TOP: dict[str, str] = {
    "version": "Spec format version; must be 1.",
    "change": "What this change is: id (names the record folder), title and description.",
    "connection": "How to reach every target over PowerShell Remoting; a target's own `connection` "
    "overrides any key. Names follow Ansible's psrp connection plugin.",
    "defaults": "Binding settings (and mode, method, swap) applied to every binding that does not set its "
    "own, where the binding can take them: certhash and certstorename are not applied to ccs/scopedccs "
    "bindings (their certificate comes from the Central Certificate Store), and registry-method "
    "bindings take only the revocation-check settings (a default swap does not apply to them).",
    "targets": "The hosts to change, each with its bindings.",
}
REQUIRED_TOP = ("version", "change", "targets")

CHANGE: dict[str, str] = {
    "id": "Change id, e.g. the ticket number: a letter or digit, then letters, digits, . _ - "
    "(at most 64). Names the change-record folder.",
    "title": "One line saying what the change does.",
    "description": "Optional free text for the reviewer.",
}

CONNECTION: dict[str, str] = {
    "protocol": "https (default) or http.",
    "port": "WinRM port; default 5986 for https, 5985 for http.",
    "path": "WinRM URL path; default wsman.",
    "auth": "Authentication: negotiate (default), kerberos, ntlm, credssp, basic or certificate.",
    "username": "User name, e.g. CONTOSO\\svc-change. The password is never in a spec: set "
    "SSLBIND_PASSWORD or answer the prompt.",
    "cert_validation": "validate (default) or ignore the WinRM listener's TLS certificate.",
    "ca_cert": "Path of a PEM bundle of CA certificates that validate the listener's certificate.",
    "message_encryption": "WinRM message encryption: auto (default), always or never.",
    "connection_timeout": "Seconds to wait for the TCP connection; default 30.",
    "read_timeout": "Seconds to wait for an HTTP answer; default 60; must exceed operation_timeout.",
    "operation_timeout": "Seconds the server may take per WS-Management operation; default 20.",
    "certificate_pem": "Path of the client certificate (PEM) for auth: certificate.",
    "certificate_key_pem": "Path of the client certificate's private key (PEM) for auth: certificate.",
}
CONNECTION_PORT_DEFAULT = {"https": 5986, "http": 5985}

TARGET: dict[str, str] = {
    "host": "Host name (DNS), IPv4 or IPv6 address of the Windows server.",
    "connection": "Connection settings for this host only; override the top-level ones key by key.",
    "bindings": "The HTTP.sys SSL bindings to set on this host.",
    "tls_address": "Optional: where clients reach this host's bindings when not at `host` (a load "
    "balancer name, a NAT address, a forwarded port): host, host:port or [IPv6]:port. `verify --tls` "
    "and `apply --tls` handshake there (with each binding's SNI); a port replaces every binding's port.",
}
REQUIRED_TARGET = ("host", "bindings")

SELECTORS: dict[KeyKind, str] = {
    KeyKind.IPPORT: "IP binding: IPv4 a.b.c.d:port, [IPv6]:port, or *:port (= 0.0.0.0:port).",
    KeyKind.HOSTNAMEPORT: "SNI binding: hostname:port, e.g. api.contoso.com:443 (a *. wildcard "
    "leftmost label is allowed). Needs certstorename when it names a certhash or is exact.",
    KeyKind.CCS: "Central Certificate Store binding: the port.",
    KeyKind.SCOPEDCCS: "Scoped Central Certificate Store binding: hostname:port.",
}
SELECTOR_NAMES: tuple[str, ...] = tuple(kind.value for kind in SELECTORS)

OPTIONS: dict[str, str] = {
    "mode": "preserve (default): settings the spec does not name keep their current value on the "
    "host, and certhash/appid may be omitted for an existing binding. exact: the binding becomes exactly "
    "the spec, unnamed settings at their netsh defaults; needs appid (and certhash for ipport and "
    "hostnameport).",
    "method": "netsh (default): change the binding with netsh (how: see swap). registry: set only the "
    "revocation-check settings in the binding's registry key (DefaultSslCertCheckMode); HTTP.sys "
    "reads it only after the HTTP service or the server restarts.",
    "swap": "How an existing binding is changed. auto (default): one atomic `netsh http update sslcert` "
    "(no moment without a binding) where the host's netsh has it for the binding's kind (Server 2019 "
    "and later; never for scopedccs), else delete+add. update: only that; a host without it is refused "
    "with nothing changed (not for scopedccs). replace: always delete+add. Not for method: registry "
    "(only auto).",
}
MODES: tuple[str, ...] = get_args(Mode)
METHODS: tuple[str, ...] = get_args(Method)
SWAPS: tuple[str, ...] = get_args(Swap)
# `netsh http update sslcert` (HttpUpdateServiceConfiguration) does not cover scoped CCS bindings.
UPDATE_KINDS: tuple[KeyKind, ...] = (KeyKind.IPPORT, KeyKind.HOSTNAMEPORT, KeyKind.CCS)

# What `method: registry` can change: the DefaultSslCertCheckMode bits, the one value the registry
# touchpoint writes (docs/windows-touchpoints.md §3). The freshness time lives in a value of its own.
REGISTRY_SETTINGS: tuple[str, ...] = tuple(s.name for s in SETTINGS if s.check_mode_bit)
# The scoped-CCS registry key is a guess (reference §10); a registry write there could miss.
REGISTRY_UNVERIFIED: frozenset[KeyKind] = frozenset({KeyKind.SCOPEDCCS})
REGISTRY_KINDS: tuple[KeyKind, ...] = tuple(k for k in REGISTRY_SUBKEY if k not in REGISTRY_UNVERIFIED)

# Key names that hold a secret; such a key is refused wherever it appears.
SECRET_WORDS: tuple[str, ...] = ("password", "passwd", "pass", "pwd", "secret", "token", "credential")

_UNITS = {"revocationfreshnesstime": "seconds", "urlretrievaltimeout": "milliseconds"}
_KIND_TEXT = {
    "hash": "40 hexadecimal characters (the certificate's SHA-1 thumbprint)",
    "guid": "a GUID in braces, e.g. {4dc3e181-e14b-4a21-b022-59fc669b0914} (quote it in YAML; a bare "
    "GUID gets its braces)",
    "store": "a store name under LocalMachine, e.g. My or WebHosting",
    "ctlid": "a certificate trust list identifier",
    "onoff": "enable or disable (true/false accepted)",
    "uint32": "a whole number 0-4294967295",
}


def setting_description(setting: Setting) -> str:
    """The schema text of one netsh parameter, from the settings table."""
    text = f"netsh `{setting.name}`"
    if setting.label:
        text += f" ({setting.label})"
    text += f": {_KIND_TEXT[setting.kind]}"
    if setting.name in _UNITS:
        text += f", in {_UNITS[setting.name]}"
    if setting.default is not None:
        text += f". HTTP.sys default: {setting.default}"
    if setting.name == "certhash":
        text += ". Not for ccs/scopedccs bindings"
    return text + "."


@cache
def connection_choices() -> dict[str, tuple[str, ...]]:
    """The allowed words of each Literal-typed connection key, read from the model."""
    hints = get_type_hints(Connection)
    return {name: get_args(hint) for name, hint in hints.items() if get_origin(hint) is Literal}
