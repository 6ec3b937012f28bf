"""Stage transitions and the audit history over HTTP, on both backends."""
import peewee
import pytest

from registry.db import database
from registry.models import ModelVersion
from tests.conftest import expect_error


@pytest.fixture
def model(registry):
    run_id = registry.run({"w.bin": b"weights"})
    for _ in range(3):
        registry.register("TextClassifier", f"runs:/{run_id}")
    return "TextClassifier"


def _history(client, path):
    response = client.get(path)
    assert response.status_code == 200
    return [(t["version"], t["from_stage"], t["to_stage"]) for t in response.json["transitions"]]


def test_promotion_path_and_response(client, model):
    staged = client.post(f"/models/{model}/versions/1/transitions", json={"stage": "staging", "comment": "ci #41"})
    assert staged.status_code == 201
    assert staged.json["version"]["stage"] == "Staging"
    [record] = staged.json["transitions"]
    assert record["from_stage"] == "None" and record["to_stage"] == "Staging"
    assert record["actor"] == "admin" and record["comment"] == "ci #41" and record["cause"] is None
    assert record["model"] == model and record["version"] == 1
    promoted = client.post(f"/models/{model}/versions/1/transitions", json={"stage": "Production"})
    assert promoted.json["version"]["stage"] == "Production"
    assert client.get(f"/models/{model}").json["production_version"] == 1


def test_promoting_archives_the_previous_production_version_first(client, registry, model):
    registry.move(model, 1, "Staging")
    registry.move(model, 1, "Production")
    registry.move(model, 2, "Staging")
    result = registry.move(model, 2, "Production", comment="better recall")
    archived, promoted = result["transitions"]
    assert (archived["version"], archived["from_stage"], archived["to_stage"]) == (1, "Production", "Archived")
    assert archived["cause"] == "replaced by version 2"
    assert archived["actor"] == promoted["actor"] == "admin"
    assert (promoted["version"], promoted["from_stage"], promoted["to_stage"]) == (2, "Staging", "Production")
    assert archived["id"] < promoted["id"]
    assert client.get(f"/models/{model}/versions/1").json["stage"] == "Archived"
    assert client.get(f"/models/{model}/versions/production").json["version"] == 2


@pytest.mark.parametrize("moves,target,current,allowed", [
    ([], "Production", "None", ["Staging", "Archived"]),
    ([], "None", "None", ["Staging", "Archived"]),
    (["Staging"], "None", "Staging", ["Production", "Archived"]),
    (["Staging"], "Staging", "Staging", ["Production", "Archived"]),
    (["Staging", "Production"], "Staging", "Production", ["Archived"]),
    (["Archived"], "Staging", "Archived", []),
    (["Staging", "Production", "Archived"], "Production", "Archived", []),
])
def test_refused_moves(client, registry, model, moves, target, current, allowed):
    for stage in moves:
        registry.move(model, 1, stage)
    before = _history(client, f"/models/{model}/versions/1/history")
    response = client.post(f"/models/{model}/versions/1/transitions", json={"stage": target})
    assert response.status_code == 409
    error = response.json["error"]
    assert error["code"] == "invalid_transition"
    assert error["details"]["current_stage"] == current
    assert error["details"]["allowed_stages"] == allowed
    assert client.get(f"/models/{model}/versions/1").json["stage"] == current
    assert _history(client, f"/models/{model}/versions/1/history") == before


def test_bad_transition_requests(client, model):
    unknown = client.post(f"/models/{model}/versions/1/transitions", json={"stage": "Prod"})
    expect_error(unknown, 400, "validation_error")
    expect_error(client.post(f"/models/{model}/versions/1/transitions", json={}), 400, "validation_error")
    expect_error(client.post(f"/models/{model}/versions/1/transitions", json={"stage": 3}), 400, "validation_error")
    expect_error(client.post(f"/models/{model}/versions/9/transitions", json={"stage": "Staging"}), 404, "not_found")


def test_transition_by_stage_ref(client, registry, model):
    registry.move(model, 2, "Staging")
    moved = client.post(f"/models/{model}/versions/staging/transitions", json={"stage": "production"})
    assert moved.status_code == 201
    assert moved.json["version"]["version"] == 2


def test_history_tells_the_whole_story(client, registry, model):
    registry.move(model, 1, "Staging")
    registry.move(model, 1, "Production")
    registry.move(model, 2, "Staging")
    registry.move(model, 2, "Production")
    registry.move(model, 3, "Archived")
    assert _history(client, f"/models/{model}/history") == [
        (1, None, "None"), (2, None, "None"), (3, None, "None"),
        (1, "None", "Staging"), (1, "Staging", "Production"),
        (2, "None", "Staging"), (1, "Production", "Archived"), (2, "Staging", "Production"),
        (3, "None", "Archived"),
    ]
    assert _history(client, f"/models/{model}/versions/1/history") == [
        (1, None, "None"), (1, "None", "Staging"), (1, "Staging", "Production"), (1, "Production", "Archived"),
    ]
    first = client.get(f"/models/{model}/versions/1/history").json["transitions"][0]
    assert first["comment"].startswith("registered from runs:/")


def test_history_cannot_be_changed_through_the_api(client, model):
    for method in (client.put, client.patch, client.delete):
        response = method(f"/models/{model}/history")
        expect_error(response, 405, "method_not_allowed")
        assert response.json["error"]["code"] == "method_not_allowed"


def test_database_itself_allows_one_production_per_model(app, registry, model):
    registry.move(model, 1, "Staging")
    registry.move(model, 1, "Production")
    with app.app_context():
        with pytest.raises(peewee.IntegrityError):
            with database.atomic():
                ModelVersion.update(stage="Production").where(ModelVersion.version == 2).execute()
