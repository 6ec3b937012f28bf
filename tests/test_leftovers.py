"""Uploads cut off by a killed server leave staging files or multipart uploads; start-up removes the stale ones."""
import os
import signal
import socket
import time

import pytest

from registry.storage import storage_from_url
from tests.servers import RegistryServer
from tests.servers import leftover_uploads
from tests.servers import wait_until

pytestmark = pytest.mark.servers

MiB = 1024 * 1024
GRACE = 3


@pytest.fixture(params=["local", "minio"])
def storage_url(request, tmp_path):
    if request.param == "local":
        return f"file://{tmp_path}/blobs"
    return request.getfixturevalue("minio").url()


def _serve(tmp_path, storage_url):
    return RegistryServer({"REGISTRY_DATA_DIR": str(tmp_path / "data"), "REGISTRY_STORAGE_URL": storage_url,
                           "REGISTRY_STALE_UPLOAD_SECONDS": str(GRACE)}, workers=1, threads=2).start()


def _start_upload_elsewhere(storage_url):
    """An upload still running (on another instance, say): a fresh staging file or multipart upload."""
    storage = storage_from_url(storage_url)
    if hasattr(storage, "client"):
        storage.client._create_multipart_upload(bucket_name=storage.bucket, object_name="uploads/" + "e" * 32,
                                                headers={})
    else:
        with open(os.path.join(storage.root, "uploads", "e" * 32), "wb") as f:
            f.write(b"in progress")


def _kill_during_upload(tmp_path, storage_url, framing, body, under_way):
    """Send a PUT's head (``framing`` header) and ``body``, not all of it; kill the whole server once ``under_way()``."""
    server = _serve(tmp_path, storage_url)
    try:
        run_id = server.http.post(f"{server.base_url}/runs", json={}, timeout=10).json()["run_id"]
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall((f"PUT /runs/{run_id}/artifacts/cut.bin HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: Bearer {server.token}\r\n{framing}\r\n\r\n").encode() + body)
        wait_until(under_way, 10, "the upload to be under way")
        for pid in server.worker_pids() + [server.process.pid]:
            os.kill(pid, signal.SIGKILL)
        server.process.wait()
        sock.close()
    finally:
        server.stop()


def test_start_up_removes_what_killed_uploads_left_and_keeps_recent_ones(tmp_path, storage_url):
    # 18 MiB sent with no length: a staging file, or on MinIO a multipart
    # upload holding its first 16 MiB part.
    _kill_during_upload(tmp_path, storage_url, "Transfer-Encoding: chunked",
                        (b"%x\r\n" % MiB + b"c" * MiB + b"\r\n") * 18, lambda: leftover_uploads(storage_url))
    killed = leftover_uploads(storage_url)
    assert len(killed) == 1

    time.sleep(GRACE + 1)
    _start_upload_elsewhere(storage_url)
    restarted = _serve(tmp_path, storage_url)
    try:
        assert [key.rsplit("/", 1)[1] for key in leftover_uploads(storage_url)] == ["e" * 32]
        assert "removed 1 upload(s) left behind" in restarted.output()
    finally:
        restarted.stop()


def _receiving(minio):
    """True while MinIO holds an object it is still receiving (in its own temporary folder)."""
    temporary = os.path.join(minio.base, "data", ".minio.sys", "tmp")
    # What MinIO dropped waits in .trash for its deletion in the background.
    return any(files for folder, _, files in os.walk(temporary) if ".trash" not in folder)


def test_an_upload_of_known_length_cut_off_by_a_killed_server_leaves_nothing_in_minio(tmp_path, own_minio):
    # One streamed PUT: MinIO shows nothing of a PUT that never ended.
    storage_url = own_minio.url()
    _kill_during_upload(tmp_path, storage_url, f"Content-Length: {20 * MiB}", b"c" * (9 * MiB),
                        lambda: _receiving(own_minio))
    assert leftover_uploads(storage_url) == [] and storage_from_url(storage_url).blob_keys() == []
