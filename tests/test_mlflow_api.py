"""The MLflow surface over HTTP, on both backends: its wire format, its envelope, and our rules in it."""
import base64
import json

import pytest

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def expect_mlflow_error(response, status, error_code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.json
    assert set(body) == {"error_code", "message"} and body["error_code"] == error_code, body
    assert body["message"] and "Traceback" not in body["message"]
    return body["message"]


@pytest.fixture
def run(client):
    experiment = client.post(f"{API}/experiments/create", json={"name": "exp"}).json["experiment_id"]
    return client.post(f"{API}/runs/create", json={"experiment_id": experiment, "run_name": "r1",
                                                   "start_time": 1700000000000}).json["run"]


def test_runs_carry_mlflow_shapes(client, run):
    info = run["info"]
    assert info["run_id"] == info["run_uuid"] and len(info["run_id"]) == 32
    assert (info["run_name"], info["status"], info["start_time"]) == ("r1", "RUNNING", 1700000000000)
    assert info["artifact_uri"] == f"mlflow-artifacts:/{info['experiment_id']}/{info['run_id']}/artifacts"
    assert run["data"]["tags"] == [{"key": "mlflow.runName", "value": "r1"}]
    batch = {"run_id": info["run_id"], "params": [{"key": "lr", "value": "0.1"}],
             "metrics": [{"key": "acc", "value": "NaN", "timestamp": 5, "step": 1},
                         {"key": "acc", "value": 0.5, "timestamp": 4, "step": 0}],
             "tags": [{"key": "team", "value": "nlp"}]}
    assert client.post(f"{API}/runs/log-batch", json=batch).json == {}
    got = client.get(f"{API}/runs/get?run_id={info['run_id']}").json["run"]["data"]
    assert got["params"] == [{"key": "lr", "value": "0.1"}]
    assert got["metrics"] == [{"key": "acc", "value": "NaN", "timestamp": 5, "step": 1}]
    history = client.get(f"{API}/metrics/get-history?run_id={info['run_id']}&metric_key=acc").json["metrics"]
    assert [(m["step"], m["value"]) for m in history] == [(0, 0.5), (1, "NaN")]
    # Re-logging the identical point (as MLflow 3's log_model does) stores it once.
    client.post(f"{API}/runs/log-metric", json={"run_id": info["run_id"], "key": "acc", "value": 0.5,
                                                "timestamp": 4, "step": 0})
    assert len(client.get(f"{API}/metrics/get-history?run_id={info['run_id']}&metric_key=acc").json["metrics"]) == 2
    ended = client.post(f"{API}/runs/update", json={"run_id": info["run_id"], "status": "FINISHED",
                                                    "end_time": 1700000060000}).json["run_info"]
    assert (ended["status"], ended["end_time"]) == ("FINISHED", 1700000060000)


def test_a_changed_param_is_refused_in_mlflow_terms(client, run):
    run_id = run["info"]["run_id"]
    client.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "0.1"})
    message = expect_mlflow_error(client.post(f"{API}/runs/log-parameter",
                                              json={"run_id": run_id, "key": "lr", "value": "0.2"}),
                                  400, "INVALID_PARAMETER_VALUE")
    assert "'0.1'" in message and "write-once" in message


def test_the_artifact_proxy_lists_uploads_and_streams(client, run, storage):
    root = f"{run['info']['experiment_id']}/{run['info']['run_id']}/artifacts"
    assert client.put(f"{ARTIFACTS}/{root}/model/MLmodel", data=b"flavors: {}\n").json == {}
    client.put(f"{ARTIFACTS}/{root}/model/weights.bin", data=b"w" * 1000)
    client.put(f"{ARTIFACTS}/{root}/config.yaml", data=b"lr: 1")
    assert client.get(f"{ARTIFACTS}?path={root}").json == {"files": [
        {"path": "config.yaml", "is_dir": False, "file_size": "5"}, {"path": "model", "is_dir": True}]}
    assert client.get(f"{ARTIFACTS}?path={root}/model").json["files"][1] == {
        "path": "weights.bin", "is_dir": False, "file_size": "1000"}
    assert client.get(f"{ARTIFACTS}/{root}/model/weights.bin").data == b"w" * 1000
    expect_mlflow_error(client.put(f"{ARTIFACTS}/{root}/config.yaml", data=b"lr: 2"), 400, "RESOURCE_ALREADY_EXISTS")
    expect_mlflow_error(client.get(f"{ARTIFACTS}/{root}/nope"), 404, "RESOURCE_DOES_NOT_EXIST")
    expect_mlflow_error(client.get(f"{ARTIFACTS}/{root}/../x"), 400, "INVALID_PARAMETER_VALUE")
    expect_mlflow_error(client.get(f"{ARTIFACTS}?path=9/{run['info']['run_id']}/artifacts"), 404,
                        "RESOURCE_DOES_NOT_EXIST")  # the run is not in experiment 9
    version = client.post(f"{API}/model-versions/create", json={"name": "M", "source": f"mlflow-artifacts:/{root}/model",
                                                                "run_id": run["info"]["run_id"]})
    assert version.status_code == 200, version.json
    assert version.json["model_version"]["source"] == f"runs:/{run['info']['run_id']}/model"
    uri = client.get(f"{API}/model-versions/get-download-uri?name=M&version=1").json["artifact_uri"]
    assert uri == "mlflow-artifacts:/registered/M/1"
    assert client.get(f"{ARTIFACTS}?path=registered/M/1").json["files"][0]["path"] == "MLmodel"
    assert client.get(f"{ARTIFACTS}/registered/M/1/weights.bin").data == b"w" * 1000
    expect_mlflow_error(client.put(f"{ARTIFACTS}/registered/M/1/extra", data=b"x"), 400, "INVALID_PARAMETER_VALUE")


def test_registry_calls_follow_the_lifecycle_and_land_in_the_audit_log(client, registry):
    run_id = registry.run({"model/w.bin": b"w"})
    for _ in range(2):
        created = client.post(f"{API}/model-versions/create", json={"name": "TextClassifier",
                                                                     "source": f"runs:/{run_id}/model"})
    version = created.json["model_version"]
    assert (version["version"], version["status"], version["current_stage"]) == ("2", "READY", "None")
    message = expect_mlflow_error(client.post(f"{API}/model-versions/transition-stage", json={
        "name": "TextClassifier", "version": "2", "stage": "Production", "archive_existing_versions": False}),
        400, "INVALID_PARAMETER_VALUE")
    assert message == ("Cannot move a version from None to Production. "
                       "From None a version can move to Staging or Archived.")
    for number in ("1", "2"):
        for stage in ("Staging", "Production"):
            moved = client.post(f"{API}/model-versions/transition-stage", json={
                "name": "TextClassifier", "version": number, "stage": stage, "archive_existing_versions": False})
            assert moved.status_code == 200, moved.json
    latest = client.post(f"{API}/registered-models/get-latest-versions", json={"name": "TextClassifier"}).json
    assert [(v["version"], v["current_stage"]) for v in latest["model_versions"]] == [("2", "Production"),
                                                                                      ("1", "Archived")]
    history = client.get("/models/TextClassifier/history").json["transitions"]
    assert history[-2]["cause"] == "replaced by version 2" and history[-2]["to_stage"] == "Archived"
    client.post(f"{API}/registered-models/alias", json={"name": "TextClassifier", "alias": "champion", "version": "2"})
    by_alias = client.get(f"{API}/registered-models/alias?name=TextClassifier&alias=champion").json
    assert by_alias["model_version"]["aliases"] == ["champion"]
    model = client.get(f"{API}/registered-models/get?name=TextClassifier").json["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "2"}]
    assert client.get("/audit/verify").json["ok"] is True


def test_rename_tags_search_and_delete(client, registry):
    run_id = registry.run({"w": b"w"})
    client.post(f"{API}/registered-models/create", json={"name": "Old", "description": "d",
                                                          "tags": [{"key": "team", "value": "nlp"}]})
    client.post(f"{API}/model-versions/create", json={"name": "Old", "source": f"runs:/{run_id}"})
    renamed = client.post(f"{API}/registered-models/rename", json={"name": "Old", "new_name": "New"})
    assert renamed.json["registered_model"]["name"] == "New"
    expect_mlflow_error(client.get(f"{API}/registered-models/get?name=Old"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert client.get("/models/Old/history").json["transitions"][-1]["action"] == "model_rename"
    client.patch(f"{API}/registered-models/update", json={"name": "New"})  # no description: it stays
    client.patch(f"{API}/model-versions/update", json={"name": "New", "version": "1", "description": "v1"})
    client.post(f"{API}/registered-models/set-tag", json={"name": "New", "key": "owner", "value": "ml"})
    client.delete(f"{API}/registered-models/delete-tag", json={"name": "New", "key": "team"})
    client.post(f"{API}/model-versions/set-tag", json={"name": "New", "version": "1", "key": "k", "value": "v"})
    model = client.get(f"{API}/registered-models/get?name=New").json["registered_model"]
    assert model["tags"] == [{"key": "owner", "value": "ml"}] and model["description"] == "d"
    assert model["latest_versions"][0]["description"] == "v1"
    assert model["latest_versions"][0]["tags"] == [{"key": "k", "value": "v"}]
    found = client.get(f"{API}/registered-models/search?filter=name LIKE 'Ne%'").json["registered_models"]
    assert [m["name"] for m in found] == ["New"]
    versions = client.get(f"{API}/model-versions/search?filter=name='New' and run_id='{run_id}'").json
    assert [v["version"] for v in versions["model_versions"]] == ["1"]
    client.post(f"{API}/model-versions/transition-stage", json={"name": "New", "version": "1", "stage": "Staging"})
    expect_mlflow_error(client.delete(f"{API}/model-versions/delete", json={"name": "New", "version": "1"}),
                        400, "INVALID_STATE")
    client.post(f"{API}/model-versions/transition-stage", json={"name": "New", "version": "1", "stage": "Archived"})
    assert client.delete(f"{API}/model-versions/delete", json={"name": "New", "version": "1"}).json == {}
    expect_mlflow_error(client.get(f"{API}/model-versions/get?name=New&version=1"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert client.get("/models/New/history").json["transitions"][-1]["action"] == "version_delete"
    assert client.delete(f"{API}/registered-models/delete", json={"name": "New"}).json == {}


def test_logged_models_are_folders_of_their_run(client, run):
    experiment, run_id = run["info"]["experiment_id"], run["info"]["run_id"]
    created = client.post(f"{API}/logged-models", json={"experiment_id": experiment, "name": "model",
                                                        "source_run_id": run_id}).json["model"]["info"]
    assert created["artifact_uri"] == f"mlflow-artifacts:/{experiment}/{run_id}/artifacts/model"
    assert created["status"] == "LOGGED_MODEL_PENDING" and created["model_id"].startswith("m-")
    second = client.post(f"{API}/logged-models", json={"experiment_id": experiment, "name": "model",
                                                       "source_run_id": run_id}).json["model"]["info"]
    assert second["artifact_uri"] != created["artifact_uri"]  # its own folder
    client.put(f"{ARTIFACTS}/{experiment}/{run_id}/artifacts/model/MLmodel", data=b"flavors: {}\n")
    ready = client.patch(f"{API}/logged-models/{created['model_id']}", json={"status": "LOGGED_MODEL_READY"})
    assert ready.json["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    outputs = client.get(f"{API}/runs/get?run_id={run_id}").json["run"]["outputs"]["model_outputs"]
    assert [o["model_id"] for o in outputs] == [created["model_id"], second["model_id"]]
    version = client.post(f"{API}/model-versions/create", json={"name": "FromLogged",
                                                                "source": f"models:/{created['model_id']}"})
    assert version.json["model_version"]["source"] == f"runs:/{run_id}/model"
    free = client.post(f"{API}/logged-models", json={"experiment_id": experiment, "name": "solo"}).json["model"]
    assert free["info"]["source_run_id"] != run_id  # a model logged outside a run gets a run of its own
    expect_mlflow_error(client.get(f"{API}/logged-models/m-{'0' * 32}"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_mlflow_2_log_model_history_tag(client, run):
    run_id = run["info"]["run_id"]
    model = {"artifact_path": "model", "flavors": {"python_function": {}}, "run_id": run_id}
    for _ in range(2):
        assert client.post(f"{API}/runs/log-model", json={"run_id": run_id, "model_json": json.dumps(model)}).json == {}
    tags = client.get(f"{API}/runs/get?run_id={run_id}").json["run"]["data"]["tags"]
    history = json.loads(next(t["value"] for t in tags if t["key"] == "mlflow.log-model.history"))
    assert history == [model, model]
    expect_mlflow_error(client.post(f"{API}/runs/log-model", json={"run_id": run_id, "model_json": "{"}),
                        400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("method,path,body,status,code", [
    ("get", f"{API}/no/such/endpoint", None, 404, "ENDPOINT_NOT_FOUND"),
    ("get", f"{API}/runs/create", None, 404, "ENDPOINT_NOT_FOUND"),  # a known path with the wrong method
    ("post", "/api/2.0/mlflow-artifacts/mpu/create/x", None, 404, "ENDPOINT_NOT_FOUND"),
    ("get", "/api/3.0/mlflow/server-info", None, 404, "ENDPOINT_NOT_FOUND"),
    ("post", f"{API}/runs/create", "{not json", 400, "INVALID_PARAMETER_VALUE"),
    ("post", f"{API}/runs/create", "[1, 2]", 400, "INVALID_PARAMETER_VALUE"),
    ("post", f"{API}/runs/create", '{"experiment_id": {"a": 1}}', 400, "INVALID_PARAMETER_VALUE"),
    ("post", f"{API}/runs/create", '{"experiment_id": "77"}', 404, "RESOURCE_DOES_NOT_EXIST"),
    ("post", f"{API}/runs/log-batch", '{"run_id": "' + "0" * 32 + '", "metrics": {}}', 400, "INVALID_PARAMETER_VALUE"),
    ("post", f"{API}/runs/log-batch", '{"run_id": "' + "0" * 32 + '"}', 404, "RESOURCE_DOES_NOT_EXIST"),
    ("post", f"{API}/runs/log-metric", '{"run_id": "x", "key": "a", "value": "high"}', 400, "INVALID_PARAMETER_VALUE"),
    ("post", f"{API}/runs/create", '{"a":' * 40 + "1" + "}" * 40, 400, "INVALID_PARAMETER_VALUE"),
    ("post", f"{API}/model-versions/create", '{"name": "M", "source": "s3://bucket/x"}', 400, "INVALID_PARAMETER_VALUE"),
    ("post", f"{API}/model-versions/transition-stage", '{"name": "M", "version": "one", "stage": "Staging"}',
     400, "INVALID_PARAMETER_VALUE"),
    ("get", f"{API}/registered-models/get", None, 400, "INVALID_PARAMETER_VALUE"),
    ("get", f"{API}/registered-models/get?name=../etc", None, 400, "INVALID_PARAMETER_VALUE"),
    ("get", f"{API}/registered-models/search?filter=tags.x = 'y'", None, 400, "INVALID_PARAMETER_VALUE"),
    ("post", f"{API}/runs/search", '{"filter": "metrics.acc >"}', 400, "INVALID_PARAMETER_VALUE"),
    ("post", f"{API}/experiments/create", '{"name": "\\ud800"}', 400, "INVALID_PARAMETER_VALUE"),
    ("post", f"{API}/registered-models/create", '{"name": "M", "tags": [{"key": "a\\u0000", "value": "v"}]}',
     400, "INVALID_PARAMETER_VALUE"),
])
def test_bad_requests_get_mlflow_envelopes(client, method, path, body, status, code):
    response = getattr(client, method)(path, data=body, content_type="application/json")
    expect_mlflow_error(response, status, code)


def test_authentication_in_mlflow_terms(anonymous, token, app):
    expect_mlflow_error(anonymous.get(f"{API}/experiments/search"), 401, "UNAUTHENTICATED")
    basic = base64.b64encode(f"me:{token}".encode()).decode()
    assert anonymous.get(f"{API}/experiments/search", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    expect_mlflow_error(anonymous.get(f"{API}/experiments/search", headers={"Authorization": "Bearer rgt_nope"}),
                        401, "UNAUTHENTICATED")
    # The native API keeps its own envelope.
    assert anonymous.get("/models").json["error"]["code"] == "unauthorized"


def test_a_reader_and_a_scoped_token_are_held_to_their_reach(client, app, registry):
    from registry.domain import auth

    run_id = registry.run({"w": b"w"})
    registry.register("M", f"runs:/{run_id}")
    with app.app_context():
        _, reader = auth.create_token(auth.SYSTEM, "viewer", "reader")
        _, scoped = auth.create_token(auth.SYSTEM, "nlp", "admin", ["nlp-*"])
    as_reader = {"Authorization": f"Bearer {reader}"}
    as_scoped = {"Authorization": f"Bearer {scoped}"}
    assert client.get(f"{API}/registered-models/get?name=M", headers=as_reader).status_code == 200
    for headers in (as_reader, as_scoped):
        expect_mlflow_error(client.post(f"{API}/model-versions/transition-stage", headers=headers,
                                        json={"name": "M", "version": "1", "stage": "Staging"}), 403, "PERMISSION_DENIED")
        expect_mlflow_error(client.post(f"{API}/registered-models/alias", headers=headers,
                                        json={"name": "M", "alias": "a", "version": "1"}), 403, "PERMISSION_DENIED")
    expect_mlflow_error(client.get(f"{API}/registered-models/get?name=M", headers=as_scoped), 403, "PERMISSION_DENIED")
    expect_mlflow_error(client.post(f"{API}/registered-models/rename", headers=as_scoped,
                                    json={"name": "nlp-x", "new_name": "M2"}), 403, "PERMISSION_DENIED")
    found = client.get(f"{API}/registered-models/search", headers=as_scoped).json
    assert found["registered_models"] == []
    assert client.get(f"{API}/model-versions/get?name=M&version=1").json["model_version"]["current_stage"] == "None"
