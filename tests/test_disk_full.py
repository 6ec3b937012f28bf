"""A blob store whose filesystem really fills up (a small tmpfs): 507 storage_full, /readyz, recovery.

Mounting needs root, as CI has; a machine where the mount fails fails these
tests rather than skipping them.
"""
import os
import subprocess
import time

import pytest

from registry.storage import storage_from_url
from tests.servers import MinioServer
from tests.servers import RegistryServer
from tests.servers import wait_until

pytestmark = pytest.mark.servers

MiB = 1024 * 1024


def _mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], check=True)


def _fill(path, leave):
    """Take all but ``leave`` bytes of the filesystem at ``path`` with one file; return it."""
    filler = os.path.join(path, "filler")
    stats = os.statvfs(path)
    subprocess.run(["fallocate", "-l", str(stats.f_bavail * stats.f_frsize - leave), filler], check=True)
    return filler


@pytest.fixture(params=["local", "minio"])
def full_disk(request, tmp_path):
    """(registry server, the filesystem its blobs live on)."""
    env = {"REGISTRY_DATA_DIR": str(tmp_path / "data")}
    minio = None
    if request.param == "local":
        mount = str(tmp_path / "fs")
        _mount_tmpfs(mount, "32m")
        env["REGISTRY_STORAGE_URL"] = f"file://{mount}/blobs"
    else:
        minio = MinioServer()
        mount = os.path.join(minio.base, "data")
        _mount_tmpfs(mount, "64m")
        minio.start()
        env["REGISTRY_STORAGE_URL"] = minio.url(bucket="full")
    server = RegistryServer(env, workers=1, threads=4)
    try:
        yield server.start(), mount
    finally:
        server.stop()
        if minio is not None:
            minio.stop()
        subprocess.run(["umount", "-l", mount], check=False)


def _upload(server, run_id, name, size):
    return server.http.put(f"{server.base_url}/runs/{run_id}/artifacts/{name}", data=b"f" * size, timeout=30)


def test_a_full_blob_store_answers_507_reports_not_ready_and_recovers(full_disk):
    server, mount = full_disk
    run_id = server.http.post(f"{server.base_url}/runs", json={}, timeout=10).json()["run_id"]
    assert _upload(server, run_id, "before.bin", 2 * MiB).status_code == 201

    filler = _fill(mount, leave=300 * 1024)
    refused = _upload(server, run_id, "weights.bin", 4 * MiB)
    assert refused.status_code == 507
    error = refused.json()["error"]
    assert error["code"] == "storage_full" and "full" in error["message"]
    files = server.http.get(f"{server.base_url}/runs/{run_id}/artifacts", timeout=10).json()["files"]
    assert [f["path"] for f in files] == ["before.bin"]
    storage = storage_from_url(server.env["REGISTRY_STORAGE_URL"])
    assert storage.upload_keys() == []

    ready = server.http.get(f"{server.base_url}/readyz", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["error"]["details"]["checks"]["storage"].startswith("not writable")
    assert ready.json()["error"]["details"]["checks"]["database"] == "ok"

    # Space comes back: the same server is ready again and takes the upload, no restart.
    os.remove(filler)
    started = time.monotonic()
    wait_until(lambda: server.http.get(f"{server.base_url}/readyz", timeout=10).status_code == 200, 60,
               "readiness after space was freed")
    print(f"ready again {time.monotonic() - started:.1f}s after space was freed")
    assert _upload(server, run_id, "weights.bin", 4 * MiB).status_code == 201
    assert storage.upload_keys() == []
