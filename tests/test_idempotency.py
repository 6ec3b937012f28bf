"""Idempotent retries with Idempotency-Key, on both backends."""
import datetime
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from registry import create_app
from registry import idempotency
from registry.db import database
from registry.models import ApiToken
from registry.models import IdempotencyRecord
from registry.models import utcnow
from tests.conftest import admin_token
from tests.conftest import expect_error
from tests.servers import RegistryServer


@pytest.fixture
def run_id(registry):
    return registry.run({"w.bin": b"weights"})


def _post(client, url, body, key):
    return client.post(url, json=body, headers={"Idempotency-Key": key})


def test_a_retried_registration_creates_one_version(client, run_id):
    body = {"source": f"runs:/{run_id}"}
    first = _post(client, "/models/M/versions", body, "reg-1")
    again = _post(client, "/models/M/versions", body, "reg-1")
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert [v["version"] for v in client.get("/models/M/versions").json["versions"]] == [1]
    other = _post(client, "/models/M/versions", body, "reg-2")
    assert other.json["version"] == 2


def test_a_retried_promotion_replays_instead_of_409(client, registry, run_id):
    registry.register("M", f"runs:/{run_id}")
    registry.move("M", 1, "Staging")
    first = _post(client, "/models/M/versions/1/transitions", {"stage": "Production"}, "promote-1")
    again = _post(client, "/models/M/versions/1/transitions", {"stage": "Production"}, "promote-1")
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    history = client.get("/models/M/versions/1/history").json["transitions"]
    assert [t["to_stage"] for t in history] == ["None", "Staging", "Production"]
    without_key = client.post("/models/M/versions/1/transitions", json={"stage": "Production"})
    expect_error(without_key, 409, "invalid_transition")


def test_errors_are_replayed_too(client):
    first = _post(client, "/models", {"name": "bad name"}, "k")
    again = _post(client, "/models", {"name": "bad name"}, "k")
    expect_error(first, 400, "validation_error")
    expect_error(again, 400, "validation_error")
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


def test_a_replayed_error_is_not_run_again(client, registry, run_id):
    # Refused at first (None -> Production skips Staging); by the retry the
    # move has become legal, so re-running it would promote. A replay must not.
    registry.register("M", f"runs:/{run_id}")
    first = _post(client, "/models/M/versions/1/transitions", {"stage": "Production"}, "promote")
    expect_error(first, 409, "invalid_transition")
    registry.move("M", 1, "Staging")
    again = _post(client, "/models/M/versions/1/transitions", {"stage": "Production"}, "promote")
    expect_error(again, 409, "invalid_transition")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert client.get("/models/M/versions/1").json["stage"] == "Staging"
    assert [t["to_stage"] for t in client.get("/models/M/history").json["transitions"]] == ["None", "Staging"]


def test_a_key_still_in_progress_answers_409_with_retry_after(backend_config, run_id):
    app = create_app(dict(backend_config, TESTING=True, IDEMPOTENCY_WAIT_SECONDS=1))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_token(backend_config['DATA_DIR'])}"
    body = json.dumps({"source": f"runs:/{run_id}"}).encode()
    claimed, done = threading.Event(), threading.Event()

    def twin_still_running():  # holds its claim, uncommitted, like a request mid-way
        with app.app_context():
            transaction = idempotency.begin_transaction(5)
            admin = ApiToken.get(ApiToken.name == "admin")
            request_hash = idempotency.fingerprint("POST", "/models/M/versions", "", body)
            idempotency.claim(admin.id, "busy", request_hash, 5)
            claimed.set()
            done.wait(10)
            idempotency.end_transaction(transaction, commit=False)
            database.close()

    twin = threading.Thread(target=twin_still_running)
    twin.start()
    try:
        assert claimed.wait(10)
        started = time.monotonic()
        response = client.post("/models/M/versions", data=body, content_type="application/json",
                               headers={"Idempotency-Key": "busy"})
        waited = time.monotonic() - started
    finally:
        done.set()
        twin.join()
    error = expect_error(response, 409, "idempotency_key_in_progress")
    assert error["message"] == "A request with this Idempotency-Key is still running; retry shortly."
    assert response.headers["Retry-After"] == "5"
    assert 0.9 <= waited < 5
    expect_error(client.get("/models/M"), 404, "not_found")  # nothing ran
    # The twin died without answering: its claim went with it, and the retry runs.
    retried = client.post("/models/M/versions", data=body, content_type="application/json",
                          headers={"Idempotency-Key": "busy"})
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers


@pytest.mark.parametrize("url,body", [
    ("/runs", {"name": "r"}),
    ("/models", {"name": "Keyed"}),
    ("/models/M/versions", None),
    ("/models/M/versions/1/transitions", {"stage": "Staging"}),
])
def test_every_creating_post_accepts_a_key(client, registry, run_id, url, body):
    if url != "/models/M/versions":
        registry.register("M", f"runs:/{run_id}")
    body = body or {"source": f"runs:/{run_id}"}
    first = _post(client, url, body, "k-1")
    again = _post(client, url, body, "k-1")
    assert first.status_code == again.status_code == 201, first.json
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    # token creation + one registration (+ one move): the retry wrote nothing
    assert len(client.get("/audit").json["records"]) == (3 if url.endswith("/transitions") else 2)


def test_same_key_with_another_body_is_refused(client, run_id):
    _post(client, "/models/M/versions", {"source": f"runs:/{run_id}"}, "same")
    reused = _post(client, "/models/M/versions", {"source": f"runs:/{run_id}", "description": "x"}, "same")
    error = expect_error(reused, 422, "idempotency_key_reused")
    assert error["message"] == ("This Idempotency-Key was used for a different request in the last 24 hours; "
                                "use a new key for a new request.")
    elsewhere = _post(client, "/models/N/versions", {"source": f"runs:/{run_id}"}, "same")
    expect_error(elsewhere, 422, "idempotency_key_reused")


def test_keys_are_scoped_to_the_token(app, client, run_id):
    other_value = client.post("/tokens", json={"name": "ci-2", "role": "writer"}).json["token"]
    other = app.test_client()
    other.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {other_value}"
    body = {"source": f"runs:/{run_id}"}
    assert _post(client, "/models/M/versions", body, "shared").json["version"] == 1
    assert _post(other, "/models/M/versions", body, "shared").json["version"] == 2
    # Each token's retry replays its own answer, not the other token's.
    assert _post(other, "/models/M/versions", body, "shared").json["version"] == 2
    assert _post(client, "/models/M/versions", body, "shared").json["version"] == 1


def test_a_claim_left_pending_by_an_earlier_release_does_not_lock_the_key_out(app, client, run_id):
    # Earlier releases committed the claim before the work; a crash left it pending forever.
    body = {"source": f"runs:/{run_id}"}
    with app.app_context():
        admin = ApiToken.get(ApiToken.name == "admin")
        request_hash = idempotency.fingerprint("POST", "/models/M/versions", "", json.dumps(body).encode())
        IdempotencyRecord.create(token=admin, key="stuck", request_hash=request_hash)
    first = client.post("/models/M/versions", data=json.dumps(body), content_type="application/json",
                        headers={"Idempotency-Key": "stuck"})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = client.post("/models/M/versions", data=json.dumps(body), content_type="application/json",
                        headers={"Idempotency-Key": "stuck"})
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json


def test_a_keyed_request_that_fails_with_a_server_error_keeps_nothing(backend_config):
    # A view that writes, then fails the way a bug would: its work and its claim roll back.
    from registry.api.idempotency import idempotent
    from registry.api.security import principal
    from registry.domain import service

    app = create_app(dict(backend_config, TESTING=True))

    @idempotent
    def half_done():
        service.create_model(principal(), "Half")
        raise RuntimeError("a bug after the write")

    app.add_url_rule("/half", "half", half_done, methods=["POST"])
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_token(backend_config['DATA_DIR'])}"
    expect_error(_post(client, "/half", {}, "half-1"), 500, "internal_error")
    expect_error(client.get("/models/Half"), 404, "not_found")
    with app.app_context():
        assert IdempotencyRecord.select().where(IdempotencyRecord.key == "half-1").count() == 0


def test_the_query_string_is_part_of_the_request(client):
    first = _post(client, "/runs?trace=1", {"name": "r"}, "q-1")
    assert first.status_code == 201
    again = _post(client, "/runs?trace=1", {"name": "r"}, "q-1")
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    expect_error(_post(client, "/runs?trace=2", {"name": "r"}, "q-1"), 422, "idempotency_key_reused")


def test_a_key_on_a_view_that_does_not_declare_it_is_ignored(client):
    # POST /tokens is not @idempotent: replaying it would mean storing the token it returned.
    first = _post(client, "/tokens", {"name": "once", "role": "reader"}, "t-1")
    assert first.status_code == 201
    again = _post(client, "/tokens", {"name": "once", "role": "reader"}, "t-1")
    expect_error(again, 409, "already_exists")
    assert "Idempotent-Replayed" not in again.headers


def _app_with_view(backend_config, view, rule="/custom", testing=True):
    app = create_app(dict(backend_config, TESTING=testing))
    app.add_url_rule(rule, rule.strip("/"), view, methods=["POST"])
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_token(backend_config['DATA_DIR'])}"
    return app, client


def test_a_keyed_request_whose_answer_cannot_be_recorded_keeps_nothing(backend_config):
    from registry.api.idempotency import idempotent
    from registry.api.security import principal
    from registry.domain import service

    @idempotent
    def work_then_lose_the_key_table():
        service.create_model(principal(), "Lost")
        # Makes writing the answer fail, as a database failing at that moment would
        # (DDL is transactional on both databases, so the rollback restores the table).
        database.execute_sql("ALTER TABLE idempotency_record RENAME TO idempotency_gone")
        return {"ok": True}, 201

    app, client = _app_with_view(backend_config, work_then_lose_the_key_table)
    expect_error(_post(client, "/custom", {}, "lost-1"), 503, "database_unavailable")
    expect_error(client.get("/models/Lost"), 404, "not_found")
    with app.app_context():
        assert IdempotencyRecord.select().count() == 0  # the table is back, and empty


def test_a_keyed_request_whose_response_cannot_be_finished_keeps_nothing(backend_config):
    from registry.api.idempotency import idempotent
    from registry.api.security import principal
    from registry.domain import service

    @idempotent
    def work():
        service.create_model(principal(), "Unfinished")
        return {"ok": True}, 201

    app, client = _app_with_view(backend_config, work, testing=False)  # render errors, do not raise them

    @app.after_request
    def broken_hook(response):  # registered last, so it runs before the key is recorded
        raise RuntimeError("a bug while finishing the response")

    expect_error(_post(client, "/custom", {}, "unfinished-1"), 500, "internal_error")
    with app.app_context():
        assert IdempotencyRecord.select().count() == 0
        from registry.models import RegisteredModel

        assert RegisteredModel.select().where(RegisteredModel.name == "Unfinished").count() == 0


def test_keys_expire_after_24_hours(app, client, run_id):
    _post(client, "/models/M/versions", {"source": f"runs:/{run_id}"}, "old")
    with app.app_context():
        long_ago = utcnow() - datetime.timedelta(hours=25)
        IdempotencyRecord.update(created_at=long_ago).execute()
    fresh = _post(client, "/models/M/versions", {"source": f"runs:/{run_id}", "description": "new"}, "old")
    assert fresh.status_code == 201 and fresh.json["version"] == 2


def test_invalid_keys(client):
    error = expect_error(_post(client, "/runs", {}, "has space"), 400, "validation_error")
    assert error == {"code": "validation_error",
                     "message": "Idempotency-Key must be 1-255 visible ASCII characters (a UUID is a good choice).",
                     "details": {"Idempotency-Key": ["Invalid idempotency key."]}}
    expect_error(_post(client, "/runs", {}, "x" * 256), 400, "validation_error")
    expect_error(_post(client, "/runs", {}, ""), 400, "validation_error")
    assert _post(client, "/runs", {}, "\x21" + "\x7e" * 254).status_code == 201  # the widest key allowed


@pytest.mark.servers
def test_concurrent_requests_with_one_key_do_the_work_once(backend_env):
    server = RegistryServer(backend_env, workers=2, threads=8).start()
    try:
        base, http = server.base_url, server.http
        run_id = http.post(f"{base}/runs", json={}, timeout=10).json()["run_id"]
        http.put(f"{base}/runs/{run_id}/artifacts/w.bin", data=b"w", timeout=10)

        def register(i):
            return http.post(f"{base}/models/M/versions", json={"source": f"runs:/{run_id}"},
                             headers={"Idempotency-Key": "the-one"}, timeout=60)

        with ThreadPoolExecutor(max_workers=12) as pool:
            responses = list(pool.map(register, range(12)))
        assert [r.status_code for r in responses] == [201] * 12, [r.text for r in responses]
        assert {r.json()["version"] for r in responses} == {1}
        assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 11
        versions = http.get(f"{base}/models/M/versions", timeout=10).json()["versions"]
        assert [v["version"] for v in versions] == [1]
    finally:
        server.stop()
