"""Experiments, run status, params, metrics and run search over HTTP, on both backends."""
import math

import pytest

from tests.conftest import expect_error


def _run(client, **body):
    response = client.post("/runs", json=body)
    assert response.status_code == 201, response.json
    return response.json["run_id"]


def _log(client, run_id, **batch):
    return client.post(f"/runs/{run_id}/log", json=batch)


def test_experiments_are_created_listed_and_fetched_and_default_is_zero(client):
    created = client.post("/experiments", json={"name": "bert text", "tags": {"team": "nlp"}})
    assert created.status_code == 201
    assert created.json["name"] == "bert text" and created.json["tags"] == {"team": "nlp"}
    assert created.json["experiment_id"] >= 1 and created.json["created_by"] == "admin"
    expect_error(client.post("/experiments", json={"name": "bert text"}), 409, "already_exists")
    expect_error(client.post("/experiments", json={"name": "tab\there"}), 400, "validation_error")
    listed = client.get("/experiments").json
    assert [(e["experiment_id"], e["name"]) for e in listed["experiments"]] == [
        (0, "Default"), (created.json["experiment_id"], "bert text")]
    assert client.get("/experiments/bert text").json == created.json
    expect_error(client.get("/experiments/nope"), 404, "not_found")
    first = client.get("/experiments?limit=1").json
    assert [e["name"] for e in first["experiments"]] == ["Default"]
    rest = client.get(f"/experiments?limit=1&page_token={first['next_page_token']}").json
    assert [e["name"] for e in rest["experiments"]] == ["bert text"] and rest["next_page_token"] is None


def test_a_run_without_an_experiment_goes_to_default_and_a_named_one_is_created(client):
    bare = client.post("/runs").json
    assert (bare["experiment_id"], bare["experiment"], bare["status"]) == (0, "Default", "RUNNING")
    assert bare["start_time"] and bare["end_time"] is None and bare["created_by"] == "admin"
    named = client.post("/runs", json={"name": "lr-3e-5", "experiment": "bert", "tags": {"git": "abc"}}).json
    assert named["experiment"] == "bert"
    assert named["tags"] == {"git": "abc", "mlflow.runName": "lr-3e-5"}
    assert client.get("/experiments/bert").json["experiment_id"] == named["experiment_id"]


def test_ending_a_run_records_status_reason_and_end_time(client):
    run_id = _run(client)
    failed = client.patch(f"/runs/{run_id}", json={"status": "FAILED", "status_reason": "CUDA out of memory"})
    assert failed.status_code == 200
    assert failed.json["status"] == "FAILED" and failed.json["status_reason"] == "CUDA out of memory"
    assert failed.json["end_time"] >= failed.json["start_time"]
    assert client.get(f"/runs/{run_id}").json["status"] == "FAILED"
    expect_error(client.patch(f"/runs/{run_id}", json={"status": "DONE"}), 400, "validation_error")
    expect_error(client.patch(f"/runs/{'0' * 32}", json={"status": "KILLED"}), 404, "not_found")


def test_params_are_write_once_with_the_old_value_in_details(client):
    run_id = _run(client)
    assert _log(client, run_id, params=[{"key": "lr", "value": "3e-05"}]).status_code == 200
    assert _log(client, run_id, params=[{"key": "lr", "value": "3e-05"}]).status_code == 200  # same value: fine
    conflict = _log(client, run_id, params=[{"key": "batch", "value": "32"}, {"key": "lr", "value": "0.1"}])
    error = expect_error(conflict, 409, "param_conflict")
    assert error["details"] == {"key": "lr", "old_value": "3e-05", "new_value": "0.1"}
    # The whole batch was refused: batch was not stored either.
    assert client.get(f"/runs/{run_id}").json["params"] == {"lr": "3e-05"}


def test_a_batch_is_atomic_and_the_run_shows_latest_metrics(client):
    run_id = _run(client)
    batch = {
        "params": [{"key": "learning_rate", "value": "3e-05"}, {"key": "model", "value": "bert-base-chinese"}],
        "tags": [{"key": "stage", "value": "fine-tune"}],
        "metrics": [{"key": "val_accuracy", "value": v, "step": step, "timestamp": 1000 + step}
                    for step, v in enumerate([0.5, 0.7, 0.9])] + [{"key": "loss", "value": 2.0, "step": 0}],
    }
    logged = _log(client, run_id, **batch)
    assert logged.status_code == 200
    assert logged.json["params"] == {"learning_rate": "3e-05", "model": "bert-base-chinese"}
    assert logged.json["tags"] == {"stage": "fine-tune"}
    assert logged.json["metrics"]["val_accuracy"] == {"value": 0.9, "step": 2, "timestamp": 1002}
    assert logged.json["metrics"]["loss"]["step"] == 0
    # An older step logged later does not become the latest value.
    _log(client, run_id, metrics=[{"key": "val_accuracy", "value": 0.1, "step": 1, "timestamp": 5000}])
    assert client.get(f"/runs/{run_id}").json["metrics"]["val_accuracy"]["value"] == 0.9


def test_metric_history_is_ordered_by_step_then_timestamp_with_nan_and_infinity(client):
    run_id = _run(client)
    points = [(3, 10, 0.3), (1, 30, "NaN"), (1, 20, 0.1), (2, 5, "Infinity"), (0, 40, "-Infinity")]
    _log(client, run_id, metrics=[{"key": "m/acc", "value": v, "step": s, "timestamp": t} for s, t, v in points])
    history = client.get(f"/runs/{run_id}/metrics/m/acc")
    assert history.status_code == 200
    assert history.json == {"key": "m/acc", "points": [
        {"value": "-Infinity", "step": 0, "timestamp": 40}, {"value": 0.1, "step": 1, "timestamp": 20},
        {"value": "NaN", "step": 1, "timestamp": 30}, {"value": "Infinity", "step": 2, "timestamp": 5},
        {"value": 0.3, "step": 3, "timestamp": 10}]}
    expect_error(client.get(f"/runs/{run_id}/metrics/other"), 404, "not_found")
    expect_error(_log(client, run_id, metrics=[{"key": "x", "value": "nan"}]), 400, "validation_error")
    expect_error(_log(client, run_id, metrics=[{"key": "x", "value": True}]), 400, "validation_error")


@pytest.mark.parametrize("batch,field", [
    ({"metrics": [{"key": "m", "value": 1, "step": i} for i in range(1001)]}, "metrics"),
    ({"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]}, "params"),
    ({"tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]}, "tags"),
    ({"params": [{"key": "p", "value": "v" * 6001}]}, "params"),
    ({"tags": [{"key": "t", "value": "v" * 8001}]}, "tags"),
    ({"params": [{"key": "k" * 251, "value": "v"}]}, "params"),
    ({"params": [{"key": "../escape", "value": "v"}]}, "params"),
    ({"params": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]}, "params"),
    ({"metrics": [{"key": "bad|key", "value": 1}]}, "metrics"),
])
def test_batch_limits_and_key_rules_refuse_the_whole_batch(client, batch, field):
    run_id = _run(client)
    error = expect_error(_log(client, run_id, **batch), 400, "validation_error")
    assert field in error["details"], error
    run = client.get(f"/runs/{run_id}").json
    assert (run["params"], run["metrics"], run["tags"]) == ({}, {}, {})


def test_batch_at_the_limits_is_accepted(client):
    run_id = _run(client)
    batch = {"metrics": [{"key": "m", "value": float(i), "step": i} for i in range(800)],
             "params": [{"key": f"p{i}", "value": "v" * 6000} for i in range(100)],
             "tags": [{"key": f"t{i}", "value": "v"} for i in range(100)]}
    assert _log(client, run_id, **batch).status_code == 200
    assert len(client.get(f"/runs/{run_id}/metrics/m").json["points"]) == 800


def _seed(client, experiment, runs):
    ids = {}
    for name, acc, model in runs:
        run_id = _run(client, name=name, experiment=experiment)
        batch = {"params": [{"key": "model", "value": model}]}
        if acc is not None:
            batch["metrics"] = [{"key": "val_accuracy", "value": acc, "step": 0}]
        assert _log(client, run_id, **batch).status_code == 200
        ids[name] = run_id
    return ids


def test_search_filters_and_orders_like_mlflow(client):
    _seed(client, "bert", [("a", 0.7, "bert-base"), ("b", 0.9, "bert-large"), ("c", None, "bert-base"),
                           ("d", 0.8, "roberta"), ("e", "NaN", "bert-base")])
    _seed(client, "other", [("z", 0.99, "bert-base")])

    def names(**query):
        response = client.get("/runs", query_string=query)
        assert response.status_code == 200, response.json
        return [r["name"] for r in response.json["runs"]]

    assert names(experiment="bert", order_by="metrics.val_accuracy DESC") == ["b", "d", "a", "e", "c"]
    assert names(experiment="bert", order_by="metrics.val_accuracy ASC") == ["a", "d", "b", "e", "c"]
    assert names(experiment="bert", filter="metrics.val_accuracy >= 0.8", order_by="attributes.run_name") == ["b", "d"]
    assert names(experiment="bert", filter="params.model LIKE 'bert-%' AND metrics.val_accuracy < 0.8") == ["a"]
    assert names(experiment="bert", filter="params.model != 'bert-base'", order_by="attributes.run_name") == ["b", "d"]
    assert names(filter="params.model = 'bert-base' AND metrics.val_accuracy > 0.95") == ["z"]
    assert names(experiment="bert", filter="attributes.run_name ILIKE 'A'") == ["a"]
    assert names(experiment="bert", filter="attributes.run_name LIKE 'A'") == []  # LIKE is case-sensitive
    assert names(experiment="bert", filter="tags.`mlflow.runName` = 'c'") == ["c"]
    assert names(experiment=["bert", "other"], filter="metrics.val_accuracy > 0.85",
                 order_by="metrics.val_accuracy DESC") == ["z", "b"]
    assert names(experiment="bert", order_by=["params.model DESC", "attributes.run_name DESC"]) == [
        "d", "b", "e", "c", "a"]


@pytest.mark.parametrize("bad,offending,position", [
    ("metrics.acc >", ">", 12),
    ("metrics.acc > 'high'", "'high'", 14),
    ("params.model < 'b'", "<", 13),
    ("metrics.acc > 1 OR metrics.acc < 0", "OR", 16),
    ("accuracy > 1", "accuracy", 0),
    ("metrics.acc = 1 AND", "AND", 16),
    ("attributes.colour = 'red'", "attributes.colour", 0),
    ("metrics.acc = 1 ; DROP TABLE run", "; DROP TABLE run", 16),
])
def test_a_malformed_filter_is_a_400_that_points_at_the_token(client, bad, offending, position):
    error = expect_error(client.get("/runs", query_string={"filter": bad}), 400, "validation_error")
    assert error["details"]["token"] == offending and error["details"]["position"] == position, error
    assert f"position {position}" in error["message"]


def test_bad_order_by_page_token_and_unknown_experiment(client):
    expect_error(client.get("/runs?order_by=accuracy DESC"), 400, "validation_error")
    expect_error(client.get("/runs?order_by=attributes.colour"), 400, "validation_error")
    expect_error(client.get("/runs?page_token=not-a-token"), 400, "validation_error")
    expect_error(client.get("/runs?experiment=nope"), 404, "not_found")


def test_search_pages_through_thousands_of_runs_in_metric_order(client, app):
    from registry.db import database
    from registry.models import Run
    from registry.models import RunLatestMetric
    from registry.models import utcnow

    count = 3000
    experiment = client.post("/experiments", json={"name": "sweep"}).json["experiment_id"]
    with app.app_context(), database.atomic():
        now = utcnow()
        Run.insert_many([{"run_id": f"{i:032x}", "name": f"r{i}", "experiment": experiment, "status": "FINISHED",
                          "start_time": now, "created_at": now} for i in range(count)]).execute()
        # A permutation, so metric order differs from insertion order.
        RunLatestMetric.insert_many([{"run": f"{i:032x}", "key": "acc", "value": (i * 7919) % count / count,
                                      "is_nan": False, "step": 0, "timestamp": 0} for i in range(count)]).execute()
    seen, token = [], None
    while True:
        query = {"experiment": "sweep", "order_by": "metrics.acc DESC", "limit": 1000}
        if token:
            query["page_token"] = token
        page = client.get("/runs", query_string=query).json
        seen += [r["metrics"]["acc"]["value"] for r in page["runs"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert len(seen) == count
    assert seen == sorted(seen, reverse=True)
    assert seen[0] == (count - 1) / count


def test_readers_cannot_log_and_writers_cannot_reach_past_their_role(client, app):
    from registry.domain import auth

    with app.app_context():
        _, reader = auth.create_token(auth.SYSTEM, "viewer", "reader")
    run_id = _run(client)
    headers = {"Authorization": f"Bearer {reader}"}
    expect_error(client.post(f"/runs/{run_id}/log", json={"params": []}, headers=headers), 403, "forbidden")
    expect_error(client.patch(f"/runs/{run_id}", json={"status": "KILLED"}, headers=headers), 403, "forbidden")
    expect_error(client.post("/experiments", json={"name": "x"}, headers=headers), 403, "forbidden")
    assert client.get(f"/runs/{run_id}", headers=headers).status_code == 200
    assert client.get("/runs", headers=headers).status_code == 200


def test_version_lineage_names_the_run_experiment_params_and_final_metrics(client, registry):
    run_id = registry.run({"model/w.bin": b"w"}, name="lr-3e-5", experiment="bert")
    _log(client, run_id, params=[{"key": "lr", "value": "3e-05"}],
         metrics=[{"key": "val_accuracy", "value": v, "step": s} for s, v in enumerate([0.5, 0.93])])
    version = registry.register("TextClassifier", f"runs:/{run_id}/model")
    lineage = client.get("/models/TextClassifier/versions/1").json["lineage"]
    assert lineage == {"run_id": run_id, "run_name": "lr-3e-5", "experiment_id": lineage["experiment_id"],
                       "experiment": "bert", "status": "RUNNING", "params": {"lr": "3e-05"},
                       "metrics": {"val_accuracy": 0.93}}
    assert version["lineage"] == lineage
    assert client.get("/models/TextClassifier/versions").json["versions"][0]["lineage"] == lineage
    copy = registry.register("Copy", "models:/TextClassifier/1")
    assert copy["lineage"]["run_id"] == run_id
    assert not math.isnan(lineage["metrics"]["val_accuracy"])


@pytest.mark.parametrize("text", [
    "", "  ", "metrics.acc > 0.9", "metrics.acc>0.9", "metric.`val acc` <= -1e-3", "params.model = 'bert'",
    "params.model LIKE 'b%' AND tags.\"mlflow.user\" != \"ci\"", "attributes.status = 'FINISHED'",
    "run.start_time >= 1700000000000", "attr.run_name ilike '%LR%' and metrics.loss < 2",
    "metrics.acc >", "metrics.acc > 'x'", "params.model < 'b'", "accuracy > 1", "metrics.acc = 1 AND",
    "attributes.colour = 'red'", "metrics.acc = 1 OR metrics.b = 2", "params.a = 1", "attributes.start_time = 'x'",
    "metrics.acc = ١",  # an Arabic-Indic digit: not a number in either
])
def test_the_documented_filter_pattern_accepts_exactly_what_the_parser_does(text):
    import re

    from registry.domain import run_filter
    from registry.domain.errors import RegistryError

    try:
        run_filter.parse(text)
        parsed = True
    except RegistryError:
        parsed = False
    assert bool(re.match(run_filter.FILTER_PATTERN, text)) == parsed


def test_a_time_filter_beyond_what_a_date_holds_compares_like_the_last_or_first_date(client):
    run = client.post("/runs", json={}).json["run_id"]
    assert client.patch(f"/runs/{run}", json={"status": "FINISHED"}).status_code == 200
    for text, found in (("attributes.end_time = .7769E+50", []), ("attributes.end_time < 1e300", [run]),
                        ("attributes.end_time > -1e300", [run]), ("attributes.end_time > 253402300800000", [])):
        response = client.get("/runs", query_string={"filter": text})
        assert response.status_code == 200, text
        assert [r["run_id"] for r in response.json["runs"]] == found, text


@pytest.mark.parametrize("tags", [{"a": "nul\x00inside"}, {"k" * 251: "v"}, {"../x": "v"}])
def test_run_tags_follow_the_logged_tag_rules(client, tags):
    error = expect_error(client.post("/runs", json={"tags": tags}), 400, "validation_error")
    assert "tags" in error["details"]


def test_the_run_tag_rules_hold_in_the_use_case_too(app):
    from registry.domain import runs
    from registry.domain.auth import SYSTEM
    from registry.domain.errors import RegistryError

    with app.app_context(), pytest.raises(RegistryError, match="must be text of at most 8000 characters, without NUL"):
        runs.create_run(SYSTEM, tags={"a": "x\x00"})
