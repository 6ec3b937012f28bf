"""The real MLflow client, unchanged, against `registry serve` on both backends.

The 3.x client is the one in the test extras (.venv); the last 2.x client
lives in .venv-mlflow2 (scripts/install-deps), since the two cannot share a
virtualenv. Each runs a script under tests/mlflow_client/ in its own
process, as a user's training job would, and the test checks what it printed
and what the native API then shows.
"""
import hashlib
import json
import os
import subprocess

import pytest

from tests.servers import RegistryServer

pytestmark = pytest.mark.servers

ROOT = os.path.join(os.path.dirname(__file__), "..")
CLIENTS = {
    "3.17.2": os.path.join(ROOT, ".venv", "bin", "python"),
    "2.22.5": os.path.join(ROOT, ".venv-mlflow2", "bin", "python"),
}


@pytest.fixture
def server(backend_env):
    server = RegistryServer(backend_env, workers=2, threads=8).start()
    yield server
    server.stop()


def _mlflow(client, server, script, *args, token=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "REGISTRY_"))}
    env.update(MLFLOW_TRACKING_URI=server.base_url, MLFLOW_TRACKING_TOKEN=token or server.token)
    result = subprocess.run([CLIENTS[client], os.path.join(ROOT, "tests", "mlflow_client", script), *args],
                            env=env, capture_output=True, text=True, timeout=300, cwd=os.path.dirname(__file__))
    assert result.returncode == 0, result.stderr[-5000:] + server.output()[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("client", list(CLIENTS))
def test_the_issue_example_runs_unchanged(server, client):
    seen = _mlflow(client, server, "issue_example.py")
    assert seen["client"] == client
    assert seen["prediction"] == [2, 4, 6] and seen["champion_prediction"] == [10]
    assert seen["latest_production"] == [["1", "Production"]]
    assert [run_id for run_id, _ in seen["ordered"]] == [seen["other_run_id"], seen["run_id"]]
    assert [accuracy for _, accuracy in seen["ordered"]] == [0.97, 0.95]
    assert seen["history"] == [[step, pytest.approx(0.5 + step / 20)] for step in range(10)]
    assert seen["artifacts"] == ["config.yaml", "confusion_matrix.png", "model"]
    assert seen["params"] == {"batch_size": "32", "epochs": "10", "learning_rate": "3e-05",
                              "model": "bert-base-chinese"}

    http, base, run_id = server.http, server.base_url, seen["run_id"]
    # The MLflow-made moves are records of the same chain, by the token's name.
    history = http.get(f"{base}/models/TextClassifier/history", timeout=10).json()["transitions"]
    assert [(r["action"], r["actor"], r["from_stage"], r["to_stage"], r["subject"]) for r in history] == [
        ("register", "admin", None, "None", None), ("transition", "admin", "None", "Staging", None),
        ("transition", "admin", "Staging", "Production", None), ("alias_set", "admin", None, None, "champion")]
    assert history[0]["comment"] == f"registered from runs:/{run_id}/model"
    assert http.get(f"{base}/audit/verify", timeout=10).json()["ok"] is True
    # The MLflow run is a native run, with its lineage on the version.
    run = http.get(f"{base}/runs/{run_id}", timeout=10).json()
    assert (run["experiment"], run["status"], run["name"]) == ("bert-text-classification", "FINISHED",
                                                                 "lr-3e-5-batch-32")
    assert {f["path"] for f in run["files"]} >= {"model/MLmodel", "model/python_model.pkl", "config.yaml"}
    version = http.get(f"{base}/models/TextClassifier/versions/production", timeout=10).json()
    assert version["aliases"] == ["champion"]
    assert version["lineage"]["run_id"] == run_id
    assert version["lineage"]["metrics"] == {"train_loss": 0.1, "val_accuracy": 0.95}
    # And the native API registers from it like from any run.
    native = http.post(f"{base}/models/Native/versions", json={"source": f"runs:/{run_id}/model"}, timeout=10)
    assert native.status_code == 201, native.text
    pickled = http.get(f"{base}/models/Native/versions/1/files/python_model.pkl", timeout=10).content
    entry = next(f for f in run["files"] if f["path"] == "model/python_model.pkl")
    assert hashlib.sha256(pickled).hexdigest() == entry["sha256"]


@pytest.mark.parametrize("client", list(CLIENTS))
def test_refusals_reach_the_client_as_mlflow_errors_without_retries(server, client):
    http, base = server.http, server.base_url
    run_id = http.post(f"{base}/runs", json={"name": "native", "experiment": "made-natively"}, timeout=10).json()["run_id"]
    assert http.put(f"{base}/runs/{run_id}/artifacts/model/MLmodel", data=b"flavors: {}\n", timeout=10).ok
    http.post(f"{base}/runs/{run_id}/log", json={"params": [{"key": "lr", "value": "0.1"}],
                                                 "metrics": [{"key": "acc", "value": 0.9, "step": 3}]}, timeout=10)
    http.patch(f"{base}/runs/{run_id}", json={"status": "FINISHED"}, timeout=10)
    scoped = http.post(f"{base}/tokens", json={"name": "nlp-ci", "role": "maintainer", "models": ["nlp-*"]},
                       timeout=10).json()["token"]

    seen = _mlflow(client, server, "checks.py", run_id, scoped)

    experiment = http.get(f"{base}/experiments/made-natively", timeout=10).json()["experiment_id"]
    assert seen["native"] == {"experiment_id": str(experiment), "status": "FINISHED", "params": {"lr": "0.1"},
                              "metrics": {"acc": 0.9}, "artifacts": ["model/MLmodel"]}
    code, message, seconds = seen["to_production"]
    assert code == "INVALID_PARAMETER_VALUE"
    assert message == ("INVALID_PARAMETER_VALUE: Cannot move a version from None to Production. "
                       "From None a version can move to Staging or Archived.")
    for name in ("changed_param", "missing", "bad_stage", "outside", "outside_register"):
        assert seen[name][2] < 2, f"{name} took {seen[name][2]} s: the client retried"
    assert seen["changed_param"][0] == "INVALID_PARAMETER_VALUE" and "write-once" in seen["changed_param"][1]
    assert seen["missing"][0] == "RESOURCE_DOES_NOT_EXIST"
    assert seen["bad_stage"][0] == "INVALID_PARAMETER_VALUE"
    assert seen["outside"][0] == "PERMISSION_DENIED" and "nlp-*" in seen["outside"][1]
    assert seen["outside_register"][0] == "PERMISSION_DENIED"
    assert seen["inside"] == "1"
    # Nothing the refused calls tried happened.
    assert http.get(f"{base}/models/Refusals/versions/1", timeout=10).json()["stage"] == "None"
    assert http.get(f"{base}/runs/{seen['mlflow_run_id']}", timeout=10).json()["params"] == {"lr": "0.1"}
    actors = {r["actor"] for r in http.get(f"{base}/models/nlp-tagger/history", timeout=10).json()["transitions"]}
    assert actors == {"nlp-ci"}
