"""A version lookup answered by registry/api/fast_reads.py is the one Flask's own path gives, byte for byte."""
import contextlib
import dataclasses
import json
import logging
from unittest import mock

import pytest
from flask import request_started

from registry import create_app
from registry.api.answer_cache import Answer
from registry.api.answer_cache import AnswerCache
from registry.api.fast_reads import FastReads
from tests.conftest import Registry
from tests.conftest import admin_token
from tests.test_auth import as_token
from tests.test_auth import make_token
from tests.test_observability import scrape
from tests.test_observability import value

ROUTE = "/models/<name>/versions/<ref>"

# Found: every kind of ref, in any case, with a trailing slash; and every way of being refused.
URLS = [
    "/models/Fraud/versions/production", "/models/Fraud/versions/PRODUCTION", "/models/Fraud/versions/staging",
    "/models/Fraud/versions/latest", "/models/Fraud/versions/1", "/models/Fraud/versions/@champion",
    "/models/Fraud/versions/2/", "/models/Other/versions/production",
    "/models/Nope/versions/1", "/models/Nope/versions/banana", "/models/Fraud/versions/9",
    "/models/Fraud/versions/99999999999", "/models/Fraud/versions/banana", "/models/Fraud/versions/@nope",
    "/models/Fraud/versions/@", "/models/Fraud/versions/archived", "/models/bad%20name/versions/1",
    "/models/Fr%C3%A4ud/versions/1", "/models/Fr%FFud/versions/1", "/models/Fraud/versions/1%00",
]


@pytest.fixture
def models(client, registry):
    run_id = client.post("/runs", json={"name": "fraud-7", "tags": {"team": "risk"}}).json["run_id"]
    logged = client.post(f"/runs/{run_id}/log", json={"params": [{"key": "lr", "value": "0.1"}],
                                                      "metrics": [{"key": "auc", "value": 0.91, "step": 3}]})
    assert logged.status_code in (200, 204), logged.json
    assert client.put(f"/runs/{run_id}/artifacts/model/w.bin", data=b"weights").status_code == 201
    registry.model("Fraud", f"runs:/{run_id}/model", versions=3, moves=[(2, "Staging"), (2, "Production"),
                                                                       (3, "Staging")])
    assert client.put("/models/Fraud/aliases/champion", json={"version": 2}).status_code in (200, 201)
    registry.model("Other", f"runs:/{run_id}/model", versions=1, moves=[(1, "Staging"), (1, "Production")])


@pytest.fixture
def flask_path(monkeypatch):
    """Switches fast reads off, in the same app: every request goes through Flask's own path."""
    return lambda: monkeypatch.setattr(FastReads, "_read_for", lambda self, environ: None)


def answers(client, urls, **kwargs):
    """What a user sees of each GET: status, headers (but the request id) and body bytes."""
    seen = []
    for url in urls:
        response = client.get(url, **kwargs)
        headers = sorted((k, v) for k, v in response.headers.items() if k != "X-Request-ID")
        seen.append((url, response.status_code, headers, response.get_data()))
        response.close()
    return seen


@contextlib.contextmanager
def flask_requests(app):
    """The requests that went through Flask's own path (its request_started signal) while inside."""
    started: list = []
    with request_started.connected_to(lambda sender, **extra: started.append(1), app):
        yield started


def test_lookups_and_refusals_match_flasks_own_path(app, client, models, flask_path):
    tokens = {"admin": client, "no token": app.test_client(),
              "bad token": as_token(app, "rgt_" + "x" * 40),
              "other model's reader": as_token(app, make_token(client, "reader", models=["Other"], name="other")),
              "Fraud reader": as_token(app, make_token(client, "reader", models=["Fr*"], name="fraud"))}
    with flask_requests(app) as started:
        fast = {who: answers(caller, URLS) for who, caller in tokens.items()}
        assert started == [], "a plain lookup went through Flask's request machinery"
        flask_path()
        slow = {who: answers(caller, URLS) for who, caller in tokens.items()}
        assert len(started) == len(URLS) * len(tokens)
    for who in tokens:
        for ours, flasks in zip(fast[who], slow[who], strict=True):
            assert ours == flasks, who
    # What they said, so that "equal" is not "equally broken".
    statuses = {(who, url): status for who in tokens for url, status, _, _ in fast[who]}
    assert statuses["admin", "/models/Fraud/versions/production"] == 200
    assert json.loads(fast["admin"][0][3])["version"] == 2
    assert json.loads(fast["admin"][5][3])["version"] == 2  # @champion
    assert statuses["admin", "/models/Fraud/versions/2/"] == 200
    assert statuses["admin", "/models/Nope/versions/1"] == 404
    assert statuses["admin", "/models/Fraud/versions/banana"] == 400
    assert statuses["no token", "/models/Fraud/versions/production"] == 401
    assert statuses["bad token", "/models/Fraud/versions/production"] == 401
    assert statuses["other model's reader", "/models/Fraud/versions/production"] == 403
    assert statuses["other model's reader", "/models/Other/versions/production"] == 200
    assert statuses["Fraud reader", "/models/Fraud/versions/latest"] == 200


@contextlib.contextmanager
def through_flask():
    """Every request inside goes through Flask's own path, which keeps no answers."""
    with mock.patch.object(FastReads, "_read_for", lambda self, environ: None):
        yield


def use_case_calls(app, monkeypatch):
    """How many times a fast read ran its use case (a served cached answer runs none)."""
    fast = app.wsgi_app._app
    calls: list = []
    for endpoint, read in list(fast._reads.items()):
        def counted(*args, _use_case=read.use_case, **kwargs):
            calls.append(1)
            return _use_case(*args, **kwargs)
        monkeypatch.setitem(fast._reads, endpoint, dataclasses.replace(read, use_case=counted))
    return calls


API = "/api/2.0/mlflow"
CACHED_URLS = ["/models/Churn/versions/production", "/models/Churn/versions/staging", "/models/Churn/versions/latest",
               "/models/Churn/versions/1", "/models/Churn/versions/2", "/models/Churn/versions/@champion",
               "/models/Spare/versions/1"]


def test_a_kept_answer_changes_with_everything_it_was_built_from(app, client, registry, monkeypatch):
    run_id = client.post("/runs", json={"name": "churn-7", "experiment": "risk"}).json["run_id"]
    assert client.post(f"/runs/{run_id}/log", json={"params": [{"key": "lr", "value": "0.1"}], "metrics": [
        {"key": "auc", "value": 0.91, "step": 3}]}).status_code in (200, 204)
    assert client.put(f"/runs/{run_id}/artifacts/model/w.bin", data=b"weights").status_code == 201
    registry.model("Churn", f"runs:/{run_id}/model", versions=3, moves=[(2, "Staging"), (2, "Production"),
                                                                       (3, "Staging")])
    assert client.put("/models/Churn/aliases/champion", json={"version": 2}).status_code in (200, 201)
    spare_run = registry.run({"w.bin": b"spare"})
    registry.register("Spare", f"runs:/{spare_run}")
    experiment_id = client.get(f"/runs/{run_id}").json["experiment_id"]
    calls = use_case_calls(app, monkeypatch)

    def ok(response):
        assert 200 <= response.status_code < 300, response
        return response

    writes = [
        ("promoted", lambda: ok(client.post("/models/Churn/versions/3/transitions", json={"stage": "Production"}))),
        ("alias moved", lambda: ok(client.put("/models/Churn/aliases/champion", json={"version": 1}))),
        ("alias deleted", lambda: ok(client.delete("/models/Churn/aliases/champion"))),
        ("version edited", lambda: ok(client.patch("/models/Churn/versions/1", json={"description": "retrained"}))),
        ("version tagged", lambda: ok(client.post(f"{API}/model-versions/set-tag", json={
            "name": "Churn", "version": "2", "key": "k", "value": "v"}))),
        ("registered", lambda: ok(client.post("/models/Churn/versions", json={"source": f"runs:/{run_id}/model"}))),
        ("version deleted", lambda: ok(client.delete(f"{API}/model-versions/delete", json={
            "name": "Churn", "version": "4"}))),
        ("metric logged", lambda: ok(client.post(f"/runs/{run_id}/log", json={"metrics": [
            {"key": "auc", "value": 0.95, "step": 9}]}))),
        ("param logged", lambda: ok(client.post(f"/runs/{run_id}/log", json={"params": [
            {"key": "epochs", "value": "12"}]}))),
        ("run renamed", lambda: ok(client.patch(f"/runs/{run_id}", json={"name": "churn-8"}))),
        ("run finished", lambda: ok(client.patch(f"/runs/{run_id}", json={"status": "FINISHED"}))),
        ("experiment renamed", lambda: ok(client.post(f"{API}/experiments/update", json={
            "experiment_id": str(experiment_id), "new_name": "risk-2"}))),
        ("model renamed", lambda: ok(client.post(f"{API}/registered-models/rename", json={
            "name": "Churn", "new_name": "Churn2"}))),
        ("model renamed back", lambda: ok(client.post(f"{API}/registered-models/rename", json={
            "name": "Churn2", "new_name": "Churn"}))),
        ("model deleted", lambda: ok(client.delete("/models/Spare"))),
        ("model made again", lambda: registry.register("Spare", f"runs:/{run_id}/model")),
    ]
    for what, write in writes:
        for _ in range(2):  # kept unchecked, then checked: what a third lookup is served from
            answers(client, CACHED_URLS)
        calls.clear()
        before = answers(client, CACHED_URLS)
        served_again = sum(1 for _, status, _, _ in before if status == 200)
        assert served_again >= 1 and len(calls) == len(CACHED_URLS) - served_again, what  # kept answers served
        write()
        ours = answers(client, CACHED_URLS)
        with through_flask():
            assert ours == answers(client, CACHED_URLS), what
        if what != "model renamed back":
            assert ours != before, what  # the write changed something a lookup shows
    assert json.loads(ours[0][3])["lineage"] == {
        "run_id": run_id, "run_name": "churn-8", "experiment_id": experiment_id, "experiment": "risk-2",
        "status": "FINISHED", "params": {"epochs": "12", "lr": "0.1"}, "metrics": {"auc": 0.95}}


def test_kept_answers_are_bounded_oldest_first():
    cache = AnswerCache(max_bytes=3 * (1000 + 512))
    for n in range(5):
        cache.put(n, Answer(basis=(), fingerprint=(n,), status="200 OK", headers=(), body=b"x" * 1000))
    assert len(cache) == 3 and cache.get(0) is None and cache.get(1) is None and cache.get(4).fingerprint == (4,)
    cache.put(2, Answer(basis=(), fingerprint=None, status="200 OK", headers=(), body=b"y"))
    assert cache.get(2).body == b"y" and len(cache) == 3
    cache.put(9, Answer(basis=(), fingerprint=None, status="200 OK", headers=(), body=b"z" * 10_000))
    assert cache.get(9) is None and len(cache) == 3  # larger than the whole cache: not kept


def test_what_fast_reads_leave_to_flask(app, client, models):
    with flask_requests(app) as started:
        at = client.get("/models/Fraud/versions/production", query_string={"at": "2000-01-01T00:00:00Z"})
        assert at.status_code == 404 and at.json["error"]["code"] == "not_found"
        assert client.head("/models/Fraud/versions/production").status_code == 200
        with_body = client.get("/models/Fraud/versions/production", data=b"{}", content_type="application/json")
        assert with_body.status_code == 200
        assert client.get("/models/Fraud").status_code == 200  # a view that declares no fast read
        assert len(started) == 4


def test_metrics_count_fast_lookups_as_any_other(app, client, models):
    reader = as_token(app, make_token(client, "reader", models=["Other"], name="other-reader"))
    # A summary is taken when the response is closed (as a WSGI server does after the last byte).
    for caller, url, status in ((reader, "/models/Other/versions/production", 200),
                                (reader, "/models/Fraud/versions/production", 403),
                                (client, "/models/Nope/versions/1", 404)):
        response = caller.get(url)
        assert response.status_code == status
        response.close()
    text = scrape(client)
    assert value(text, "registry_http_requests_total", route=ROUTE, method="GET", status="200") == 1
    assert value(text, "registry_http_requests_total", route=ROUTE, method="GET", status="403") == 1
    assert value(text, "registry_http_requests_total", route=ROUTE, method="GET", status="404") == 1
    assert value(text, "registry_http_request_duration_seconds_count", route=ROUTE, method="GET") == 3


def test_the_json_access_log_names_route_actor_and_error(backend_config):
    app = create_app(dict(backend_config, TESTING=True, LOG_FORMAT="json"))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_token(backend_config['DATA_DIR'])}"
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    access = logging.getLogger("registry.access")
    access.addHandler(handler)
    level, access.level = access.level, logging.INFO
    try:
        Registry(client).register("M", f"runs:/{Registry(client).run({'w.bin': b'w'})}")
        found = client.get("/models/M/versions/1", headers={"X-Request-ID": "deploy-7"})
        found.close()
        missing = client.get("/models/M/versions/2")
        missing.close()
    finally:
        access.removeHandler(handler)
        access.level = level
    assert found.status_code == 200 and found.headers["X-Request-ID"] == "deploy-7"
    assert missing.status_code == 404
    lookups = [(r.request_id, r.fields) for r in records if r.fields["route"] == ROUTE]
    assert [(rid, f["status"], f["actor"], f["error"]) for rid, f in lookups] == [
        ("deploy-7", 200, "admin", None), (missing.headers["X-Request-ID"], 404, "admin", "not_found")]


def test_a_fast_read_must_check_a_role_and_skip_no_hook():
    from flask import Blueprint
    from flask import Flask
    from flask.views import MethodView
    from marshmallow import Schema

    from registry.api.fast_reads import fast_read
    from registry.api.idempotency import idempotent
    from registry.api.security import public
    from registry.api.security import requires

    def app_with(get, hooked=False):
        app = Flask(__name__)
        app.config["METRICS_PORT"] = None
        blueprint = Blueprint("b", __name__)
        if hooked:
            blueprint.before_request(lambda: None)
        blueprint.add_url_rule("/x/<name>", view_func=type("View", (MethodView,), {"get": get}).as_view("x"))
        app.register_blueprint(blueprint)
        return app

    def use_case(principal, name):
        return {}

    schema = type("S", (Schema,), {})
    with pytest.raises(TypeError, match="outside the view's @requires"):
        fast_read(use_case, schema)(lambda self, name: {})

    def checked():  # a new view each time: the declarations mark the function itself
        return fast_read(use_case, schema)(requires("reader")(lambda self, name: {}))

    FastReads(app_with(checked()))  # accepted
    with pytest.raises(TypeError, match="cannot also be @public"):
        FastReads(app_with(public(checked())))
    with pytest.raises(TypeError, match="cannot also be @idempotent"):
        FastReads(app_with(idempotent(checked())))
    with pytest.raises(TypeError, match="request hooks of its own"):
        FastReads(app_with(checked(), hooked=True))
