"""The hash-chained audit log: verification catches tampering, the database refuses
rewrites, and the log answers "what was in Production at time T". Both backends."""
import datetime
import os
import subprocess
import sys
import time

import peewee
import pytest

from registry.db import database
from registry.db import is_postgres


@pytest.fixture
def activity(registry):
    run_id = registry.run({"w.bin": b"w"})
    registry.model("M", f"runs:/{run_id}", versions=3,
                   moves=[(1, "Staging"), (1, "Production"), (2, "Staging"), (2, "Production")])
    return run_id


def _sql(app, statement, params=()):
    with app.app_context():
        with database.atomic():
            database.execute_sql(statement.replace("%s", database.param), params)


def _unprotected(app):
    """Remove the append-only guard, as someone with direct database access could."""
    if is_postgres():
        _sql(app, "ALTER TABLE audit_record DISABLE TRIGGER USER")
    else:
        _sql(app, "DROP TRIGGER audit_record_no_update")
        _sql(app, "DROP TRIGGER audit_record_no_delete")


def _verify(client):
    response = client.get("/audit/verify")
    assert response.status_code == 200
    return response.json


def _cli_verify(backend_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    return subprocess.run([sys.executable, "-m", "registry.cli", "audit", "verify"],
                          env=dict(env, **backend_env), capture_output=True, text=True, timeout=60)


def test_intact_chain_verifies(client, activity, backend_env):
    report = _verify(client)
    # 1 token creation + 3 registrations + 5 moves (one promotion also archived version 1)
    assert report == {"ok": True, "records": 9, "head_hash": report["head_hash"], "first_bad": None}
    records = client.get("/audit").json["records"]
    assert records[-1]["hash"] == report["head_hash"]
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(records, records[1:]))
    result = _cli_verify(backend_env)
    assert result.returncode == 0 and result.stdout.startswith("ok: 9 records")


def test_database_refuses_to_rewrite_history(app, activity):
    with pytest.raises(peewee.DatabaseError):
        _sql(app, "UPDATE audit_record SET actor = 'mallory' WHERE id = 3")
    with pytest.raises(peewee.DatabaseError):
        _sql(app, "DELETE FROM audit_record WHERE id = 3")


def test_an_edited_row_is_found(app, client, activity, backend_env):
    _unprotected(app)
    _sql(app, "UPDATE audit_record SET actor = 'mallory' WHERE id = 5")
    report = _verify(client)
    assert report["ok"] is False
    assert report["first_bad"]["id"] == 5 and "edited" in report["first_bad"]["reason"]
    assert report["records"] == 4
    result = _cli_verify(backend_env)
    assert result.returncode == 1
    assert "record 5" in result.stderr


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link(app, client, activity):
    _unprotected(app)
    _sql(app, "UPDATE audit_record SET comment = 'nothing to see', hash = %s WHERE id = 5", ("f" * 64,))
    assert _verify(client)["first_bad"]["id"] == 5


def test_a_deleted_row_is_found(app, client, activity):
    _unprotected(app)
    _sql(app, "DELETE FROM audit_record WHERE id = 4")
    report = _verify(client)
    assert report["first_bad"]["id"] == 5
    assert "deleted, inserted or reordered" in report["first_bad"]["reason"]


def test_reordered_rows_are_found(app, client, activity):
    _unprotected(app)
    _sql(app, "UPDATE audit_record SET id = 1000 WHERE id = 4")
    _sql(app, "UPDATE audit_record SET id = 4 WHERE id = 6")
    _sql(app, "UPDATE audit_record SET id = 6 WHERE id = 1000")
    assert _verify(client)["first_bad"]["id"] == 4


def test_a_deleted_newest_row_is_found(app, client, activity):
    _unprotected(app)
    _sql(app, "DELETE FROM audit_record WHERE id = 9")
    report = _verify(client)
    assert report["ok"] is False
    assert "newest records are missing" in report["first_bad"]["reason"]


def test_audit_filters_and_pages(client, activity):
    everything = client.get("/audit").json
    assert [r["id"] for r in everything["records"]] == list(range(1, 10))
    assert everything["next_page_token"] is None
    model_only = client.get("/audit", query_string={"model": "M", "action": "register"}).json["records"]
    assert [r["version"] for r in model_only] == [1, 2, 3]
    assert {r["actor"] for r in client.get("/audit?actor=admin").json["records"]} == {"admin"}
    assert client.get("/audit?actor=nobody").json["records"] == []
    pages, token = [], None
    while True:
        page = client.get("/audit", query_string={"limit": 4, **({"page_token": token} if token else {})}).json
        pages.append([r["id"] for r in page["records"]])
        token = page["next_page_token"]
        if token is None:
            break
    assert pages == [[1, 2, 3, 4], [5, 6, 7, 8], [9]]
    future = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).isoformat()
    assert client.get("/audit", query_string={"since": future}).json["records"] == []
    assert len(client.get("/audit", query_string={"until": future}).json["records"]) == 9
    assert client.get("/audit?since=yesterday").status_code == 400
    assert client.get("/audit?since=2026-01-01T00:00:00").status_code == 400  # no time zone
    assert client.get("/audit", query_string={"since": "0001-01-01T00:00:00+14:00"}).status_code == 400


def test_which_version_was_in_production_at_a_time(client, registry):
    run_id = registry.run({"w.bin": b"w"})
    registry.register("M", f"runs:/{run_id}")
    registry.register("M", f"runs:/{run_id}")
    before_any = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.01)
    registry.move("M", 1, "Staging")
    registry.move("M", 1, "Production")
    time.sleep(0.01)
    while_v1 = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.01)
    registry.move("M", 2, "Staging")
    registry.move("M", 2, "Production")

    def at(when, ref="production"):
        return client.get(f"/models/M/versions/{ref}", query_string={"at": when.isoformat()})

    assert at(while_v1).json["version"] == 1
    assert at(while_v1).json["stage"] == "Archived"  # returned as it is now
    assert at(datetime.datetime.now(datetime.timezone.utc)).json["version"] == 2
    missing = at(before_any)
    assert missing.status_code == 404
    assert "had no version in Production" in missing.json["error"]["message"]
    assert at(while_v1, "staging").status_code == 404
    assert at(before_any, "latest").json["version"] == 2
    assert at(before_any, "1").json["version"] == 1
