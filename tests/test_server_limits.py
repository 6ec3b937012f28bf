"""Requests refused by the HTTP server itself still get our JSON errors, and logs hold no secrets."""
import json
import os
import socket

import pytest

from tests.servers import RegistryServer

# Each test starts its own server processes.
pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = RegistryServer({"REGISTRY_DATA_DIR": str(tmp_path_factory.mktemp("limits"))}, workers=1, threads=2)
    yield server.start()
    server.stop()


def _raw(server, request):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, head.decode("latin-1"), body


@pytest.mark.parametrize("request_bytes,status,code", [
    (b"GET /models/" + b"x" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"GET /models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n", 431, "headers_too_large"),
    (b"GET /models HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"\r\n",
     431, "headers_too_large"),
    (b"BR\x00KEN / HTTP/1.1\r\n\r\n", 400, "validation_error"),
])
def test_oversized_or_broken_requests_get_json(server, request_bytes, status, code):
    got, head, body = _raw(server, request_bytes)
    assert got == status
    assert "Content-Type: application/json" in head
    assert json.loads(body)["error"]["code"] == code


def test_the_token_never_reaches_the_logs(server):
    server.http.get(f"{server.base_url}/models", timeout=10)
    created = server.http.post(f"{server.base_url}/tokens", json={"name": "logged", "role": "reader"}, timeout=10)
    server.http.get(f"{server.base_url}/models?x=1", headers={"Authorization": "Bearer wrong"}, timeout=10)
    output = server.output()
    assert "GET /models" in output  # the access log is there...
    assert server.token not in output  # ...without the secret
    assert server.token.split("_", 2)[2] not in output
    assert created.json()["token"] not in output


@pytest.mark.parametrize("body", [b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcdef\r\n0\r\n\r\n"])
@pytest.mark.parametrize("target", ["upload", "json"])
def test_a_malformed_chunked_body_is_400_and_stores_nothing(server, body, target):
    run_id = server.http.post(f"{server.base_url}/runs", json={}, timeout=10).json()["run_id"]
    path, method, ctype = {"upload": (f"/runs/{run_id}/artifacts/x.bin", "PUT", "application/octet-stream"),
                           "json": ("/models", "POST", "application/json")}[target]
    got, head, answer = _raw(server, (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n"
        f"Content-Type: {ctype}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode() + body)
    assert got == 400
    error = json.loads(answer)["error"]
    assert error["code"] == "validation_error" and "chunked" in error["message"]
    files = server.http.get(f"{server.base_url}/runs/{run_id}/artifacts", timeout=10).json()["files"]
    assert files == []
    uploads = os.listdir(os.path.join(server.env["REGISTRY_DATA_DIR"], "blobs", "uploads"))
    assert uploads == []


def test_a_refused_body_closes_the_connection_instead_of_dropping_the_next_request(server):
    # 2 MiB announced, over the 1 MiB JSON cap: refused before the body is read.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall((f"POST /models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 2097152\r\n\r\n").encode() + b"{" * 1024)
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
    lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    assert lines[0].split()[1] == "413"
    assert "Connection: close" in lines
    assert not [line for line in lines if line.lower().startswith("server:")]
