"""Migrations keep what is there: 2 turns the stage history into a verified hash chain; 3 puts every
existing run into an experiment."""
import contextlib
import os

import pytest

from registry import create_app
from registry import migrations
from registry.db import database
from registry.domain import audit
from registry.domain.auth import SYSTEM


@contextlib.contextmanager
def _app_stopped_at(number, backend_config, monkeypatch, insert, rows):
    """An app whose database stopped at migration ``number``, with ``rows`` inserted by ``insert``."""
    os.makedirs(backend_config["DATA_DIR"], exist_ok=True)
    app = create_app(backend_config, migrate=False)
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:number])
    with database.connection_context():
        migrations.upgrade()
        for row in rows:
            database.execute_sql(insert.replace("%s", database.param), row)
    monkeypatch.undo()
    yield app
    if not database.is_closed():
        database.close()
    getattr(database.obj, "close_all", lambda: None)()


@pytest.fixture
def version_1_app(backend_config, monkeypatch):
    """Stopped at migration 1, with some stage history."""
    insert = ("INSERT INTO stage_transition (model, version, from_stage, to_stage, actor, comment, cause,"
              " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)")
    rows = [
        ("M", 1, None, "None", "anonymous", "registered from runs:/x", None, "2026-01-01 10:00:00.000001"),
        ("M", 1, "None", "Staging", "anonymous", "", None, "2026-01-02 10:00:00"),
        ("M", 1, "Staging", "Production", "anonymous", "ship", None, "2026-01-03 10:00:00.5"),
    ]
    with _app_stopped_at(1, backend_config, monkeypatch, insert, rows) as app:
        yield app


def test_upgrade_from_1_keeps_history_in_a_valid_chain(version_1_app):
    with database.connection_context():
        assert migrations.upgrade() == [2, 3, 4, 5, 6]
        assert not database.table_exists("stage_transition")
        records = audit.history(SYSTEM, "M")
        assert [(r.id, r.action, r.from_stage, r.to_stage, r.comment) for r in records] == [
            (1, "register", None, "None", "registered from runs:/x"),
            (2, "transition", "None", "Staging", ""),
            (3, "transition", "Staging", "Production", "ship"),
        ]
        assert records[0].prev_hash == audit.GENESIS
        assert records[1].prev_hash == records[0].hash
        report = audit.verify()
        assert report["ok"] and report["records"] == 3 and report["head_hash"] == records[2].hash
        # Webhooks (migration 4) start after the history that existed: it is never delivered.
        from registry.models import OutboxFollower
        assert OutboxFollower.get(OutboxFollower.name == "webhooks").cursor == 3


@pytest.fixture
def version_2_app(backend_config, monkeypatch):
    """Stopped at migration 2, with runs named by free-text experiments."""
    insert = "INSERT INTO run (run_id, name, experiment, created_at) VALUES (%s, %s, %s, %s)"
    rows = [("a" * 32, "first", "bert", "2026-01-01 10:00:00"), ("b" * 32, None, None, "2026-01-02 10:00:00"),
            ("c" * 32, "third", "bert", "2026-01-03 10:00:00"), ("d" * 32, "x", "Default", "2026-01-04 10:00:00")]
    with _app_stopped_at(2, backend_config, monkeypatch, insert, rows) as app:
        yield app


def test_upgrade_from_2_puts_every_run_in_an_experiment(version_2_app):
    from registry.domain import experiments
    from registry.domain import run_search
    from registry.domain import runs

    with database.connection_context():
        assert migrations.upgrade() == [3, 4, 5, 6]
        found, _ = run_search.search_runs(SYSTEM, order_by=["attributes.run_name ASC"])
        assert [(r.run_id[0], r.experiment_id, r.experiment, r.status, r.name) for r in found] == [
            ("a", 1, "bert", "RUNNING", "first"), ("c", 1, "bert", "RUNNING", "third"),
            ("d", 0, "Default", "RUNNING", "x"), ("b", 0, "Default", "RUNNING", None)]  # no name: last
        assert found[0].start_time.isoformat() == "2026-01-01T10:00:00"
        # The next experiment gets the next id (on PostgreSQL the sequence was moved past the given ids).
        assert experiments.create_experiment(SYSTEM, "gpt").experiment_id == 2
        assert runs.create_run(SYSTEM, experiment="gpt").experiment == "gpt"



def test_upgrade_from_4_maps_blobs_stored_under_their_digest(backend_config, monkeypatch):
    """Before migration 5, blobs were stored under their sha256; they are read there, and reused, after it."""
    import hashlib
    import io

    from registry.domain import blobs
    from registry.domain import runs
    from registry.models import Blob
    from registry.storage.keys import legacy_blob_key

    data = b"weights stored before migration 5"
    digest = hashlib.sha256(data).hexdigest()
    with _app_stopped_at(4, backend_config, monkeypatch, "SELECT 1", []) as app:
        storage = app.extensions["registry_storage"]
        storage.ensure_ready()
        with database.connection_context():
            run_id = runs.create_run(SYSTEM).run_id
            database.execute_sql("INSERT INTO run_file (run_id, path, sha256, size, created_at) VALUES "
                                 "(%s, 'w.bin', %s, %s, '2026-01-01 10:00:00')".replace("%s", database.param),
                                 (run_id, digest, len(data)))
            legacy = legacy_blob_key(digest)
            if hasattr(storage, "client"):
                storage.client.put_object(storage.bucket, legacy, io.BytesIO(data), len(data))
            else:
                os.makedirs(os.path.dirname(os.path.join(storage.root, legacy)), exist_ok=True)
                with open(os.path.join(storage.root, legacy), "wb") as f:
                    f.write(data)
            assert migrations.upgrade() == [5, 6]
            assert b"".join(blobs.open_file(storage, digest)) == data
        again, created = runs.upload_artifact(SYSTEM, storage, run_id, "copy.bin", io.BytesIO(data), 1024)
        assert created and again.sha256 == digest
        assert [(b.key, b.size) for b in Blob.select()] == [(legacy, len(data))]
        assert storage.blob_keys() == [legacy]  # the duplicate upload was not kept
