"""One signed webhook request, to an address checked after resolution and connected to as checked.

No redirects are followed, the response body is not read beyond 64 KiB, and
connect and read are bounded, so a hanging receiver costs one thread for at
most the timeout.
"""
import hashlib
import hmac
import ipaddress
import socket
import ssl
import time
from urllib.parse import quote
from urllib.parse import urlsplit

import certifi
import urllib3

from ..domain.webhook_targets import address_allowed

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
USER_AGENT = "registry-webhooks/1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix>,v1=<hex>``: HMAC-SHA256 over ``<timestamp>.<body>``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _address(host, port, allow_private):
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConnectionError(f"cannot resolve {host}: {exc.strerror or exc}") from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    refused = [a for a in addresses if not address_allowed(a, allow_private)]
    if refused:
        raise ConnectionError(f"{host} resolves to {refused[0]}, a loopback, link-local or private address; "
                              "set REGISTRY_WEBHOOK_ALLOW_PRIVATE=1 to allow it")
    return str(addresses[0])


def send(url: str, secret: str, event: str, delivery_id: int, body: str,
         allow_private: bool = False) -> tuple[int | None, float, str | None]:
    """POST ``body``; return (status code or None, latency in ms, error or None)."""
    started = time.perf_counter()
    data = body.encode()
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    host = parts.hostname or ""
    try:
        address = _address(host, port, allow_private)
        timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)
        if https:
            pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
                address, port, timeout=timeout, retries=False, maxsize=1, server_hostname=host,
                assert_hostname=host, cert_reqs=ssl.CERT_REQUIRED, ca_certs=certifi.where())
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)
        headers = {
            "Host": parts.netloc.rpartition("@")[2],
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Registry-Event": event,
            "X-Registry-Delivery": str(delivery_id),
            "X-Registry-Signature": signature(secret, int(time.time()), data),
        }
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        # Non-ASCII characters go as UTF-8 percent-escapes; escapes already there stay.
        path = quote(path, safe="/?&=%:@!$'()*+,;~-._")
        with pool:
            response = pool.urlopen("POST", path, body=data, headers=headers, redirect=False,
                                    preload_content=False, assert_same_host=False)
            response.read(64 * 1024)
            response.release_conn()
        latency = (time.perf_counter() - started) * 1000
        if response.status >= 300:
            return response.status, latency, f"the receiver answered {response.status}"
        return response.status, latency, None
    except Exception as exc:  # whatever the target does, it is this attempt's error, never the caller's
        return None, (time.perf_counter() - started) * 1000, _reason(exc)


def _reason(exc):
    text = str(exc)
    # urllib3 wraps the cause; the innermost message says what happened.
    return text[:500] or type(exc).__name__
