"""Garbage collection: what nothing names goes, what something names (or an upload is writing) stays."""
import concurrent.futures
import datetime
import hashlib
import io
import threading

import pytest

from registry.domain import blobs
from registry.models import Blob
from registry.models import RunFile
from registry.models import VersionFile
from registry.models import utcnow
from tests.conftest import expect_error
from tests.test_auth import as_token
from tests.test_auth import make_token

KEPT = b"weights a version names" * 100
PURGED = b"bytes only a purged run held" * 100


def _purge_run_files(run_id):
    """What a run purge does: its files stop naming their blobs (runs are never hard-deleted today)."""
    RunFile.delete().where(RunFile.run == run_id).execute()


def _read_back(client, run_id, path):
    """A run's file as a deployment job gets it: registered, then downloaded."""
    version = client.post("/models/ReadBack/versions", json={"source": f"runs:/{run_id}"})
    assert version.status_code == 201, version.json
    response = client.get(f"/models/ReadBack/versions/{version.json['version']}/files/{path}")
    assert response.status_code == 200, response.data[:300]
    return response.data


def _age_claims(days=2):
    Blob.update(claimed_at=utcnow() - datetime.timedelta(days=days)).execute()


@pytest.fixture
def world(app, client, registry, storage):
    """A registered version (names KEPT); a run whose files were purged (PURGED is unreferenced);
    an object no row names (a cut-off upload); and an upload still writing."""
    kept = registry.run({"model/w.bin": KEPT})
    registry.register("M", f"runs:/{kept}/model")
    purged = registry.run({"p.bin": PURGED})
    _purge_run_files(purged)
    _age_claims()
    orphan = storage.stage(io.BytesIO(b"cut off before its file was linked"))
    running_key = blobs.start_upload()
    running = storage.stage(io.BytesIO(b"an upload still streaming"), key=running_key)
    return {"orphan": orphan, "running": running}


def _gc(client, **body):
    response = client.post("/gc", json=body)
    assert response.status_code == 200, response.json
    return response.json


def test_dry_run_reports_and_removes_nothing(client, storage, world):
    before = storage.blob_keys()
    report = _gc(client, dry_run=True, grace_seconds=3600)
    assert report == {"dry_run": True, "grace_seconds": 3600, "blobs": 1, "blob_bytes": len(PURGED),
                      "leftovers": 1, "leftover_bytes": world["orphan"].size, "multipart_uploads": 0,
                      "bytes_freed": len(PURGED) + world["orphan"].size}
    assert storage.blob_keys() == before


def test_gc_removes_what_nothing_names_and_keeps_the_rest(client, storage, world):
    report = _gc(client, grace_seconds=3600)
    assert (report["blobs"], report["blob_bytes"], report["leftovers"]) == (1, len(PURGED), 1)
    assert report["bytes_freed"] == len(PURGED) + world["orphan"].size
    remaining = storage.blob_keys()
    assert world["orphan"].key not in remaining
    assert world["running"].key in remaining  # its upload started within the grace period
    assert [b.digest for b in Blob.select()] == [hashlib.sha256(KEPT).hexdigest()]
    download = client.get("/models/M/versions/1/files/w.bin")
    assert download.status_code == 200 and download.data == KEPT
    # A second pass finds nothing; the purged bytes can be uploaded again and read back.
    assert _gc(client, grace_seconds=3600)["bytes_freed"] == 0
    again = client.post("/runs", json={}).json["run_id"]
    assert client.put(f"/runs/{again}/artifacts/p.bin", data=PURGED).status_code == 201
    assert _read_back(client, again, "p.bin") == PURGED


def test_a_recent_claim_is_spared(client, registry, storage, world):
    # Uploading the unreferenced bytes again claims the blob: gc within the grace period keeps it.
    registry.run({"again.bin": PURGED})
    report = _gc(client, grace_seconds=3600)
    assert report["blobs"] == 0
    assert Blob.get_or_none(Blob.digest == hashlib.sha256(PURGED).hexdigest()) is not None


def test_an_upload_older_than_the_grace_period_is_not_spared(client, storage, world):
    report = _gc(client, grace_seconds=0)
    assert report["leftovers"] == 2
    assert world["running"].key not in storage.blob_keys()


def test_gc_needs_an_unlimited_admin(app, client, world):
    scoped = as_token(app, make_token(client, "admin", models=["M*"], name="scoped-admin"))
    expect_error(scoped.post("/gc", json={}), 403, "forbidden")
    writer = as_token(app, make_token(client, "writer"))
    expect_error(writer.post("/gc", json={}), 403, "forbidden")
    expect_error(client.post("/gc", json={"grace_seconds": -1}), 400, "validation_error")
    expect_error(client.post("/gc", json={"dry_run": "maybe"}), 400, "validation_error")


def test_cli_gc(cli, client, storage, world):
    dry = cli("gc", "--dry-run", "--grace", "1h")
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith("would remove 1 unreferenced blob(s) (2800 bytes), 1 leftover object(s)")
    assert world["orphan"].key in storage.blob_keys()
    done = cli("gc", "--grace", "1h")
    assert done.exit_code == 0 and done.output.startswith("removed 1 unreferenced blob(s)")
    assert world["orphan"].key not in storage.blob_keys()
    bad = cli("gc", "--grace", "soon")
    assert bad.exit_code == 2 and "'soon' is not a duration" in bad.output


def test_gc_races_uploads_of_the_same_bytes(app, client, storage):
    """Round after round, an upload deduplicates onto a blob nothing names while gc removes that blob:
    whichever wins, the linked file reads back byte for byte, and no row names a missing object."""
    digest = hashlib.sha256(PURGED).hexdigest()
    first = client.post("/runs", json={}).json["run_id"]
    assert client.put(f"/runs/{first}/artifacts/x.bin", data=PURGED).status_code == 201

    def twin():
        twin = app.test_client()
        twin.environ_base.update(client.environ_base)
        return twin

    def upload():
        uploader = twin()
        run_id = uploader.post("/runs", json={}).json["run_id"]
        response = uploader.put(f"/runs/{run_id}/artifacts/x.bin", data=PURGED)
        assert response.status_code == 201, response.json
        return run_id

    removed = 0
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for _ in range(25):
            RunFile.delete().where(RunFile.sha256 == digest).execute()
            VersionFile.delete().where(VersionFile.sha256 == digest).execute()
            _age_claims()
            collected = pool.submit(lambda: _gc(twin(), grace_seconds=3600))
            run_id = pool.submit(upload).result()
            removed += collected.result()["blobs"]
            assert _read_back(client, run_id, "x.bin") == PURGED
            assert {b.key for b in Blob.select()} <= set(storage.blob_keys())
    assert removed >= 1  # gc did win some rounds


@pytest.mark.parametrize("grace", [0, 3600])
def test_gc_waits_for_an_upload_claiming_the_blob_and_keeps_it(app, storage, world, grace):
    """An upload holds the blob it deduplicated onto, uncommitted, while gc starts: gc waits for it
    (PostgreSQL: the row lock; SQLite: the write lock), sees the new file, and removes nothing it names."""
    from registry.db import write_transaction
    from registry.domain import gc
    from registry.domain.auth import SYSTEM
    from registry.domain.runs import create_run

    digest = hashlib.sha256(PURGED).hexdigest()
    key = blobs.key_of(digest)
    run_id = create_run(SYSTEM).run_id
    duplicate = storage.stage(io.BytesIO(PURGED))
    claimed, release = threading.Event(), threading.Event()

    def upload():
        with write_transaction():
            assert blobs.claim(duplicate) is False
            RunFile.create(run=run_id, path="late.bin", sha256=digest, size=len(PURGED))
            claimed.set()
            release.wait(10)

    reports = []
    uploader = threading.Thread(target=upload)
    uploader.start()
    assert claimed.wait(10)
    collector = threading.Thread(target=lambda: reports.append(gc.collect_garbage(SYSTEM, storage, grace)))
    collector.start()
    collector.join(0.5)
    assert collector.is_alive()  # waiting behind the upload's transaction
    release.set()
    uploader.join()
    collector.join(10)
    assert reports[0].blobs == 0
    assert b"".join(blobs.open_file(storage, digest)) == PURGED and blobs.key_of(digest) == key
