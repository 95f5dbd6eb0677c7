"""Connection settings -> pypsrp keyword arguments, and the safety rules around them (no network)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import WSMan

from generator.errors import EXIT_USAGE
from generator.model import Connection
from generator.remote.connection import (
    ConnectionConfigError,
    Credentials,
    Endpoint,
    Extras,
    Overrides,
    Password,
    is_loopback,
    merge,
    pool_kwargs,
    resolve,
    warnings_for,
    wsman_kwargs,
)

SECRET = "S3cr3t-value!"


def http_basic(**changes: object) -> Connection:
    return dataclasses.replace(
        Connection(protocol="http", port=5985, auth="basic", username="lab"), **changes
    )


def test_defaults_map_to_validated_https_negotiate() -> None:
    kwargs = wsman_kwargs(resolve("web01.contoso.local", Connection()), None)
    assert kwargs["server"] == "web01.contoso.local"
    assert kwargs["ssl"] is True
    assert kwargs["port"] == 5986
    assert kwargs["path"] == "wsman"
    assert kwargs["auth"] == "negotiate"
    assert kwargs["cert_validation"] is True
    assert kwargs["encryption"] == "auto"
    assert (kwargs["connection_timeout"], kwargs["read_timeout"], kwargs["operation_timeout"]) == (30, 60, 20)
    assert kwargs["negotiate_send_cbt"] is True


def test_kwargs_are_accepted_by_pypsrp() -> None:
    endpoint = resolve("web01", Connection(auth="ntlm", username="CONTOSO\\svc"))
    wsman = WSMan(**wsman_kwargs(endpoint, Password(SECRET)))
    assert wsman.transport.endpoint == "https://web01:5986/wsman"
    assert wsman.transport.username == "CONTOSO\\svc"
    pool = RunspacePool(wsman, **pool_kwargs(endpoint))
    assert pool.shell.resource_uri == "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"


def test_ca_cert_becomes_the_verify_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    kwargs = wsman_kwargs(resolve("web01", Connection(ca_cert=str(bundle))), None)
    assert kwargs["cert_validation"] == str(bundle)


def test_missing_ca_cert_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectionConfigError, match=r"connection\.ca_cert: .* not a readable file"):
        resolve("web01", Connection(ca_cert=str(tmp_path / "nope.pem")))


def test_ignore_validation_only_when_asked_and_warned() -> None:
    endpoint = resolve("web01", Connection(cert_validation="ignore"))
    assert wsman_kwargs(endpoint, None)["cert_validation"] is False
    assert any("validation is OFF" in w for w in warnings_for(endpoint))
    assert warnings_for(resolve("web01", Connection())) == []


@pytest.mark.parametrize("host", ["web01.contoso.local", "10.0.0.5", "::2", "127.example.com"])
def test_basic_over_plain_http_refused_off_loopback(host: str) -> None:
    with pytest.raises(ConnectionConfigError, match="clear text") as caught:
        resolve(host, http_basic())
    assert caught.value.exit_code == EXIT_USAGE
    assert host in str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.42", "localhost", "::1", "[::1]", "LOCALHOST"])
def test_basic_over_plain_http_allowed_to_loopback_without_encryption(host: str) -> None:
    endpoint = resolve(host, http_basic())
    assert wsman_kwargs(endpoint, Password(SECRET))["encryption"] == "never"
    assert any("unencrypted" in w for w in warnings_for(endpoint))


def test_unencrypted_negotiate_over_http_refused_off_loopback() -> None:
    conn = Connection(protocol="http", port=5985, message_encryption="never")
    with pytest.raises(ConnectionConfigError, match="message_encryption"):
        resolve("web01", conn)
    assert (
        wsman_kwargs(resolve("web01", dataclasses.replace(conn, message_encryption="auto")), None)[
            "encryption"
        ]
        == "auto"
    )


def test_basic_cannot_ask_for_message_encryption() -> None:
    with pytest.raises(ConnectionConfigError, match="cannot encrypt"):
        resolve("web01", Connection(auth="basic", username="u", message_encryption="always"))


def test_basic_over_https_is_fine() -> None:
    kwargs = wsman_kwargs(resolve("web01", Connection(auth="basic", username="u")), Password(SECRET))
    assert (kwargs["ssl"], kwargs["encryption"], kwargs["password"]) == (True, "auto", SECRET)


def test_certificate_auth_wired_https_only(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("y")
    conn = Connection(auth="certificate", certificate_pem=str(cert), certificate_key_pem=str(key))
    kwargs = wsman_kwargs(resolve("web01", conn), Password(SECRET))
    assert kwargs["certificate_pem"] == str(cert)
    assert kwargs["certificate_key_pem"] == str(key)
    assert kwargs["password"] is None and kwargs["username"] is None
    with pytest.raises(ConnectionConfigError, match="needs protocol: https"):
        resolve("127.0.0.1", dataclasses.replace(conn, protocol="http", port=5985))
    with pytest.raises(ConnectionConfigError, match="certificate_key_pem"):
        resolve("web01", dataclasses.replace(conn, certificate_key_pem=None))


@pytest.mark.parametrize("auth", ["kerberos", "ntlm", "credssp", "negotiate"])
def test_other_auths_pass_through(auth: str) -> None:
    extras = Extras(negotiate_service="HTTP", negotiate_hostname_override="web01.contoso.local")
    endpoint = resolve("web01", Connection(auth=auth, username="u"), Overrides(extras=extras))  # type: ignore[arg-type]
    kwargs = wsman_kwargs(endpoint, Password(SECRET))
    assert kwargs["auth"] == auth
    if auth == "credssp":
        assert kwargs["credssp_auth_mechanism"] == "auto"
    else:
        assert kwargs["negotiate_service"] == "HTTP"
        assert kwargs["negotiate_hostname_override"] == "web01.contoso.local"
    WSMan(**kwargs)  # pypsrp accepts every key


def test_extras_map_to_ansible_named_kwargs() -> None:
    extras = Extras(
        reconnection_retries=3,
        reconnection_backoff=1.5,
        proxy="http://p:3128",
        ignore_proxy=True,
        configuration_name="JEA",
        max_envelope_size=512000,
    )
    endpoint = resolve("web01", Connection(), Overrides(extras=extras))
    kwargs = wsman_kwargs(endpoint, None)
    assert (kwargs["reconnection_retries"], kwargs["reconnection_backoff"]) == (3, 1.5)
    assert (kwargs["proxy"], kwargs["no_proxy"], kwargs["max_envelope_size"]) == (
        "http://p:3128",
        True,
        512000,
    )
    assert pool_kwargs(endpoint)["configuration_name"] == "JEA"


def test_overrides_win_and_port_follows_protocol() -> None:
    merged = merge(Connection(), Overrides(protocol="http", username="other", read_timeout=90))
    assert (merged.protocol, merged.port, merged.username, merged.read_timeout) == ("http", 5985, "other", 90)
    kept = merge(Connection(port=8443), Overrides(protocol="http"))
    assert kept.port == 8443
    assert merge(Connection(), Overrides(port=1234, protocol="http")).port == 1234


def test_read_timeout_must_exceed_operation_timeout() -> None:
    with pytest.raises(ConnectionConfigError, match="read_timeout: 20s must exceed"):
        resolve("web01", Connection(read_timeout=20, operation_timeout=20))


@pytest.mark.parametrize(
    ("changes", "key"),
    [({"port": 0}, "port"), ({"auth": "digest"}, "auth"), ({"connection_timeout": 0}, "connection_timeout")],
)
def test_bad_values_name_the_key(changes: dict[str, object], key: str) -> None:
    with pytest.raises(ConnectionConfigError, match=rf"connection\.{key}:"):
        resolve("web01", dataclasses.replace(Connection(), **changes))


def test_basic_without_username_is_refused() -> None:
    with pytest.raises(ConnectionConfigError, match="needs a username"):
        resolve("web01", Connection(auth="basic"))


def test_is_loopback() -> None:
    assert is_loopback("127.1.2.3") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("128.0.0.1") and not is_loopback("localhost.evil.com") and not is_loopback("::")


def test_password_never_shows_itself() -> None:
    password = Password(SECRET)
    assert SECRET not in repr(password) and SECRET not in str(password) and SECRET not in f"{password}"
    endpoint = resolve("web01", Connection(auth="ntlm", username="u"))
    creds = Credentials(environ={"SSLBIND_PASSWORD": SECRET}, prompt=None)
    assert creds.for_endpoint(endpoint) is not None
    assert SECRET not in repr(creds) and SECRET not in repr(endpoint)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(password)


def test_password_from_env_or_one_prompt_per_user() -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return SECRET

    creds = Credentials(environ={}, prompt=prompt)
    a = resolve("a", Connection(auth="ntlm", username="u1"))
    b = resolve("b", Connection(auth="ntlm", username="u1"))
    c = resolve("c", Connection(auth="basic", username="u2"))
    creds.collect([a, b, c])
    assert asked == ["Password for u1", "Password for u2"]
    assert creds.for_endpoint(a) is not None and creds.for_endpoint(a).reveal() == SECRET  # type: ignore[union-attr]


def test_no_password_needed_for_implicit_negotiate_or_kerberos() -> None:
    creds = Credentials(environ={}, prompt=None)
    assert creds.for_endpoint(resolve("a", Connection())) is None
    assert creds.for_endpoint(resolve("a", Connection(auth="kerberos", username="u@REALM"))) is None
    env = Credentials(environ={"SSLBIND_PASSWORD": SECRET}, prompt=None)
    assert env.for_endpoint(resolve("a", Connection(auth="kerberos", username="u@REALM"))) is not None
    assert env.for_endpoint(resolve("a", Connection())) is None


def test_no_terminal_and_no_env_is_a_clear_error() -> None:
    creds = Credentials(environ={}, prompt=None)
    with pytest.raises(ConnectionConfigError, match="SSLBIND_PASSWORD") as caught:
        creds.for_endpoint(resolve("web01", Connection(auth="ntlm", username="u")))
    assert caught.value.exit_code == EXIT_USAGE


def test_endpoint_url_brackets_ipv6() -> None:
    assert Endpoint("::1", Connection(protocol="http", port=5985)).url == "http://[::1]:5985/wsman"
