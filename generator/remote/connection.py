"""A target's connection settings (+ command-line overrides) mapped onto pypsrp's WSMan and RunspacePool.

Option names follow Ansible's psrp connection plugin (reference psrp-winrm.md section 2.2). The rules
that keep a change safe in transit live here: TLS validation stays on unless the user turns it off,
and nothing travels unencrypted (Basic over plain HTTP, or `message_encryption: never` over HTTP)
except to a loopback address. The password never enters a spec, a log line, a repr or a message.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import UserError
from generator.model import Connection

PASSWORD_ENV = "SSLBIND_PASSWORD"
DEFAULT_PORTS = {"https": 5986, "http": 5985}
AUTHS = ("negotiate", "kerberos", "ntlm", "credssp", "basic", "certificate")
# Auth methods that cannot work without a password.
PASSWORD_REQUIRED = frozenset({"basic", "ntlm", "credssp"})
# Auth methods that can wrap messages themselves (WinRM message encryption over HTTP).
ENCRYPTING_AUTHS = frozenset({"negotiate", "kerberos", "ntlm", "credssp"})


class ConnectionConfigError(UserError):
    """Connection settings that are unsafe or cannot work; the message names host, key and fix."""


class Password:
    """A secret that never shows itself: repr/str print a mask; `reveal()` is the only way out."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Password(***)"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # pickling would write the secret somewhere
        raise TypeError("a Password cannot be pickled")


@dataclass(frozen=True)
class Extras:
    """pypsrp options a spec does not carry; set only from the command line (Ansible's names)."""

    reconnection_retries: int = 0
    reconnection_backoff: float = 2.0
    proxy: str | None = None
    ignore_proxy: bool = False
    negotiate_service: str | None = None
    negotiate_hostname_override: str | None = None
    negotiate_delegate: bool = False
    negotiate_send_cbt: bool = True
    credssp_auth_mechanism: str = "auto"
    credssp_disable_tlsv1_2: bool = False
    credssp_minimum_version: int = 2
    configuration_name: str = "Microsoft.PowerShell"
    max_envelope_size: int = 153600


@dataclass(frozen=True)
class Overrides:
    """Command-line overrides: every field left None keeps the spec's (or the default) value."""

    protocol: str | None = None
    port: int | None = None
    path: str | None = None
    auth: str | None = None
    username: str | None = None
    cert_validation: str | None = None
    ca_cert: str | None = None
    message_encryption: str | None = None
    connection_timeout: int | None = None
    read_timeout: int | None = None
    operation_timeout: int | None = None
    certificate_pem: str | None = None
    certificate_key_pem: str | None = None
    extras: Extras = Extras()


@dataclass(frozen=True)
class Endpoint:
    """Everything needed to reach one host; holds no secret."""

    host: str
    connection: Connection
    extras: Extras = Extras()

    @property
    def url(self) -> str:
        c = self.connection
        server = f"[{self.host}]" if ":" in self.host else self.host
        return f"{c.protocol}://{server}:{c.port}/{c.path}"

    @property
    def wants_password(self) -> bool:
        """A password is asked for when the auth needs one or a user name is given (not kerberos)."""
        auth = self.connection.auth
        if auth in PASSWORD_REQUIRED:
            return True
        return auth == "negotiate" and self.connection.username is not None


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def merge(connection: Connection, overrides: Overrides) -> Connection:
    """The connection with every non-None override applied; the port follows a protocol override."""
    changes = {
        f.name: getattr(overrides, f.name)
        for f in dataclasses.fields(Connection)
        if getattr(overrides, f.name, None) is not None
    }
    protocol = changes.get("protocol")
    if protocol and "port" not in changes and connection.port == DEFAULT_PORTS[connection.protocol]:
        changes["port"] = DEFAULT_PORTS[protocol]
    return dataclasses.replace(connection, **changes)


def resolve(host: str, connection: Connection, overrides: Overrides | None = None) -> Endpoint:
    """One host's endpoint with overrides applied, refused (ConnectionConfigError) if unsafe."""
    overrides = overrides or Overrides()
    endpoint = Endpoint(host, merge(connection, overrides), overrides.extras)
    validate(endpoint)
    return endpoint


def _fail(endpoint: Endpoint, key: str, problem: str) -> ConnectionConfigError:
    return ConnectionConfigError(f"host {endpoint.host}: connection.{key}: {problem}")


def _check_choices(endpoint: Endpoint) -> None:
    c = endpoint.connection
    choices: dict[str, tuple[str, Iterable[str]]] = {
        "protocol": (c.protocol, DEFAULT_PORTS),
        "auth": (c.auth, AUTHS),
        "cert_validation": (c.cert_validation, ("validate", "ignore")),
        "message_encryption": (c.message_encryption, ("auto", "always", "never")),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise _fail(endpoint, key, f"{value!r} is not one of {', '.join(allowed)}")
    if not 0 < c.port < 65536:
        raise _fail(endpoint, "port", f"{c.port} is not a TCP port (1-65535)")
    for key in ("connection_timeout", "read_timeout", "operation_timeout"):
        if getattr(c, key) <= 0:
            raise _fail(endpoint, key, "must be a positive number of seconds")
    if c.read_timeout <= c.operation_timeout:
        raise _fail(
            endpoint,
            "read_timeout",
            f"{c.read_timeout}s must exceed operation_timeout ({c.operation_timeout}s): the server "
            "holds a receive open for up to operation_timeout",
        )


def _check_transport_security(endpoint: Endpoint) -> None:
    c = endpoint.connection
    loopback = is_loopback(endpoint.host)
    if c.auth in ("basic", "certificate") and c.message_encryption == "always":
        raise _fail(endpoint, "message_encryption", f"{c.auth} auth cannot encrypt messages; use auto")
    if c.protocol == "https" or loopback:
        return
    if c.auth == "basic":
        raise _fail(
            endpoint,
            "auth",
            "basic over plain http would send the password in clear text; use protocol: https "
            "(basic over http is allowed only to a loopback address)",
        )
    if c.message_encryption == "never":
        raise _fail(
            endpoint,
            "message_encryption",
            "never over plain http would send the change unprotected; use auto or protocol: https",
        )


def _check_files(endpoint: Endpoint) -> None:
    c = endpoint.connection
    if c.auth == "certificate":
        if c.protocol != "https":
            raise _fail(endpoint, "auth", "certificate auth needs protocol: https")
        for key in ("certificate_pem", "certificate_key_pem"):
            if not getattr(c, key):
                raise _fail(endpoint, key, "certificate auth needs certificate_pem and certificate_key_pem")
    for key in ("ca_cert", "certificate_pem", "certificate_key_pem"):
        value = getattr(c, key)
        if value and not Path(value).is_file():
            raise _fail(endpoint, key, f"{value} is not a readable file")


def _check_username(endpoint: Endpoint) -> None:
    c = endpoint.connection
    if c.auth in PASSWORD_REQUIRED and not c.username:
        raise _fail(endpoint, "username", f"{c.auth} auth needs a username (add --username or username:)")


def validate(endpoint: Endpoint) -> None:
    _check_choices(endpoint)
    _check_transport_security(endpoint)
    _check_files(endpoint)
    _check_username(endpoint)


def warnings_for(endpoint: Endpoint) -> list[str]:
    """Things the user chose that weaken security, to be shown (never silently accepted)."""
    c = endpoint.connection
    out: list[str] = []
    if c.protocol == "https" and c.cert_validation == "ignore":
        out.append(f"host {endpoint.host}: TLS certificate validation is OFF (cert_validation: ignore)")
    if c.protocol == "http" and (c.auth == "basic" or c.message_encryption == "never"):
        out.append(f"host {endpoint.host}: unencrypted WinRM traffic (allowed only because it is loopback)")
    return out


def _encryption(c: Connection) -> str:
    # Basic/certificate cannot wrap messages: over http (loopback only, checked) that means "never".
    if c.protocol == "http" and c.auth not in ENCRYPTING_AUTHS:
        return "never"
    return c.message_encryption


def _cert_validation(c: Connection) -> bool | str:
    if c.cert_validation == "ignore":
        return False
    return c.ca_cert or True


def _auth_kwargs(endpoint: Endpoint) -> dict[str, Any]:
    c, x = endpoint.connection, endpoint.extras
    if c.auth == "certificate":
        return {"certificate_pem": c.certificate_pem, "certificate_key_pem": c.certificate_key_pem}
    if c.auth == "credssp":
        return {
            "credssp_auth_mechanism": x.credssp_auth_mechanism,
            "credssp_disable_tlsv1_2": x.credssp_disable_tlsv1_2,
            "credssp_minimum_version": x.credssp_minimum_version,
        }
    if c.auth in ("negotiate", "kerberos", "ntlm"):
        kwargs: dict[str, Any] = {
            "negotiate_delegate": x.negotiate_delegate,
            "negotiate_send_cbt": x.negotiate_send_cbt,
        }
        if x.negotiate_service:
            kwargs["negotiate_service"] = x.negotiate_service
        if x.negotiate_hostname_override:
            kwargs["negotiate_hostname_override"] = x.negotiate_hostname_override
        return kwargs
    return {}


def wsman_kwargs(endpoint: Endpoint, password: Password | None) -> dict[str, Any]:
    """Keyword arguments for `pypsrp.wsman.WSMan` (the password only as given, never logged)."""
    c, x = endpoint.connection, endpoint.extras
    kwargs: dict[str, Any] = {
        "server": endpoint.host,
        "port": c.port,
        "ssl": c.protocol == "https",
        "path": c.path,
        "auth": c.auth,
        "username": c.username if c.auth != "certificate" else None,
        "password": password.reveal() if password is not None and c.auth != "certificate" else None,
        "cert_validation": _cert_validation(c),
        "encryption": _encryption(c),
        "connection_timeout": c.connection_timeout,
        "read_timeout": c.read_timeout,
        "operation_timeout": c.operation_timeout,
        "reconnection_retries": x.reconnection_retries,
        "reconnection_backoff": x.reconnection_backoff,
        "proxy": x.proxy,
        "no_proxy": x.ignore_proxy,
        "max_envelope_size": x.max_envelope_size,
    }
    kwargs.update(_auth_kwargs(endpoint))
    return kwargs


def pool_kwargs(endpoint: Endpoint) -> dict[str, Any]:
    """Keyword arguments for `pypsrp.powershell.RunspacePool` besides the connection."""
    return {"configuration_name": endpoint.extras.configuration_name, "min_runspaces": 1, "max_runspaces": 1}


Prompt = Callable[[str], str]


def _click_prompt(text: str) -> str:
    import click  # only the interactive path needs it

    value: str = click.prompt(text, hide_input=True, err=True)
    return value


class Credentials:
    """Passwords per user name, from SSLBIND_PASSWORD or one hidden prompt per user; never stored."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        prompt: Prompt | None = _click_prompt,
    ) -> None:
        env = os.environ if environ is None else environ
        value = env.get(PASSWORD_ENV)
        self._env = Password(value) if value else None
        self._prompt = prompt
        self._asked: dict[str, Password] = {}

    def __repr__(self) -> str:
        return f"Credentials(env={'set' if self._env else 'unset'}, users={sorted(self._asked)})"

    def collect(self, endpoints: Iterable[Endpoint]) -> None:
        """Ask up front (before any host is touched) for every password the endpoints need."""
        for endpoint in endpoints:
            self.for_endpoint(endpoint)

    def for_endpoint(self, endpoint: Endpoint) -> Password | None:
        c = endpoint.connection
        needed = endpoint.wants_password
        # Kerberos with a user name may use a ticket cache, so it takes a password only from the env.
        optional = c.auth == "kerberos" and c.username is not None
        if self._env is not None and (needed or optional):
            return self._env
        if not needed:
            return None
        user = c.username or ""
        if user not in self._asked:
            if self._prompt is None:
                raise ConnectionConfigError(
                    f"host {endpoint.host}: {c.auth} auth as {user} needs a password: set {PASSWORD_ENV} "
                    "or run on a terminal to be prompted"
                )
            self._asked[user] = Password(self._prompt(f"Password for {user}"))
        return self._asked[user]
