"""A corpus of hostile request bodies: pathological JSON and malformed chunked encoding.

Schemathesis generates from the schema, so it rarely sends what a broken or
malicious client sends: JSON nested ten thousand deep, numbers of ten
thousand digits, invalid UTF-8, or chunked framing that lies. tests/test_fuzz.py
sends every case here to every operation that takes a body, over raw sockets,
and requires a JSON 4xx (or a 2xx for input that is valid after all), never
a 5xx and never a dropped connection.
"""
import json
import socket

MAX_JSON = 1024 * 1024

JSON_BODIES = {
    "nested-arrays-10000": b"[" * 10000 + b"]" * 10000,
    "nested-objects-5000": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "nested-33-deep": b'{"name":' + b"[" * 33 + b"]" * 33 + b"}",
    "integer-10000-digits": b'{"name": 1' + b"0" * 10000 + b"}",
    "float-huge-exponent": b'{"name": 1e999999}',
    "float-tiny-exponent": b'{"name": 1e-999999}',
    "nan": b'{"name": NaN}',
    "infinity": b'{"name": -Infinity}',
    "invalid-utf8": b'{"name": "\xff\xfe\xfd"}',
    "lone-surrogate": b'{"name": "\\ud800"}',
    "nul-in-string": b'{"name": "a\\u0000b", "comment": "\\u0000"}',
    "duplicate-keys": b'{"name": "a", "name": "b"}',
    "bom-prefixed": b'\xef\xbb\xbf{"name": "x"}',
    "truncated": b'{"name": "x"',
    "trailing-garbage": b'{"name": "x"} {"name": "y"}',
    "top-level-array": b"[]",
    "top-level-string": b'"name"',
    "top-level-null": b"null",
    "empty": b"",
    "whitespace-only": b"   \n\t ",
    "key-100000-chars": json.dumps({"k" * 100000: 1}).encode(),
    "50000-keys": json.dumps({f"k{i}": i for i in range(50000)}).encode(),
    "string-under-the-cap": json.dumps({"name": "a" * (MAX_JSON - 100)}).encode(),
    "over-the-cap": b'{"name": "' + b"a" * (2 * MAX_JSON) + b'"}',
    "wrong-types": b'{"name": {"$ne": null}, "stage": ["Production"], "role": 1, "source": true}',
    "control-characters": b'{"name": "\x01\x02\x1b[31m"}',
}

# Raw chunked bodies, each sent with Transfer-Encoding: chunked.
CHUNKED_BODIES = {
    "bad-size-hex": b"zz\r\nabc\r\n0\r\n\r\n",
    "size-overflow": b"ffffffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
    "negative-size": b"-1\r\nabc\r\n0\r\n\r\n",
    "chunk-longer-than-declared": b"3\r\nabcdef\r\n0\r\n\r\n",
    "missing-crlf-after-data": b"3\r\nabc0\r\n\r\n",
    "huge-extension": b"3;" + b"x" * 100000 + b"\r\nabc\r\n0\r\n\r\n",
    "bad-trailer": b"3\r\nabc\r\n0\r\nbroken trailer\r\n\r\n",
    "no-final-chunk": b"3\r\nabc\r\n",
    "empty": b"0\r\n\r\n",
}

# Framing a request smuggler would try.
FRAMINGS = {
    "content-length-and-chunked": b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
    "chunked-not-last": b"Transfer-Encoding: chunked, gzip\r\n",
    "two-content-lengths": b"Content-Length: 3\r\nContent-Length: 4\r\n",
    "negative-content-length": b"Content-Length: -1\r\n",
}


def send(port, method, path, token, framing, body, content_type=b"application/json", timeout=30):
    """Send one request on a fresh connection; return (status, headers text, body bytes)."""
    head = (f"{method} {path} HTTP/1.1\r\nHost: fuzz\r\nAuthorization: Bearer {token}\r\n"
            "Connection: close\r\n").encode() + b"Content-Type: " + content_type + b"\r\n" + framing + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the body was read; the answer is still there to read
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # already reset: whatever arrived before is still read below
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    head_bytes, _, answer = data.partition(b"\r\n\r\n")
    if not head_bytes:
        return None, "", b""
    return int(head_bytes.split()[1]), head_bytes.decode("latin-1"), answer


def length_framing(body):
    return f"Content-Length: {len(body)}\r\n".encode()
