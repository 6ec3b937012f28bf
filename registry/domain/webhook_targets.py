"""Where a webhook may send: http(s) URLs, never to internal addresses unless allowed. Pure: no I/O.

The address check runs twice: on the URL's literal host when a webhook is
saved, and on every address the host resolves to when a delivery is sent,
which then connects to that checked address (no second lookup to rebind).
"""
import ipaddress
from urllib.parse import urlsplit

from .errors import RegistryError

MAX_URL = 2048
_PORT = r"(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
# The shape the API accepts (as documented in openapi.yaml): a host name or IPv4
# address without credentials, an optional port, then anything without
# whitespace or control characters. IPv6 literals are left out: no regular
# expression short enough to read tells valid ones apart, and names resolving
# to IPv6 addresses work.
URL_PATTERN = (r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~!$&'()*+,;=%-]+"
               rf"(?::{_PORT})?(?:[/?#][^\x00-\x20\x7f]*)?$")


def _refuse(message):
    return RegistryError("validation_error", message, {"url": [message]})


def check_url(url: str, allow_private: bool) -> str:
    """The URL, if it is an absolute http(s) URL to an allowed host; raises validation_error."""
    if not isinstance(url, str) or len(url) > MAX_URL or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise _refuse(f"A webhook URL is an http(s) URL of at most {MAX_URL} characters, without spaces.")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # e.g. a bracketed host that is no IPv6 address
        raise _refuse("The webhook URL's host is not valid.") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise _refuse("A webhook URL must start with http:// or https:// and name a host.")
    if parts.username or parts.password:
        raise _refuse("A webhook URL must not carry credentials; the signature authenticates the registry.")
    try:
        parts.port  # noqa: B018 (raises for a malformed port)
    except ValueError as exc:
        raise _refuse("The webhook URL's port is not a number between 0 and 65535.") from exc
    if host == "localhost" or host.endswith(".localhost"):
        address = ipaddress.ip_address("127.0.0.1")
    else:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return url  # a name: checked against what it resolves to, at each delivery
    if not address_allowed(address, allow_private):
        raise _refuse(f"{host} is a loopback, link-local or private address; webhooks may not target it "
                      "unless REGISTRY_WEBHOOK_ALLOW_PRIVATE=1.")
    return url


def address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> bool:
    """False for the addresses a server-side request must not reach (unless ``allow_private``)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return False
    if allow_private:
        return True
    return not (address.is_loopback or address.is_link_local or address.is_private or not address.is_global)


def redacted(url: str) -> str:
    """The URL without its query (receivers often put a token there), for the audit log."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
