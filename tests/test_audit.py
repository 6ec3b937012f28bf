"""The hash-chained audit log: verification catches tampering, the database refuses
rewrites, and the log answers "what was in Production at time T". Both backends."""
import datetime
import subprocess
import sys
import time

import peewee
import pytest

from registry.db import database
from registry.db import is_postgres
from registry.domain import audit
from registry.domain.audit import GENESIS
from registry.domain.audit import record_hash
from registry.models import AuditRecord
from tests.conftest import expect_error
from tests.servers import without_registry_settings


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
    env = without_registry_settings()
    return subprocess.run([sys.executable, "-m", "registry.cli", "audit", "verify"],
                          env=dict(env, **backend_env), capture_output=True, text=True, timeout=60)


def test_intact_chain_verifies(client, activity, backend_env):
    report = _verify(client)
    # 1 token creation + 3 registrations + 5 moves (one promotion also archived version 1)
    assert report == {"ok": True, "records": 9, "head_hash": report["head_hash"], "first_bad": None, "anchored": None}
    records = client.get("/audit").json["records"]
    assert records[-1]["hash"] == report["head_hash"]
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(records, records[1:], strict=False))
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
    assert report["first_bad"] == {"id": 5, "reason": LINK_BROKEN} and report["records"] == 3


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
    assert report == {"ok": False, "records": 8, "head_hash": None, "anchored": None, "first_bad": {
        "id": 9, "reason": "the newest records are missing: the head names record 9"}}


def test_a_known_record_has_a_known_hash():
    # A change to the canonical encoding (field set, names, time format,
    # escaping) changes this digest, and every stored chain with it.
    record = AuditRecord(
        id=7, action="transition", model="TextClassifier", version=3, from_stage="Staging",
        to_stage="Production", actor="release", comment="eval passed \u2713", cause=None, subject=None,
        created_at=datetime.datetime(2026, 11, 1, 12, 0, 0, 123456), prev_hash="ab" * 32,
    )
    assert record_hash(record) == "991f0ba31f615110761e5b59940610622923cd00bc25a72dff952a74341532bd"


LINK_BROKEN = "its prev_hash does not match the record before it: a record was deleted, inserted or reordered"


def test_verify_walks_in_batches_without_skipping_or_repeating(app, activity):
    with app.app_context():
        whole = audit.verify()
        for batch_size in (1, 2, 4, 8, 9, 10):
            assert audit.verify(batch_size=batch_size) == whole
    assert whole["ok"] is True and whole["records"] == 9


# (column, record id, new value): every hashed field, edited alone, hash untouched.
# Record 1 is the admin token's creation; 5 moves v1 None -> Staging; 8 archives
# v1 with cause "replaced by version 2".
FIELD_EDITS = [
    ("action", 5, "register"),
    ("model", 5, "N"),
    ("version", 5, 2),
    ("from_stage", 5, "Staging"),
    ("to_stage", 5, "Production"),
    ("actor", 5, "mallory"),
    ("comment", 5, "nothing to see"),
    ("cause", 8, "rolled back by hand"),
    ("cause", 5, "invented"),
    ("subject", 1, "root"),
    ("created_at", 5, datetime.datetime(2020, 1, 1)),
    ("prev_hash", 5, "f" * 64),
]


@pytest.mark.parametrize("column,record_id,value", FIELD_EDITS, ids=[f"{c}-{r}" for c, r, _ in FIELD_EDITS])
def test_editing_any_hashed_field_is_found(app, client, activity, column, record_id, value):
    _unprotected(app)
    _sql(app, f"UPDATE audit_record SET {column} = %s WHERE id = %s", (value, record_id))
    report = _verify(client)
    reason = LINK_BROKEN if column == "prev_hash" else "its contents do not match its hash: the record was edited"
    assert report == {"ok": False, "records": record_id - 1, "head_hash": None, "anchored": None,
                      "first_bad": {"id": record_id, "reason": reason}}


def test_renumbering_the_newest_record_is_found(app, client, activity):
    # Moving record 9 to id 10 and the head with it keeps every hash link
    # intact; the gap in the ids (and the id inside the hash) still shows.
    _unprotected(app)
    _sql(app, "UPDATE audit_record SET id = 10 WHERE id = 9")
    _sql(app, "UPDATE audit_head SET last_id = 10")
    report = _verify(client)
    assert report["ok"] is False
    assert report["first_bad"] == {"id": 10, "reason": LINK_BROKEN} and report["records"] == 8


def test_a_forged_record_inserted_in_the_middle_is_found(app, client, activity):
    _unprotected(app)
    for record_id in range(9, 5, -1):  # make room at id 6, one row at a time
        _sql(app, "UPDATE audit_record SET id = %s WHERE id = %s", (record_id + 1, record_id))
    _sql(app, "UPDATE audit_head SET last_id = 10")
    with app.app_context():
        previous = AuditRecord.get_by_id(5)
        forged = AuditRecord(id=6, action="transition", model="M", version=3, from_stage="None",
                             to_stage="Staging", actor="admin", comment="", created_at=previous.created_at,
                             prev_hash=previous.hash)
        forged.hash = record_hash(forged)  # a forger can compute hashes
        forged.save(force_insert=True)
    report = _verify(client)
    assert report["ok"] is False
    assert report["first_bad"]["id"] == 7, report


def _forge_outside_the_chain(app, record_id):
    with app.app_context():
        forged = AuditRecord(id=record_id, action="register", model="M", version=99, to_stage="None",
                             actor="admin", comment="registered from nowhere",
                             created_at=datetime.datetime(2026, 1, 1), prev_hash=GENESIS)
        forged.hash = record_hash(forged)
        forged.save(force_insert=True)


@pytest.mark.parametrize("record_id", [0, -5])
def test_a_forged_record_outside_the_id_range_is_found(app, client, activity, record_id):
    _forge_outside_the_chain(app, record_id)
    report = _verify(client)
    assert report["ok"] is False, report
    assert report == {"ok": False, "records": 0, "head_hash": None, "anchored": None, "first_bad": {
        "id": record_id, "reason": "its id is outside the chain (ids start at 1): the record was inserted by hand"}}


def test_a_record_with_no_id_is_refused_or_found(app, client, activity):
    columns = "action, actor, comment, created_at, prev_hash, hash"
    statement = f"INSERT INTO audit_record (id, {columns}) VALUES (NULL, 'register', 'admin', '', %s, %s, %s)"
    if is_postgres():
        with pytest.raises(peewee.IntegrityError):
            _sql(app, statement, (datetime.datetime(2026, 1, 1), GENESIS, GENESIS))
        assert _verify(client)["ok"] is True
        return
    # SQLite lets a BIGINT PRIMARY KEY be NULL.
    _sql(app, statement, (datetime.datetime(2026, 1, 1), GENESIS, GENESIS))
    report = _verify(client)
    assert report["ok"] is False
    assert report["first_bad"]["id"] is None and "outside the chain" in report["first_bad"]["reason"]


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
    expect_error(client.get("/audit?since=yesterday"), 400, "validation_error")
    expect_error(client.get("/audit?since=2026-01-01T00:00:00"), 400, "validation_error")  # no time zone
    expect_error(client.get("/audit", query_string={"since": "0001-01-01T00:00:00+14:00"}), 400, "validation_error")


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
    expect_error(missing, 404, "not_found")
    assert "had no version in Production" in missing.json["error"]["message"]
    expect_error(at(while_v1, "staging"), 404, "not_found")
    assert at(before_any, "latest").json["version"] == 2
    assert at(before_any, "1").json["version"] == 1


@pytest.mark.parametrize("statement,reason", [
    ("UPDATE audit_head SET last_hash = 'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'",
     "the newest records are missing: the head names record 9"),
    ("UPDATE audit_head SET last_id = 42", "the newest records are missing: the head names record 42"),
    ("DELETE FROM audit_head", "the newest records are missing: the head names record (none)"),
])
def test_a_tampered_head_is_found(app, client, activity, statement, reason):
    _sql(app, statement)
    assert _verify(client) == {"ok": False, "records": 9, "head_hash": None, "anchored": None,
                               "first_bad": {"id": 10, "reason": reason}}


def test_time_filters_are_inclusive_since_and_exclusive_until(client, activity):
    records = client.get("/audit").json["records"]
    fifth = records[4]["created_at"]
    since = client.get("/audit", query_string={"since": fifth}).json["records"]
    assert since[0]["id"] <= 5 and [r["id"] for r in since][-1] == 9
    assert 5 in [r["id"] for r in since]
    until = client.get("/audit", query_string={"until": fifth}).json["records"]
    assert 5 not in [r["id"] for r in until] and until[-1]["id"] < 5


def test_a_page_that_ends_exactly_at_the_last_record_has_no_next_page(client, activity):
    page = client.get("/audit", query_string={"limit": 9}).json
    assert [r["id"] for r in page["records"]] == list(range(1, 10)) and page["next_page_token"] is None
    page = client.get("/audit", query_string={"limit": 8}).json
    assert page["next_page_token"] == "8"
    assert client.get("/audit", query_string={"limit": 8, "page_token": "8"}).json == {
        "records": [page_record for page_record in client.get("/audit").json["records"] if page_record["id"] == 9],
        "next_page_token": None}


def test_at_the_exact_time_of_a_move_the_move_counts(client, registry):
    run_id = registry.run({"w.bin": b"w"})
    registry.register("M", f"runs:/{run_id}")
    registry.move("M", 1, "Staging")
    moved = registry.move("M", 1, "Production")["transitions"][-1]["created_at"]
    response = client.get("/models/M/versions/production", query_string={"at": moved})
    assert response.status_code == 200 and response.json["version"] == 1


def test_a_record_appended_without_a_comment_has_an_empty_one(app):
    with app.app_context(), database.atomic():
        record = audit.append(audit.TOKEN_REVOKE, "ops", subject="gone")
    with app.app_context():
        stored = AuditRecord.get_by_id(record.id)
        assert stored.comment == "" and stored.hash == record_hash(stored)
        assert audit.verify()["ok"] is True


def test_verifying_since_a_good_report_walks_only_the_newer_records(app, client, activity, registry):
    with app.app_context():
        earlier = audit.verify()
        assert earlier["ok"] and earlier["records"] == 9
    registry.move("M", "3", "Staging")
    _unprotected(app)
    _sql(app, "UPDATE audit_record SET comment = 'edited' WHERE id = 2")  # before the earlier report's head
    with app.app_context():
        report = audit.verify(since=earlier)
        assert report["ok"] and report["records"] == 10 and report["first_bad"] is None
        assert report["head_hash"] == AuditRecord.get_by_id(10).hash
        assert audit.verify()["first_bad"]["id"] == 2  # the next full walk sees the edit
        _sql(app, "UPDATE audit_record SET comment = 'edited' WHERE id = 10")  # a newer record
        assert audit.verify(since=earlier)["first_bad"] == {
            "id": 10, "reason": "its contents do not match its hash: the record was edited"}


def test_verifying_since_a_good_report_still_checks_an_older_anchor(app, activity):
    from registry.domain.anchors import Anchor

    with app.app_context():
        earlier = audit.verify()
        good = Anchor(record_id=3, hash=AuditRecord.get_by_id(3).hash)
        assert audit.verify(good, since=earlier)["ok"] is True
        rewritten = audit.verify(Anchor(record_id=3, hash="f" * 64), since=earlier)
        assert rewritten["first_bad"] == {"id": 3, "reason": "its hash differs from the one anchored outside the "
                                                             "database: the chain was rewritten"}
