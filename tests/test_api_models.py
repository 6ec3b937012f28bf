"""Models over HTTP: create, browse, edit, delete."""
import pytest

from registry import create_app
from tests.conftest import admin_token
from tests.conftest import expect_error


def test_create_and_get(client):
    created = client.post("/models", json={"name": "TextClassifier", "description": "spam", "tags": {"team": "nlp"}})
    assert created.status_code == 201
    body = created.json
    assert body["name"] == "TextClassifier"
    assert body["description"] == "spam"
    assert body["tags"] == {"team": "nlp"}
    assert body["latest_version"] is None
    assert body["production_version"] is None
    assert body["created_at"].endswith("Z") and body["updated_at"].endswith("Z")
    assert client.get("/models/TextClassifier").json == body


def test_duplicate_name_conflicts(client):
    client.post("/models", json={"name": "M"})
    again = client.post("/models", json={"name": "M"})
    expect_error(again, 409, "already_exists")


def test_list_filter_and_pages(client):
    for name in ["alpha", "beta", "gamma", "alphabet", "delta_1"]:
        assert client.post("/models", json={"name": name}).status_code == 201
    expect_error(client.post("/models", json={"name": "delta%1"}), 400, "validation_error")
    everything = client.get("/models").json
    names = [m["name"] for m in everything["models"]]
    assert names == sorted(names)
    assert everything["next_page_token"] is None
    assert [m["name"] for m in client.get("/models?q=alpha").json["models"]] == ["alpha", "alphabet"]
    # '_' is a literal, not a LIKE wildcard.
    assert [m["name"] for m in client.get("/models?q=p_a").json["models"]] == []
    assert [m["name"] for m in client.get("/models?q=a_").json["models"]] == ["delta_1"]
    seen, token = [], None
    while True:
        page = client.get("/models", query_string={"limit": 2, **({"page_token": token} if token else {})}).json
        assert len(page["models"]) <= 2
        seen += [m["name"] for m in page["models"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == names


def test_bad_list_parameters(client):
    expect_error(client.get("/models?limit=0"), 400, "validation_error")
    expect_error(client.get("/models?limit=abc"), 400, "validation_error")
    # A page token is the last name seen; any string is a valid starting point.
    assert client.get("/models?page_token=zzz").json == {"models": [], "next_page_token": None}


def test_patch_description_and_tags(client):
    client.post("/models", json={"name": "M", "tags": {"a": "1"}})
    patched = client.patch("/models/M", json={"description": "new", "tags": {"b": "2"}})
    assert patched.status_code == 200
    assert patched.json["description"] == "new"
    assert patched.json["tags"] == {"b": "2"}
    unchanged = client.patch("/models/M", json={})
    assert unchanged.status_code == 200
    assert unchanged.json == patched.json
    expect_error(client.patch("/models/M", json={"tags": {"k": 1}}), 400, "validation_error")
    expect_error(client.patch("/models/Nope", json={"description": "x"}), 404, "not_found")


def test_delete_is_refused_while_in_staging_or_production(client, registry):
    run_id = registry.run({"m.bin": b"m"})
    registry.register("M", f"runs:/{run_id}/m.bin")
    registry.move("M", 1, "Staging")
    refused = client.delete("/models/M")
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "model_in_use"
    assert refused.json["error"]["details"]["versions"] == [{"version": 1, "stage": "Staging"}]
    registry.move("M", 1, "Archived")
    assert client.delete("/models/M").status_code == 204
    expect_error(client.get("/models/M"), 404, "not_found")
    expect_error(client.get("/models/M/versions"), 404, "not_found")
    [deleted] = client.get("/audit", query_string={"action": "model_delete"}).json["records"]
    assert (deleted["model"], deleted["actor"], deleted["version"]) == ("M", "admin", None)


def test_history_outlives_the_model_and_numbers_are_never_reused(client, registry):
    run_id = registry.run({"m.bin": b"m"})
    registry.register("M", f"runs:/{run_id}")
    registry.register("M", f"runs:/{run_id}")
    assert client.delete("/models/M").status_code == 204
    kept = client.get("/models/M/history")
    assert kept.status_code == 200
    assert [(t["version"], t["to_stage"]) for t in kept.json["transitions"]] == [(1, "None"), (2, "None")]
    again = registry.register("M", f"runs:/{run_id}")
    assert again["version"] == 3
    expect_error(client.get("/models/NeverExisted/history"), 404, "not_found")


def test_invalid_model_names_and_bodies(client):
    expect_error(client.post("/models", json={"name": "bad name"}), 400, "validation_error")
    expect_error(client.post("/models", json={"name": "x" * 129}), 400, "validation_error")
    expect_error(client.post("/models", json={"name": 5}), 400, "validation_error")
    expect_error(client.post("/models", json={}), 400, "validation_error")
    expect_error(client.post("/models", json=["M"]), 400, "validation_error")
    expect_error(client.get("/models/" + "x" * 200), 400, "validation_error")


def test_a_model_created_again_continues_its_version_numbers(client, registry):
    run_id = registry.run({"m.bin": b"m"})
    registry.model("M", f"runs:/{run_id}", versions=2)
    assert client.delete("/models/M").status_code == 204
    recreated = client.post("/models", json={"name": "M"})
    assert recreated.status_code == 201 and recreated.json["latest_version"] is None
    assert registry.register("M", f"runs:/{run_id}")["version"] == 3
    history = client.get("/models/M/history").json["transitions"]
    assert [(t["version"], t["to_stage"]) for t in history] == [(1, "None"), (2, "None"), (3, "None")]


@pytest.mark.parametrize("moves,busy", [
    ([(1, "Staging"), (1, "Production")], [{"version": 1, "stage": "Production"}]),
    ([(1, "Staging"), (1, "Production"), (2, "Staging")],
     [{"version": 1, "stage": "Production"}, {"version": 2, "stage": "Staging"}]),
])
def test_delete_is_refused_while_in_production(client, registry, moves, busy):
    run_id = registry.run({"m.bin": b"m"})
    registry.model("M", f"runs:/{run_id}", versions=2, moves=moves)
    error = expect_error(client.delete("/models/M"), 409, "model_in_use")
    assert error["details"]["versions"] == busy
    assert "archive them before deleting" in error["message"]
    assert client.get("/models/M").json["production_version"] == 1
    assert client.get("/audit", query_string={"action": "model_delete"}).json["records"] == []


def test_page_size_setting_is_the_default_limit(backend_config):
    app = create_app(dict(backend_config, TESTING=True, PAGE_SIZE=2))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_token(backend_config['DATA_DIR'])}"
    for name in ["a", "b", "c"]:
        assert client.post("/models", json={"name": name}).status_code == 201
    first = client.get("/models").json
    assert [m["name"] for m in first["models"]] == ["a", "b"]
    assert first["next_page_token"] == "b"
    assert [m["name"] for m in client.get("/models?page_token=b").json["models"]] == ["c"]
    assert len(client.get("/models?limit=3").json["models"]) == 3
