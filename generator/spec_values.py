"""Parsers for one spec value each: check the shape, return the normalized form, or raise `Invalid`.

They know nothing about YAML or files; `generator.spec` attaches file, line and key to the problem.
The shapes come from `generator.binding.PATTERNS`, so the JSON Schema and the PowerShell library
check the same thing.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from generator.binding import DISABLE, ENABLE, PATTERNS, UINT32_MAX

CHANGE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# The braced GUID without its braces; a bare GUID is accepted and braced (netsh wants the braces).
GUID_BARE_PATTERN = "^" + PATTERNS["guid"][len(r"^\{") : -len(r"\}$")] + "$"
URL_PATH_PATTERN = r"^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$"
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_PORT_TEXT = re.compile(r"[0-9]{1,5}")
MAX_TITLE = 200
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{name}{n}" for name in ("COM", "LPT") for n in range(1, 10)]
)
MAX_SHOWN = 60  # longest value quoted back in a message


class Invalid(ValueError):
    """The value's problem and how to fix it, as one line without the key."""


def shown(text: str) -> str:
    """The value quoted for a message: escaped, and cut when long."""
    short = text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."
    return repr(short)


def port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise Invalid(f"port must be 1-65535, got {_number(value)}")
    return value


def _number(value: int) -> str:
    text = str(value)
    return text if len(text) <= 20 else text[:20] + "..."


def _port_text(text: str, whole: str) -> int:
    if not _PORT_TEXT.fullmatch(text):
        raise Invalid(f"port must be a number 1-65535 after the last ':', got {shown(whole)}")
    return port(int(text))


def ipport(text: str) -> str:
    """`a.b.c.d:port`, `[v6]:port` (compressed, lowercase) or `*:port` (= 0.0.0.0, reference §9)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise Invalid(f"must be IPv4 a.b.c.d:port or [IPv6]:port, got {shown(text)}")
    number = _port_text(port_text, text)
    if host == "*":
        return f"0.0.0.0:{number}"
    if host.startswith("[") and host.endswith("]"):
        return f"[{_ipv6(host[1:-1], text)}]:{number}"
    if ":" in host:
        raise Invalid(f"put an IPv6 address in brackets, e.g. [{host}]:{number}")
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        raise Invalid(
            f"{shown(host)} is not an IPv4 address; use a.b.c.d:port, [IPv6]:port, "
            "or hostnameport for a host name"
        ) from None
    return f"{address}:{number}"


def _ipv6(text: str, whole: str) -> str:
    if "%" in text:
        raise Invalid(f"a zone index (%...) cannot be bound; remove it from {shown(whole)}")
    try:
        return ipaddress.IPv6Address(text).compressed
    except ValueError:
        raise Invalid(f"{shown(text)} is not an IPv6 address") from None


def dns_name(text: str, *, wildcard: bool) -> str:
    """A DNS host name, lowercase; `*.` as the whole leftmost label when `wildcard` is allowed."""
    name = text.lower()
    if not name.isascii():
        raise Invalid(f"{shown(text)} has non-ASCII characters; write the name in its xn-- (punycode) form")
    labels = name.split(".")
    if wildcard and labels[0] == "*" and len(labels) > 1:
        labels = labels[1:]
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise Invalid(
            f"{shown(text)} is not a DNS host name (labels of letters, digits and inner hyphens, "
            "separated by dots)"
        )
    if labels[-1].isdigit():
        raise Invalid(f"{shown(text)} is neither a host name nor a valid IP address")
    return name


def name_port(text: str) -> str:
    """`hostname:port` for hostnameport and scopedccs; a wildcard `*.` leftmost label is allowed."""
    name, sep, port_text = text.rpartition(":")
    if not sep or not name:
        raise Invalid(f"must be hostname:port, e.g. api.contoso.com:443, got {shown(text)}")
    number = _port_text(port_text, text)
    return f"{dns_name(name, wildcard=True)}:{number}"


def host(text: str) -> str:
    """A target host: DNS name (lowercase), IPv4 or IPv6 literal (compressed, brackets dropped)."""
    if not text:
        raise Invalid("is empty; give the host's DNS name or IP address")
    if "%" in text:
        raise Invalid(
            f"{shown(text)}: a zone index (%...) is not supported; use a host name or a global address"
        )
    if text.startswith("[") and text.endswith("]"):
        try:
            return ipaddress.IPv6Address(text[1:-1]).compressed
        except ValueError:
            raise Invalid(f"{shown(text)}: brackets hold an IPv6 address, and this is none") from None
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        pass
    if ":" in text:
        raise Invalid(
            f"{shown(text)} is not a host; give the name or address alone, the port goes in connection.port"
        )
    return dns_name(text, wildcard=False)


def certhash(text: str) -> str:
    """40 hex digits, lowercase; names invisible characters copied along from the certificate dialog."""
    for position, char in enumerate(text, 1):
        if char in "0123456789abcdefABCDEF":
            continue
        if char.isspace():
            raise Invalid(
                f"has a space at position {position}; write the 40 hexadecimal digits without spaces"
            )
        if not char.isprintable():
            name = unicodedata.name(char, "invisible character")
            raise Invalid(
                f"has an invisible character U+{ord(char):04X} ({name}) at position {position}; "
                "it comes from copying the thumbprint out of the certificate dialog, delete it"
            )
        raise Invalid(
            f"{char!r} at position {position} is not a hexadecimal digit; a thumbprint is 0-9 and a-f"
        )
    if not re.fullmatch(PATTERNS["hash"], text):
        raise Invalid(
            f"must be 40 hexadecimal characters (a SHA-1 thumbprint), got {len(text)}; "
            "copy the certificate's thumbprint again"
        )
    return text.lower()


def appid(text: str) -> str:
    """A GUID, lowercase, in braces (bare GUIDs are braced)."""
    braced = "{" + text + "}" if re.fullmatch(GUID_BARE_PATTERN, text) else text
    if not re.fullmatch(PATTERNS["guid"], braced):
        raise Invalid(f"must be a GUID like {{4dc3e181-e14b-4a21-b022-59fc669b0914}}, got {shown(text)}")
    return braced.lower()


def store(text: str) -> str:
    if not re.fullmatch(PATTERNS["store"], text):
        raise Invalid(
            f"must be a certificate store name such as My or WebHosting (letters, digits, . _ -), "
            f"got {shown(text)}"
        )
    return text


def ctlid(text: str) -> str:
    if not re.fullmatch(PATTERNS["ctlid"], text):
        raise Invalid(f"must be a CTL identifier (letters, digits, . _ @ -, at most 128), got {shown(text)}")
    return text


def onoff(value: str | bool) -> str:
    """`enable`/`disable`; YAML true/false (also yes/no/on/off, YAML 1.1 booleans) map to them."""
    if isinstance(value, bool):
        return ENABLE if value else DISABLE
    if value in (ENABLE, DISABLE):
        return value
    raise Invalid(f"must be enable or disable (or true/false), got {shown(value)}")


def uint32(value: int) -> int:
    if not 0 <= value <= UINT32_MAX:
        raise Invalid(f"must be a whole number from 0 to {UINT32_MAX}, got {_number(value)}")
    return value


def change_id(text: str) -> str:
    """The record folder's name, so also valid as a folder name on Windows."""
    if not re.fullmatch(CHANGE_ID_PATTERN, text):
        raise Invalid(
            "must start with a letter or digit and hold only letters, digits, . _ - "
            f"(at most 64; it names the record folder), got {shown(text)}"
        )
    if text.endswith(".") or text.split(".")[0].upper() in _WINDOWS_DEVICES:
        raise Invalid(f"{shown(text)} cannot name a folder on Windows; choose another id")
    return text


def title(text: str) -> str:
    text = text.strip()
    if not text:
        raise Invalid("is empty; say in one line what the change does")
    if not text.isprintable():
        raise Invalid("must be one line of printable text; move details to description")
    for position, char in enumerate(text, 1):
        if not char.isascii():
            raise Invalid(
                f"{char!r} at position {position} is not ASCII; the scripts carry the title and are ASCII "
                "for Windows PowerShell 5.1, so write it in ASCII (description may hold any text)"
            )
    if len(text) > MAX_TITLE:
        raise Invalid(f"is {len(text)} characters; keep it to {MAX_TITLE} and move details to description")
    return text


def description(text: str) -> str:
    text = text.rstrip()
    for number, line in enumerate(text.split("\n"), 1):
        if not line.replace("\t", " ").isprintable():
            raise Invalid(f"line {number} of the text has a control or invisible character; remove it")
    return text


def one_line(text: str, what: str) -> str:
    if not text.strip() or text != text.strip() or not text.isprintable():
        raise Invalid(f"must be {what} on one line without leading or trailing spaces, got {shown(text)}")
    return text


def url_path(text: str) -> str:
    if not re.fullmatch(URL_PATH_PATTERN, text):
        raise Invalid(f"must be a URL path such as wsman (no leading /), got {shown(text)}")
    return text


def timeout(value: int) -> int:
    if not 1 <= value <= 86400:
        raise Invalid(f"must be a whole number of seconds from 1 to 86400, got {_number(value)}")
    return value
