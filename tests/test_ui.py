"""The web UI, server side: sign-in and sessions, CSRF, roles, every page, actions and their refusals.

The same pages in a real browser are in test_ui_browser.py.
"""
import base64
import json
import logging
import re

import pytest

from tests.conftest import body_of
from tests.ui_helpers import csrf_of
from tests.ui_helpers import signed_in
from tests.ui_helpers import text_of

PAGES = ["/ui/models", "/ui/experiments", "/ui/experiments/0", "/ui/audit"]


@pytest.fixture
def ui(app, token):
    return signed_in(app, token)


def _token(client, name, role, models=()):
    response = client.post("/tokens", json={"name": name, "role": role, "models": list(models)})
    assert response.status_code == 201, response.json
    return response.json["token"]


def _cookie(browser):
    return browser.get_cookie("registry_session", path="/ui")


# --- sign-in and the session -------------------------------------------------------------

def test_root_redirects_to_the_ui_and_pages_need_a_session(anonymous):
    root = anonymous.get("/")
    assert root.status_code == 302 and root.headers["Location"] == "/ui/models"
    page = anonymous.get("/ui/models/TextClassifier?at=2026-01-01")
    assert page.status_code == 303
    assert page.headers["Location"] == "/ui/signin?next=/ui/models/TextClassifier%3Fat%3D2026-01-01"
    signin = anonymous.get(page.headers["Location"])
    assert signin.status_code == 200 and 'name="token"' in signin.text and 'type="password"' in signin.text


def test_sign_in_sets_a_strict_http_only_cookie_holding_no_token(app, token, caplog):
    caplog.set_level(logging.DEBUG)
    browser = app.test_client()
    csrf = csrf_of(browser.get("/ui/signin").text)
    response = browser.post("/ui/signin", data={"token": token, "csrf_token": csrf,
                                                "next": "/ui/models/X"})
    assert response.status_code == 303 and response.headers["Location"] == "/ui/models/X"
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/ui" in header
    cookie = _cookie(browser)
    payload = json.loads(base64.urlsafe_b64decode(cookie.value.split(".")[0] + "=="))
    assert set(payload) == {"_permanent", "csrf", "token_id"}
    secret = token.split("_", 2)[2]  # the secret itself may hold "_"
    for page in PAGES:
        shown = browser.get(page)
        assert shown.status_code == 200 and secret not in shown.text
    assert secret not in caplog.text and "UI sign-in as token admin" in caplog.text


def test_a_wrong_token_is_refused_on_the_page_without_echoing_it(app, token):
    browser = app.test_client()
    csrf = csrf_of(browser.get("/ui/signin").text)
    wrong = token[:-4] + "AAAA"
    response = browser.post("/ui/signin", data={"token": wrong, "csrf_token": csrf})
    assert response.status_code == 401
    assert "That token is not valid, has expired or was revoked." in response.text and wrong not in response.text
    assert browser.get("/ui/models").status_code == 303


def test_next_only_leads_to_ui_pages(app, token):
    browser = app.test_client()
    csrf = csrf_of(browser.get("/ui/signin").text)
    for target in ("https://evil.example/", "//evil.example/ui/", "/models"):
        response = browser.post("/ui/signin", data={"token": token, "csrf_token": csrf, "next": target})
        assert response.headers["Location"] == "/ui/models", target
        csrf = csrf_of(browser.get("/ui/models").text)


def test_sign_out_ends_the_session(ui):
    browser, csrf = ui
    assert browser.post("/ui/signout", data={"csrf_token": csrf}).headers["Location"] == "/ui/signin"
    assert browser.get("/ui/models").status_code == 303


def test_revoking_the_token_ends_its_sessions(app, client):
    browser, _ = signed_in(app, _token(client, "alice", "writer"))
    assert browser.get("/ui/models").status_code == 200
    assert client.delete("/tokens/alice").status_code == 204
    assert browser.get("/ui/models").status_code == 303


def test_the_apis_ignore_the_session_cookie_and_probes_need_nothing(ui, anonymous):
    browser, _ = ui
    assert browser.get("/models").status_code == 401
    assert browser.get("/api/2.0/mlflow/registered-models/search").status_code == 401
    assert anonymous.get("/healthz").status_code == 200


def test_a_form_without_its_csrf_token_is_refused(ui, registry, client):
    browser, csrf = ui
    run = registry.run({"model/w.bin": b"w"})
    registry.register("M", f"runs:/{run}/model")
    for sent in ({}, {"csrf_token": "x" * 43}):
        response = browser.post("/ui/models/M/versions/1/stage", data=dict(sent, stage="Staging", comment="go"))
        assert response.status_code == 403
        assert "This form has expired or did not come from this site" in response.text
    assert body_of(client.get("/models/M/versions/1"))["stage"] == "None"
    assert browser.post("/ui/signout", data={}).status_code == 403


# --- roles -------------------------------------------------------------------------------

def test_a_reader_sees_no_actions_and_a_forged_post_is_403(app, client, registry):
    run = registry.run({"model/w.bin": b"w"})
    registry.register("M", f"runs:/{run}/model")
    browser, csrf = signed_in(app, _token(client, "reader", "reader"))
    page = browser.get("/ui/models/M/versions/1")
    assert page.status_code == 200 and "data-move" not in page.text and "Set alias" not in page.text
    forged = browser.post("/ui/models/M/versions/1/stage", data={"csrf_token": csrf, "stage": "Staging",
                                                                  "comment": "sneaky"})
    assert forged.status_code == 403
    assert "This needs the writer role; token 'reader' has the reader role." in text_of(forged.text)
    alias = browser.post("/ui/models/M/versions/1/alias", data={"csrf_token": csrf, "alias": "champion",
                                                                 "comment": "sneaky"})
    assert alias.status_code == 403
    assert body_of(client.get("/models/M/versions/1"))["stage"] == "None"
    assert body_of(client.get("/models/M"))["aliases"] == {}


def test_buttons_follow_the_role_needed_for_each_move(app, client, registry):
    run = registry.run({"model/w.bin": b"w"})
    registry.model("M", f"runs:/{run}/model", 1, moves=[("1", "Staging")])
    writer, csrf = signed_in(app, _token(client, "writer", "writer"))
    moves = re.findall(r'data-move="(\w+)"', writer.get("/ui/models/M/versions/1").text)
    assert moves == ["Archived"]  # Staging -> Production needs a maintainer
    refused = writer.post("/ui/models/M/versions/1/stage",
                          data={"csrf_token": csrf, "stage": "Production", "comment": "ship"})
    assert refused.status_code == 403
    assert "This needs the maintainer role; token 'writer' has the writer role." in text_of(refused.text)
    maintainer, _ = signed_in(app, _token(client, "maint", "maintainer"))
    page = maintainer.get("/ui/models/M/versions/1").text
    assert re.findall(r'data-move="(\w+)"', page) == ["Production", "Archived"]


def test_a_token_limited_to_other_models_cannot_open_this_one(app, client, registry):
    run = registry.run({"model/w.bin": b"w"})
    registry.register("M", f"runs:/{run}/model")
    browser, _ = signed_in(app, _token(client, "nlp", "admin", ["nlp-*"]))
    page = browser.get("/ui/models/M")
    assert page.status_code == 403 and "it has no access to M" in page.text
    assert "M" not in re.findall(r'href="/ui/models/(\w+)"', browser.get("/ui/models").text)
    assert browser.get("/ui/audit").status_code == 403


# --- pages -------------------------------------------------------------------------------

def test_every_page_renders_for_an_empty_registry(ui):
    browser, _ = ui
    expected = {
        "/ui/models": "No models yet — register one with",
        "/ui/experiments": "Default",
        "/ui/experiments/0": "No runs yet — log one with",
        "/ui/audit": "Chain verified: ",
    }
    for page, words in expected.items():
        response = browser.get(page)
        assert response.status_code == 200, page
        assert words in text_of(response.text), page
        assert response.headers["Cache-Control"] == "no-store"
        assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'self' covers it
    assert browser.get("/ui/models/Nope").status_code == 404
    assert "Model Nope does not exist." in browser.get("/ui/models/Nope").text
    assert browser.get("/ui/runs/" + "0" * 32).status_code == 404


def test_the_model_page_shows_versions_timeline_and_the_answer_for_a_past_time(ui, registry):
    browser, _ = ui
    run = registry.run({"model/w.bin": b"w" * 2048})
    registry.model("TextClassifier", f"runs:/{run}/model", 2)
    registry.move("TextClassifier", "1", "Staging", "candidate")
    registry.move("TextClassifier", "1", "Production", "ship it")
    registry.move("TextClassifier", "2", "Staging", "next")
    registry.move("TextClassifier", "2", "Production", "better")
    page = browser.get("/ui/models/TextClassifier")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-version="(\d+)">.*?data-stage="(\w+)"', page.text, re.S)
    assert rows == [("2", "Production"), ("1", "Archived")]
    bars = re.findall(r'data-version="(\d+)" data-stage="(\w+)" data-current="(\w+)"', page.text)
    assert bars == [("1", "Staging", "false"), ("1", "Production", "false"), ("2", "Staging", "false"),
                    ("2", "Production", "true")]
    text = text_of(page.text)
    assert "admin moved version 1 Production → Archived (replaced by version 2): “better”" in text
    assert "2.0 KiB" in text
    moved = body_of(registry.client.get("/models/TextClassifier/versions/2/history"))["transitions"][-1]["created_at"]
    answer = browser.get("/ui/models/TextClassifier", query_string={"at": moved})
    assert re.search(r"Production was version 2; Staging held no version\.", text_of(answer.text))
    early = browser.get("/ui/models/TextClassifier", query_string={"at": "2000-01-01T00:00"})
    assert "Production held no version; Staging held no version." in text_of(early.text)
    bad = browser.get("/ui/models/TextClassifier?at=yesterday")
    assert "Give a time as YYYY-MM-DD HH:MM (UTC)." in bad.text


def test_actions_move_the_version_and_refusals_show_inline(ui, registry, client):
    browser, csrf = ui
    run = registry.run({"model/w.bin": b"w"})
    registry.register("M", f"runs:/{run}/model")
    done = browser.post("/ui/models/M/versions/1/stage", data={"csrf_token": csrf, "stage": "Staging",
                                                                "comment": "candidate"})
    assert done.status_code == 303 and done.headers["Location"] == "/ui/models/M/versions/1"
    page = browser.get("/ui/models/M/versions/1").text
    assert "Version 1 moved to Staging." in page and 'id="stage"><span class="badge stage-staging"' in page
    assert "admin moved it Staging → None" not in text_of(page)
    assert "moved it None → Staging: “candidate”" in text_of(page)
    again = browser.post("/ui/models/M/versions/1/stage", data={"csrf_token": csrf, "stage": "Staging",
                                                                 "comment": "twice"})
    assert again.status_code == 409
    assert "Cannot move a version from Staging to Staging." in again.text and 'role="alert"' in again.text
    silent = browser.post("/ui/models/M/versions/1/stage", data={"csrf_token": csrf, "stage": "Archived",
                                                                  "comment": "  "})
    assert silent.status_code == 400 and "every action needs a comment" in silent.text
    alias = browser.post("/ui/models/M/versions/1/alias", data={"csrf_token": csrf, "alias": "champion",
                                                                 "comment": "best so far"})
    assert alias.status_code == 303
    assert body_of(client.get("/models/M"))["aliases"] == {"champion": 1}
    bad = browser.post("/ui/models/M/versions/1/alias", data={"csrf_token": csrf, "alias": "v2", "comment": "x"})
    assert bad.status_code == 400
    gone = browser.post("/ui/models/M/versions/1/alias/delete", data={"csrf_token": csrf, "alias": "champion",
                                                                       "comment": "retire"})
    assert gone.status_code == 303 and body_of(client.get("/models/M"))["aliases"] == {}
    history = body_of(client.get("/models/M/history"))["transitions"]
    assert [(h["action"], h["comment"]) for h in history][1:] == [
        ("transition", "candidate"), ("alias_set", "best so far"), ("alias_delete", "retire")]


def test_files_download_with_their_bytes_and_images_preview(ui, registry):
    browser, _ = ui
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    run = registry.run({"model/w.bin": b"weights" * 1000, "plots/confusion.png": png,
                        "plots/evil.svg": b"<svg onload=alert(1)>"})
    registry.register("M", f"runs:/{run}/model")
    page = browser.get("/ui/models/M/versions/1").text
    assert ('curl -fH "Authorization: Bearer $REGISTRY_TOKEN" -o M-v1.tar '
            'http://localhost/models/M/versions/1/archive') in text_of(page)
    weights = browser.get("/ui/models/M/versions/1/files/w.bin")
    assert weights.status_code == 200 and weights.data == b"weights" * 1000
    assert weights.headers["Content-Type"] == "application/octet-stream"
    # The same header as the API's downloads: a plain name and the exact one (RFC 6266).
    assert weights.headers["Content-Disposition"] == "attachment; filename=\"w.bin\"; filename*=UTF-8''w.bin"
    run_page = browser.get(f"/ui/runs/{run}").text
    assert f'<img src="/ui/runs/{run}/files/plots/confusion.png"' in run_page
    assert f'<img src="/ui/runs/{run}/files/plots/evil.svg"' not in run_page
    image = browser.get(f"/ui/runs/{run}/files/plots/confusion.png")
    assert image.data == png and image.headers["Content-Type"] == "image/png"
    assert image.headers["Content-Disposition"] == "inline; filename=\"confusion.png\"; filename*=UTF-8''confusion.png"
    svg = browser.get(f"/ui/runs/{run}/files/plots/evil.svg")
    assert svg.headers["Content-Type"] == "application/octet-stream"
    assert svg.headers["Content-Disposition"].startswith("attachment")
    assert browser.get(f"/ui/runs/{run}/files/plots/nope.png").status_code == 404
    assert browser.get("/ui/models/M/versions/1/files/../w.bin").status_code in (400, 404)


def _log(client, run_id, params, metrics):
    response = client.post(f"/runs/{run_id}/log", json={
        "params": [{"key": k, "value": v} for k, v in params.items()],
        "metrics": [{"key": k, "value": v, "step": s, "timestamp": 1000 + s} for k, points in metrics.items()
                    for s, v in enumerate(points)]})
    assert response.status_code == 200, response.json


def test_runs_list_filters_sorts_and_compares(ui, registry, client):
    browser, _ = ui
    runs = []
    for lr, accuracy in (("0.1", [0.5, 0.7]), ("0.01", [0.6, 0.9]), ("0.001", [0.55, 0.8])):
        run = registry.run({}, name=f"lr-{lr}", experiment="clf")
        _log(client, run, {"lr": lr, "epochs": "2"}, {"acc": accuracy, "loss": [1.0, 0.5]})
        runs.append(run)
    experiment = body_of(client.get("/experiments/clf"))["experiment_id"]
    page = browser.get(f"/ui/experiments/{experiment}?order_by=metrics.`acc` DESC")
    assert re.findall(r'<tr data-run="(\w+)">', page.text) == [runs[1], runs[2], runs[0]]
    filtered = browser.get(f"/ui/experiments/{experiment}?filter=params.lr = '0.1'")
    assert re.findall(r'<tr data-run="(\w+)">', filtered.text) == [runs[0]]
    broken = browser.get(f"/ui/experiments/{experiment}?filter=metrics.acc >> 1")
    assert broken.status_code == 400 and 'role="alert"' in broken.text
    compare = browser.get("/ui/compare?" + "&".join(f"run={r}" for r in runs))
    assert compare.status_code == 200
    differs = re.findall(r'data-differs="(\w+)"><th scope="row">(\w+)', compare.text)
    assert differs == [("false", "epochs"), ("true", "lr")]
    charts = json.loads(re.search(r'id="chart-data">(.*?)</script>', compare.text, re.S).group(1))
    assert [c["key"] for c in charts] == ["acc", "loss"]
    assert [len(c["series"]) for c in charts] == [3, 3]
    assert charts[0]["steps"] == [0, 1] and charts[0]["series"][1] == {"name": "lr-0.01", "values": [0.6, 0.9]}
    assert browser.get(f"/ui/compare?run={runs[0]}").status_code == 400


def test_charts_thin_long_histories_and_show_gaps_for_nan(ui, registry, client):
    browser, _ = ui
    long_run = registry.run({}, name="long", experiment="clf")
    for start in range(0, 3000, 1000):
        client.post(f"/runs/{long_run}/log", json={"metrics": [
            {"key": "loss", "value": 1 / (s + 1), "step": s, "timestamp": 1} for s in range(start, start + 1000)]})
    short = registry.run({}, name="short", experiment="clf")
    client.post(f"/runs/{short}/log", json={"metrics": [{"key": "loss", "value": "NaN", "step": 0, "timestamp": 1},
                                                          {"key": "loss", "value": 0.5, "step": 1, "timestamp": 1}]})
    compare = browser.get(f"/ui/compare?run={long_run}&run={short}")
    chart = json.loads(re.search(r'id="chart-data">(.*?)</script>', compare.text, re.S).group(1))[0]
    long_values = [v for v in chart["series"][0]["values"] if v is not None]
    assert 900 <= len(long_values) <= 1001 and chart["steps"][-1] == 2999
    assert [chart["series"][1]["values"][i] for i in (0, 1)] == [None, 0.5]


def test_the_audit_page_filters_and_reports_the_chain(ui, registry):
    browser, _ = ui
    run = registry.run({"model/w.bin": b"w"})
    registry.register("A", f"runs:/{run}/model")
    registry.register("B", f"runs:/{run}/model")
    page = browser.get("/ui/audit?model=B")
    text = text_of(page.text)
    assert "Chain verified: 3 records." in text  # the admin token's creation and two registrations
    assert re.findall(r'<td><a href="/ui/audit\?model=(\w)">', page.text) == ["B"]
    nobody = browser.get("/ui/audit?actor=nobody")
    assert "No records match." in text_of(nobody.text)


def test_every_domain_code_has_an_http_status_for_the_ui():
    from registry.domain.errors import CODES
    from registry.http_status import STATUS

    assert set(CODES) <= set(STATUS)
    assert all(400 <= status < 600 for status in STATUS.values())


# --- the signing key -----------------------------------------------------------------------

def test_the_signing_key_is_kept_in_the_data_dir_and_survives_a_restart(backend_config, token, app):
    import os
    import stat

    from registry import create_app

    path = os.path.join(backend_config["DATA_DIR"], "secret.key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    browser, _ = signed_in(app, token)
    restarted = create_app(dict(backend_config, TESTING=True), migrate=False).test_client()
    restarted.set_cookie("registry_session", _cookie(browser).value, path="/ui")
    assert restarted.get("/ui/models").status_code == 200


def test_instances_sharing_a_secret_key_share_sessions_and_others_refuse_them(backend_config, token):
    from registry import create_app

    first = create_app(dict(backend_config, TESTING=True, SECRET_KEY="k" * 40))
    second = create_app(dict(backend_config, TESTING=True, SECRET_KEY="k" * 40), migrate=False)
    other = create_app(dict(backend_config, TESTING=True, SECRET_KEY="o" * 40), migrate=False)
    browser, _ = signed_in(first, token)
    for app, status in ((second, 200), (other, 303)):
        client = app.test_client()
        client.set_cookie("registry_session", _cookie(browser).value, path="/ui")
        assert client.get("/ui/models").status_code == status


def test_secure_cookies_and_key_settings_are_checked(backend_config, token):
    from registry import create_app
    from registry.config import ConfigError

    app = create_app(dict(backend_config, TESTING=True, COOKIE_SECURE="1"))
    browser = app.test_client()
    csrf = csrf_of(browser.get("/ui/signin").text)
    response = browser.post("/ui/signin", data={"token": token, "csrf_token": csrf})
    assert "Secure" in response.headers["Set-Cookie"]
    with pytest.raises(ConfigError, match="REGISTRY_SECRET_KEY: must be at least 32 characters"):
        create_app(dict(backend_config, SECRET_KEY="short"))
    with pytest.raises(ConfigError, match="REGISTRY_COOKIE_SECURE: expected 0 or 1, got 'yes'"):
        create_app(dict(backend_config, COOKIE_SECURE="yes"))


def test_the_audit_page_walks_the_whole_chain_again_after_a_while(app, ui, registry, monkeypatch):
    from registry import chain_check
    from registry.db import database
    from registry.db import is_postgres

    browser, _ = ui
    run = registry.run({"model/w.bin": b"w"})
    registry.register("A", f"runs:/{run}/model")
    assert "Chain verified: 2 records." in text_of(browser.get("/ui/audit").text)
    with app.app_context(), database.atomic():
        if is_postgres():
            database.execute_sql("ALTER TABLE audit_record DISABLE TRIGGER USER")
        else:
            database.execute_sql("DROP TRIGGER audit_record_no_update")
        database.execute_sql("UPDATE audit_record SET comment = 'edited' WHERE id = 1")
    monkeypatch.setattr(chain_check, "FULL_WALK_EVERY", 0.0)
    page = browser.get("/ui/audit")
    assert "Chain broken at record 1: its contents do not match its hash: the record was edited" in text_of(page.text)
