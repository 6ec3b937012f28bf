"""Slow, idle and trickling clients over real sockets against a real `registry serve`.

The server under test runs with the default 2 workers x 8 threads and short
deadlines (2 s), so the tests see every deadline fire.
"""
import hashlib
import json
import os
import socket
import time

import pytest

from tests.servers import RegistryServer
from tests.servers import leftover_uploads
from tests.slow_clients import SlowClients
from tests.slow_clients import latencies
from tests.slow_clients import percentile

pytestmark = pytest.mark.servers

DEADLINES = {"REGISTRY_HEAD_TIMEOUT": "2", "REGISTRY_BODY_TIMEOUT": "2", "REGISTRY_MIN_BODY_RATE": "1024"}
MiB = 1024 * 1024


@pytest.fixture(scope="module", params=["local", "minio"])
def server(request, tmp_path_factory):
    env = {"REGISTRY_DATA_DIR": str(tmp_path_factory.mktemp("slow")), **DEADLINES}
    if request.param == "minio":
        minio = request.getfixturevalue("minio")
        env["REGISTRY_STORAGE_URL"] = minio.url(bucket=f"slow-{os.getpid()}")
    server = RegistryServer(env, workers=2, threads=8)
    yield server.start()
    server.stop()


def _staged(server):
    return leftover_uploads(server.env.get("REGISTRY_STORAGE_URL") or
                            "file://" + os.path.join(server.env["REGISTRY_DATA_DIR"], "blobs"))


def _nothing_staged_soon(server, within=5.0):
    """True once no upload is staged; uploads whose client just hung up need a moment to notice."""
    deadline = time.monotonic() + within
    while _staged(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _staged(server) == []


def _run(server):
    return server.http.post(f"{server.base_url}/runs", json={}, timeout=10).json()["run_id"]


def _upload_head(server, run_id, length, name="weights.bin"):
    return (f"PUT /runs/{run_id}/artifacts/{name} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n").encode()


def _answer(sock, within):
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    sock.settimeout(within)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data, time.monotonic() - started


def _error(data):
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode("latin-1"), json.loads(body)["error"]


def test_healthz_and_a_small_get_stay_fast_under_300_slow_connections(server):
    run_id = _run(server)
    with SlowClients(server.port, server.token, f"/runs/{run_id}/artifacts/slow.bin") as attack:
        time.sleep(3)  # past the 2 s deadlines: attackers are being dropped and reopening
        health = latencies(f"{server.base_url}/healthz", 50, timeout=10)
        models = latencies(f"{server.base_url}/models", 50, timeout=10,
                           headers={"Authorization": f"Bearer {server.token}"})
        reopened = attack.reopened
    print(f"300 slow connections: /healthz p99 {percentile(health, .99):.3f}s, "
          f"GET /models p99 {percentile(models, .99):.3f}s; attackers reopened {reopened} times")
    assert percentile(health, .99) < 1.0
    assert percentile(models, .99) < 1.0
    assert reopened > 0  # the deadlines really did drop the attackers
    assert _nothing_staged_soon(server)


def test_a_request_head_sent_a_byte_at_a_time_gets_408_and_is_closed(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /models HTTP/1.1\r\nHost: x\r\n")
        sock.settimeout(0.5)
        answer = b""
        while time.monotonic() - started < 10 and not answer:
            try:
                sock.send(b"X")
                answer = sock.recv(65536)
            except TimeoutError:
                continue
        elapsed = time.monotonic() - started
        status, head, error = _error(answer + _answer(sock, 5)[0])
    assert status == 408
    assert error["code"] == "request_timeout" and "2 seconds" in error["message"]
    assert "Connection: close" in head
    assert 1.5 < elapsed < 4.0


def test_a_connection_that_sends_nothing_is_closed_after_the_head_deadline(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        data, elapsed = _answer(sock, 10)
    assert _error(data)[0] == 408
    assert 1.5 < elapsed < 4.0


def _chunked_upload_head(server, run_id, name="weights.bin"):
    return (f"PUT /runs/{run_id}/artifacts/{name} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n"
            f"Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n").encode()


@pytest.mark.parametrize("sent,chunked", [(0, False), (9 * MiB, False), (18 * MiB, True)],
                         ids=["stalls-at-once", "stalls-mid-body", "stalls-after-a-part"])
def test_a_stalled_upload_is_dropped_with_408_and_nothing_staged(server, sent, chunked):
    run_id = _run(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        if chunked:
            # No length: on MinIO a multipart upload, whose first 16 MiB part is stored before the stall.
            sock.sendall(_chunked_upload_head(server, run_id) + (b"%x\r\n" % MiB + b"w" * MiB + b"\r\n") * (sent // MiB))
        else:
            # 20 MiB announced: on MinIO one streamed PUT, cut off after what was sent.
            sock.sendall(_upload_head(server, run_id, 20 * MiB) + b"w" * sent)
        data, elapsed = _answer(sock, 15)
    status, _, error = _error(data)
    assert status == 408
    assert error["code"] == "request_timeout" and "Nothing was stored" in error["message"]
    assert elapsed < 6
    assert _staged(server) == []
    files = server.http.get(f"{server.base_url}/runs/{run_id}/artifacts", timeout=10).json()["files"]
    assert files == []


def test_an_upload_trickling_under_the_minimum_rate_is_dropped(server):
    run_id = _run(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_upload_head(server, run_id, 1 * MiB))
        started = time.monotonic()
        sock.settimeout(0.5)
        answer = b""
        while time.monotonic() - started < 15 and not answer:
            try:
                sock.send(b"t" * 100)  # 200 bytes/s: never idle for 2 s, but far under 1024 bytes/s
                answer = sock.recv(65536)
            except TimeoutError:
                continue
        elapsed = time.monotonic() - started
        answer += _answer(sock, 5)[0]
    status, _, error = _error(answer)
    assert status == 408
    assert "under 1024 bytes/s" in error["message"]
    assert elapsed < 6
    assert _staged(server) == []


def test_a_fast_upload_with_pauses_shorter_than_the_deadline_succeeds(server):
    run_id = _run(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_upload_head(server, run_id, 3 * MiB))
        for _ in range(3):
            sock.sendall(b"m" * MiB)
            time.sleep(1.0)
        data = sock.recv(65536)
    assert int(data.split()[1]) == 201, data
    files = server.http.get(f"{server.base_url}/runs/{run_id}/artifacts", timeout=10).json()["files"]
    assert [(f["path"], f["size"]) for f in files] == [("weights.bin", 3 * MiB)]


def test_a_download_the_client_stops_reading_is_dropped(server):
    run_id = _run(server)
    size = 64 * MiB  # far more than the loopback socket buffers hold
    put = server.http.put(f"{server.base_url}/runs/{run_id}/artifacts/big.bin", data=b"d" * size, timeout=60)
    assert put.status_code == 201
    name = f"Unread{os.getpid()}{run_id[:8]}"
    registered = server.http.post(f"{server.base_url}/models/{name}/versions",
                                  json={"source": f"runs:/{run_id}/big.bin"}, timeout=10)
    assert registered.status_code == 201
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(f"GET /models/{name}/versions/1/files/big.bin HTTP/1.1\r\nHost: x\r\n"
                     f"Authorization: Bearer {server.token}\r\n\r\n".encode())
        time.sleep(5)  # reads nothing for more than the 2 s deadline
        data, _ = _answer(sock, 10)  # what the buffers held, then the server's close (not our timeout)
    head, _, body = data.partition(b"\r\n\r\n")
    assert f"Content-Length: {size}" in head.decode("latin-1")
    assert 0 < len(body) < size


@pytest.fixture()
def small_server(tmp_path):
    # 1 worker x 4 threads: 3 threads may stream a body, 1 is kept for the rest.
    server = RegistryServer({"REGISTRY_DATA_DIR": str(tmp_path), "REGISTRY_BODY_TIMEOUT": "30"}, workers=1, threads=4)
    yield server.start()
    server.stop()


def test_streamed_bodies_past_their_threads_get_503_and_other_requests_still_run(small_server):
    server = small_server
    run_id = _run(server)
    holders = []
    try:
        for index in range(3):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(_upload_head(server, run_id, 10 * MiB, name=f"held{index}.bin") + b"h" * 100_000)
            holders.append(sock)
        time.sleep(0.5)
        refused = server.http.put(f"{server.base_url}/runs/{run_id}/artifacts/late.bin", data=b"x" * 200_000,
                                  timeout=5)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "server_busy"
        assert refused.headers["Retry-After"] == "1"
        # A small body is read with its head, so it needs no upload thread.
        started = time.monotonic()
        created = server.http.post(f"{server.base_url}/models", json={"name": "StillServed"}, timeout=5)
        assert created.status_code == 201
        assert server.http.get(f"{server.base_url}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 1.0
    finally:
        for sock in holders:
            sock.close()
    time.sleep(0.5)
    stored = server.http.put(f"{server.base_url}/runs/{run_id}/artifacts/late.bin", data=b"x" * 200_000, timeout=10)
    assert stored.status_code == 201
    assert _staged(server) == []


def test_a_small_body_sent_after_100_continue_is_not_waited_for(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        body = json.dumps({"name": f"Continued{os.getpid()}"}).encode()
        sock.sendall((f"POST /models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                      "Expect: 100-continue\r\nConnection: close\r\n\r\n").encode())
        started = time.monotonic()
        interim = sock.recv(65536)
        waited = time.monotonic() - started
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        data, _ = _answer(sock, 10)
    assert waited < 1.0
    assert int((interim.split(b"\r\n\r\n", 1)[1] + data).split()[1]) == 201


def _responses(sock, count, within=15):
    """``count`` HTTP responses read from ``sock`` (each with a Content-Length): [(status, body)]."""
    sock.settimeout(within)
    stream, found = sock.makefile("rb"), []
    for _ in range(count):
        status = int(stream.readline().split()[1])
        headers = {}
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        found.append((status, json.loads(stream.read(int(headers["content-length"])))))
    return found


@pytest.mark.parametrize("size", [3 * MiB + 5, 100], ids=["streamed", "read-with-its-head"])
def test_a_request_pipelined_behind_an_upload_is_answered_on_the_same_connection(server, size):
    # The body was read to its end: the connection stays open for what follows it.
    run_id = _run(server)
    body = os.urandom(size)
    listing = (f"GET /runs/{run_id}/artifacts HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: Bearer {server.token}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_upload_head(server, run_id, len(body), name="pipelined.bin") + body + listing)
        (stored, file), (listed, files) = _responses(sock, 2)
    assert stored == 201 and file["sha256"] == hashlib.sha256(body).hexdigest()
    assert listed == 200 and [(f["path"], f["size"]) for f in files["files"]] == [("pipelined.bin", len(body))]
