"""The normalized change: what a validated spec means, the only input the renderer and executor see.

`generator.spec` turns YAML into these objects (defaults merged, values normalized, everything
checked); nothing downstream validates again or looks at raw YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from generator.binding import KeyKind, SettingValue

Mode = Literal["preserve", "exact"]
Method = Literal["netsh", "registry"]
# How an existing binding is changed: auto (one `netsh http update sslcert` where the host's netsh
# has it for the kind, else delete+add), update (that or refuse the host), replace (delete+add).
Swap = Literal["auto", "update", "replace"]


@dataclass(frozen=True)
class BindingKey:
    """Which binding: the kind and its normalized netsh value, e.g. ipport / `[::1]:443`."""

    kind: KeyKind
    value: str

    @property
    def port(self) -> int:
        return int(self.value.rsplit(":", 1)[-1])

    def __str__(self) -> str:
        return f"{self.kind.value}={self.value}"


@dataclass(frozen=True)
class Binding:
    """One desired binding.

    `settings` holds only what the spec (or its `defaults`) names, normalized: on/off as
    "enable"/"disable", timers as int, hash lowercase, appid lowercase in braces. In preserve mode
    the rest is taken from the host at run time; in exact mode the rest is at the netsh defaults.
    """

    key: BindingKey
    settings: Mapping[str, SettingValue]
    mode: Mode = "preserve"
    method: Method = "netsh"
    swap: Swap = "auto"  # always "auto" for method registry (no netsh runs)
    line: int | None = field(default=None, compare=False)  # line in the spec, for messages


@dataclass(frozen=True)
class Connection:
    """How to reach a host over PowerShell Remoting; names follow Ansible's psrp plugin."""

    protocol: Literal["https", "http"] = "https"
    port: int = 5986
    path: str = "wsman"
    auth: Literal["negotiate", "kerberos", "ntlm", "credssp", "basic", "certificate"] = "negotiate"
    username: str | None = None
    cert_validation: Literal["validate", "ignore"] = "validate"
    ca_cert: str | None = None
    message_encryption: Literal["auto", "always", "never"] = "auto"
    connection_timeout: int = 30
    read_timeout: int = 60
    operation_timeout: int = 20
    certificate_pem: str | None = None  # client certificate for auth: certificate
    certificate_key_pem: str | None = None


@dataclass(frozen=True)
class Target:
    host: str
    connection: Connection
    bindings: tuple[Binding, ...]
    # Where clients reach this host's bindings when not at `host` (verify --tls): host[:port].
    tls_address: str | None = None


@dataclass(frozen=True)
class Change:
    id: str
    title: str
    targets: tuple[Target, ...]
    description: str = ""
    spec_sha256: str = ""  # of the spec file's bytes as read
    spec_path: str = ""
