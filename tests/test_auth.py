"""Tokens and roles over HTTP, on both backends."""
import logging
import os
import time

import pytest

from registry import create_app
from registry.db import database
from registry.domain import auth
from registry.models import ApiToken
from registry.models import utcnow
from tests.conftest import admin_token
from tests.conftest import expect_error

ROLES = ["reader", "writer", "maintainer", "admin"]


@pytest.fixture
def world(client, registry):
    """Model M with versions 1 (Production), 2 (Staging), 3 and 4 (None); a run; model Gone."""
    run_id = registry.run({"w.bin": b"weights"})
    registry.model("M", f"runs:/{run_id}", versions=4, moves=[(1, "Staging"), (1, "Production"), (2, "Staging")])
    registry.register("Gone", f"runs:/{run_id}")
    return run_id


def make_token(client, role, models=(), name=None):
    response = client.post("/tokens", json={"name": name or f"t-{role}", "role": role, "models": list(models)})
    assert response.status_code == 201, response.json
    return response.json["token"]


def as_token(app, value):
    other = app.test_client()
    other.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {value}"
    return other


# (method, url, json body or raw bytes, the least role that may do it)
OPERATIONS = [
    ("get", "/models", None, "reader"),
    ("get", "/models/M", None, "reader"),
    ("get", "/models/M/versions", None, "reader"),
    ("get", "/models/M/versions/production/files/w.bin", None, "reader"),
    ("get", "/models/M/versions/production/archive", None, "reader"),
    ("get", "/models/M/history", None, "reader"),
    ("get", "/runs/{run}/artifacts", None, "reader"),
    ("get", "/audit", None, "reader"),
    ("get", "/audit/verify", None, "reader"),
    ("post", "/runs", {}, "writer"),
    ("put", "/runs/{run}/artifacts/new.bin", b"new", "writer"),
    ("post", "/models", {"name": "Fresh"}, "writer"),
    ("patch", "/models/M", {"description": "d"}, "writer"),
    ("post", "/models/M/versions", {"source": "runs:/{run}"}, "writer"),
    ("patch", "/models/M/versions/3", {"tags": {"a": "b"}}, "writer"),
    ("post", "/models/M/versions/3/transitions", {"stage": "Staging"}, "writer"),
    ("post", "/models/M/versions/4/transitions", {"stage": "Archived"}, "writer"),
    ("post", "/models/M/versions/2/transitions", {"stage": "Archived"}, "writer"),
    ("post", "/models/M/versions/2/transitions", {"stage": "Production"}, "maintainer"),
    ("post", "/models/M/versions/1/transitions", {"stage": "Archived"}, "maintainer"),
    ("delete", "/models/Gone", None, "maintainer"),
    ("get", "/tokens", None, "admin"),
    ("post", "/tokens", {"name": "new-one", "role": "reader"}, "admin"),
    ("delete", "/tokens/victim", None, "admin"),
]


@pytest.mark.parametrize("method,url,body,needed", OPERATIONS, ids=[f"{m} {u} {b}" for m, u, b, _ in OPERATIONS])
def test_each_role_against_each_operation(app, client, world, method, url, body, needed):
    make_token(client, "reader", name="victim")
    tokens = {role: make_token(client, role) for role in ROLES}
    url = url.format(run=world)
    if isinstance(body, dict):
        body = {k: (v.format(run=world) if isinstance(v, str) else v) for k, v in body.items()}
    for role in ROLES:
        caller = as_token(app, tokens[role])
        kwargs = {"json": body} if isinstance(body, dict) else {"data": body} if body else {}
        response = getattr(caller, method)(url, **kwargs)
        if ROLES.index(role) < ROLES.index(needed):
            expect_error(response, 403, "forbidden")
            assert response.json["error"]["code"] == "forbidden"
            assert f"needs the {needed} role" in response.json["error"]["message"]
        else:
            assert response.status_code < 300, (role, response.status_code, response.get_json())
            break  # it changed state; stronger roles include this one's rights


def test_missing_bad_expired_and_revoked_tokens_are_401(app, anonymous, client):
    def assert_401(response):
        expect_error(response, 401, "unauthorized")
        assert response.json["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

    assert_401(anonymous.get("/models"))
    assert_401(as_token(app, "rgt_0123456789abcdef_" + "A" * 43).get("/models"))
    assert_401(as_token(app, "not-a-token").get("/models"))
    basic = app.test_client()
    basic.environ_base["HTTP_AUTHORIZATION"] = "Basic dXNlcjpwYXNz"
    assert_401(basic.get("/models"))

    expiring = make_token(client, "reader", name="short")
    assert as_token(app, expiring).get("/models").status_code == 200
    with app.app_context():
        ApiToken.update(expires_at=utcnow()).where(ApiToken.name == "short").execute()
    time.sleep(auth._VerifiedTokens.TTL)  # a verified token is trusted that long without a query
    assert_401(as_token(app, expiring).get("/models"))

    revoked = make_token(client, "reader", name="gone")
    assert client.delete("/tokens/gone").status_code == 204
    assert_401(as_token(app, revoked).get("/models"))
    # The name is free again once revoked.
    assert client.post("/tokens", json={"name": "gone", "role": "reader"}).status_code == 201


def test_probes_and_spec_are_open(anonymous):
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/readyz").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200
    # A load balancer's probe may be a HEAD: it is the GET's view, open as the GET is.
    for probe in ("/healthz", "/readyz"):
        answer = anonymous.head(probe)
        assert (answer.status_code, answer.data) == (200, b""), probe
    assert anonymous.head("/models").status_code == 401


def test_model_scoped_token(app, client, world):
    scoped = as_token(app, make_token(client, "writer", models=["nlp-*"], name="nlp-ci"))
    registered = scoped.post("/models/nlp-bert/versions", json={"source": f"runs:/{world}"})
    assert registered.status_code == 201
    outside = scoped.post("/models/TextClassifier/versions", json={"source": f"runs:/{world}"})
    expect_error(outside, 403, "forbidden")
    assert "limited to models nlp-*" in outside.json["error"]["message"]
    expect_error(scoped.get("/models/M"), 403, "forbidden")
    expect_error(scoped.get("/models/M/versions/1/files/w.bin"), 403, "forbidden")
    expect_error(scoped.post("/models", json={"name": "other"}), 403, "forbidden")
    expect_error(scoped.post("/models/nlp-x/versions", json={"source": "models:/M/1"}), 403, "forbidden")
    assert [m["name"] for m in scoped.get("/models").json["models"]] == ["nlp-bert"]
    expect_error(scoped.get("/audit"), 403, "forbidden")
    # Runs are shared by all writers; they belong to no model.
    assert scoped.post("/runs").status_code == 201


def test_actor_is_the_token_name_and_token_events_are_audited(app, client, world):
    ci = as_token(app, make_token(client, "maintainer", name="release-bot"))
    moved = ci.post("/models/M/versions/2/transitions", json={"stage": "Production"})
    assert [r["actor"] for r in moved.json["transitions"]] == ["release-bot", "release-bot"]
    client.delete("/tokens/release-bot")
    events = client.get("/audit", query_string={"action": "token_create"}).json["records"]
    assert [(e["actor"], e["subject"]) for e in events][-1] == ("admin", "release-bot")
    revokes = client.get("/audit", query_string={"action": "token_revoke"}).json["records"]
    assert [(e["actor"], e["subject"]) for e in revokes] == [("admin", "release-bot")]


def test_a_token_cannot_revoke_itself(client):
    response = client.delete("/tokens/admin")
    expect_error(response, 403, "forbidden")
    assert client.get("/tokens").status_code == 200


def test_token_values_are_shown_once_and_never_logged(app, client, caplog):
    caplog.set_level(logging.DEBUG)
    value = make_token(client, "writer", name="secretive")
    listed = client.get("/tokens").json["tokens"]
    assert "secretive" in [t["name"] for t in listed]
    assert all("token" not in t and "secret_hash" not in t for t in listed)
    as_token(app, value).get("/models")
    as_token(app, value + "x").get("/models")
    assert value not in caplog.text
    assert value.split("_", 2)[2] not in caplog.text  # the secret may itself contain "_"


def test_token_validation(client):
    expect_error(client.post("/tokens", json={"name": "x", "role": "superuser"}), 400, "validation_error")
    expect_error(client.post("/tokens", json={"name": "bad name", "role": "reader"}), 400, "validation_error")
    expect_error(client.post("/tokens", json={"name": "x", "role": "reader", "expires_in_days": 0}), 400, "validation_error")
    expect_error(client.post("/tokens", json={"name": "x", "role": "reader", "models": ["a b"]}), 400, "validation_error")
    expect_error(client.post("/tokens", json={"name": "admin", "role": "reader"}), 409, "already_exists")
    expect_error(client.delete("/tokens/nobody"), 404, "not_found")


def test_first_start_writes_an_admin_token_once(backend_config, caplog):
    caplog.set_level(logging.INFO)
    create_app(backend_config)
    path = os.path.join(backend_config["DATA_DIR"], "admin.token")
    token = admin_token(backend_config["DATA_DIR"])
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert path in caplog.text and token not in caplog.text
    create_app(backend_config)
    assert admin_token(backend_config["DATA_DIR"]) == token
    with database.connection_context():
        assert [t.name for t in auth.list_tokens(auth.SYSTEM)] == ["admin"]
    database.close() if not database.is_closed() else None
    getattr(database.obj, "close_all", lambda: None)()


def test_roles_include_the_ones_before():
    maintainer = auth.Principal(name="m", role="maintainer")
    assert maintainer.has_role("reader") and maintainer.has_role("writer") and maintainer.has_role("maintainer")
    assert not maintainer.has_role("admin")
    assert auth.role_for_transition("Staging", "Production") == "maintainer"
    assert auth.role_for_transition("Production", "Archived") == "maintainer"
    assert auth.role_for_transition("None", "Staging") == "writer"


# (creator role, creator patterns, requested role, requested patterns, allowed)
SCOPE_MATRIX = [
    ("admin", ["nlp-*"], "admin", [], False),  # unlimited is within no limit
    ("admin", ["nlp-*"], "writer", [], False),
    ("admin", ["nlp-*"], "admin", ["nlp-*"], True),
    ("admin", ["nlp-*"], "reader", ["nlp-bert"], True),  # a name the pattern matches
    ("admin", ["nlp-*"], "reader", ["nlp-bert", "cv-resnet"], False),
    ("admin", ["nlp-*"], "reader", ["*"], False),
    ("admin", ["nlp-*"], "reader", ["nlp-b*"], False),  # narrower in fact, but globs are not compared
    ("admin", ["nlp-*", "cv-*"], "writer", ["cv-*", "nlp-x"], True),
    ("admin", [], "admin", [], True),
    ("admin", [], "reader", ["*"], True),
]


@pytest.mark.parametrize("role,patterns,new_role,new_patterns,allowed", SCOPE_MATRIX)
def test_a_token_only_creates_tokens_within_its_reach(app, client, role, patterns, new_role, new_patterns, allowed):
    creator = as_token(app, make_token(client, role, models=patterns, name="creator"))
    response = creator.post("/tokens", json={"name": "made", "role": new_role, "models": new_patterns})
    if allowed:
        assert response.status_code == 201, response.json
        assert response.json["models"] == new_patterns
    else:
        error = expect_error(response, 403, "forbidden")
        assert "limited to models" in error["message"]
        assert "made" not in [t["name"] for t in client.get("/tokens").json["tokens"]]


def test_a_limited_admin_cannot_reach_wider_tokens(app, client):
    make_token(client, "reader", name="wide-reader")
    make_token(client, "reader", models=["nlp-*"], name="nlp-reader")
    make_token(client, "reader", models=["nlp-*", "cv-*"], name="mixed-reader")
    limited = as_token(app, make_token(client, "admin", models=["nlp-*"], name="nlp-admin"))
    # The first-start admin and other unlimited tokens are out of its reach.
    for name in ("admin", "wide-reader", "mixed-reader"):
        error = expect_error(limited.delete(f"/tokens/{name}"), 403, "forbidden")
        assert "wider reach" in error["message"]
    assert [t["name"] for t in limited.get("/tokens").json["tokens"]] == ["nlp-reader", "nlp-admin"]
    assert limited.delete("/tokens/nlp-reader").status_code == 204
    assert client.get("/models").status_code == 200  # the unlimited admin still works
    error = expect_error(limited.delete("/tokens/nlp-admin"), 403, "forbidden")
    assert "cannot revoke itself" in error["message"]


def test_a_writer_cannot_create_a_higher_role(app, client):
    limited_admin = as_token(app, make_token(client, "admin", models=["nlp-*"], name="nlp-admin"))
    assert limited_admin.post("/tokens", json={"name": "a2", "role": "admin", "models": ["nlp-*"]}).status_code == 201
    writer = as_token(app, make_token(client, "writer", name="w"))
    expect_error(writer.post("/tokens", json={"name": "x", "role": "reader"}), 403, "forbidden")
