"""A 256 MiB file through a real gunicorn server: bytes intact, memory flat."""
import hashlib
import os
import socket
import time

import pytest

from registry.storage import storage_from_url
from tests.servers import RegistryServer
from tests.servers import peak_rss_growth
from tests.servers import reset_peak_rss

SIZE = 256 * 1024 * 1024
MiB = 1024 * 1024
# Issue 9's bound: bounded buffers (1 MiB chunks, MinIO parts in flight) plus
# interpreter noise, far below the file size, so buffering the file fails this.
ALLOWED_GROWTH = 64 * MiB

pytestmark = [pytest.mark.slow, pytest.mark.servers]


@pytest.fixture
def big_file(tmp_path):
    path = tmp_path / "weights.bin"
    digest = hashlib.sha256()
    block = os.urandom(MiB)
    with open(path, "wb") as f:
        for i in range(SIZE // MiB):
            chunk = block[:-4] + i.to_bytes(4, "big")  # every MiB distinct
            digest.update(chunk)
            f.write(chunk)
    return path, digest.hexdigest()


def _growth(baseline):
    return max(peak_rss_growth(baseline).values())


def test_256_mib_upload_and_download_stream(backend_env, big_file):
    path, digest = big_file
    server = RegistryServer(backend_env, workers=2, threads=4).start()
    try:
        base, http = server.base_url, server.http
        run_id = http.post(f"{base}/runs", json={}, timeout=10).json()["run_id"]
        baseline = reset_peak_rss(server.worker_pids())
        with open(path, "rb") as f:
            uploaded = http.put(f"{base}/runs/{run_id}/artifacts/model/weights.bin", data=f, timeout=600)
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json() == {"path": "model/weights.bin", "size": SIZE, "sha256": digest}
        upload_growth = _growth(baseline)

        http.post(f"{base}/models/Big/versions", json={"source": f"runs:/{run_id}/model"}, timeout=60)
        baseline = reset_peak_rss(server.worker_pids())
        received = hashlib.sha256()
        length = 0
        with http.get(f"{base}/models/Big/versions/1/files/weights.bin", stream=True, timeout=600) as response:
            assert response.status_code == 200
            assert response.headers["Content-Length"] == str(SIZE)
            assert response.headers["ETag"] == f'"{digest}"'
            for chunk in response.iter_content(MiB):
                received.update(chunk)
                length += len(chunk)
        download_growth = _growth(baseline)
        assert length == SIZE
        assert received.hexdigest() == digest

        # A resumed download: the last 10 MiB only.
        tail = http.get(f"{base}/models/Big/versions/1/files/weights.bin",
                            headers={"Range": f"bytes={SIZE - 10 * MiB}-"}, timeout=600)
        assert tail.status_code == 206
        with open(path, "rb") as f:
            f.seek(SIZE - 10 * MiB)
            assert tail.content == f.read()

        print(f"\nworker memory growth: upload {upload_growth / MiB:.1f} MiB, "
              f"download {download_growth / MiB:.1f} MiB for a {SIZE // MiB} MiB file")
        assert upload_growth < ALLOWED_GROWTH, f"upload grew a worker by {upload_growth / MiB:.0f} MiB"
        assert download_growth < ALLOWED_GROWTH, f"download grew a worker by {download_growth / MiB:.0f} MiB"
    finally:
        server.stop()


def test_interrupted_upload_leaves_no_file(backend_env, backend_config):
    server = RegistryServer(backend_env, workers=1, threads=2).start()
    try:
        base, http = server.base_url, server.http
        run_id = http.post(f"{base}/runs", json={}, timeout=10).json()["run_id"]
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(
                f"PUT /runs/{run_id}/artifacts/w.bin HTTP/1.1\r\nHost: x\r\n"
                f"Content-Length: {64 * MiB}\r\n\r\n".encode() + b"x" * (3 * MiB)
            )
        storage = storage_from_url(backend_config.get("STORAGE_URL") or f"file://{backend_config['DATA_DIR']}/blobs")
        deadline = time.monotonic() + 20
        while storage.upload_keys() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert storage.upload_keys() == []
        assert storage.blob_keys() == []
        assert http.get(f"{base}/runs/{run_id}/artifacts", timeout=10).json()["files"] == []
        # The server is still healthy and the same path can be uploaded properly.
        retry = http.put(f"{base}/runs/{run_id}/artifacts/w.bin", data=b"x" * MiB, timeout=30)
        assert retry.status_code == 201
    finally:
        server.stop()


def test_chunked_upload_without_content_length(backend_env):
    """Clients that stream without knowing the size (Transfer-Encoding: chunked)."""
    server = RegistryServer(backend_env, workers=1, threads=2).start()
    try:
        base, http = server.base_url, server.http
        run_id = http.post(f"{base}/runs", json={}, timeout=10).json()["run_id"]
        digest = hashlib.sha256()

        def body():
            for i in range(40):  # 40 MiB: several multipart parts on MinIO
                chunk = bytes([i]) * MiB
                digest.update(chunk)
                yield chunk

        uploaded = http.put(f"{base}/runs/{run_id}/artifacts/chunked.bin", data=body(), timeout=120)
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["size"] == 40 * MiB
        assert uploaded.json()["sha256"] == digest.hexdigest()
        http.post(f"{base}/models/C/versions", json={"source": f"runs:/{run_id}/chunked.bin"}, timeout=10)
        downloaded = http.get(f"{base}/models/C/versions/1/files/chunked.bin", timeout=120)
        assert hashlib.sha256(downloaded.content).hexdigest() == digest.hexdigest()
    finally:
        server.stop()
