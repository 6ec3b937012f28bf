"""MLflow's tracking endpoints: experiments, runs, params, metrics, tags, logged models."""
import datetime
import json
import time

from flask import Blueprint
from flask import jsonify

from ..authentication import principal
from ..domain import experiments
from ..domain import logged_models
from ..domain import run_data
from ..domain import run_search
from ..domain import runs
from ..domain.errors import RegistryError
from ..domain.values import MetricPoint
from . import requests as rq
from . import wire

blp = Blueprint("mlflow_tracking", __name__, url_prefix="/api/2.0/mlflow")


def _experiment_id(data, key="experiment_id"):
    value = rq.text(data, key)
    if not value.isdigit() or len(value) > 9:
        raise RegistryError("not_found", f"Experiment {value} does not exist.")
    return int(value)


def _run_id(data):
    value = data.get("run_id") or data.get("run_uuid")
    return rq.text({"run_id": value}, "run_id")


def _now_ms():
    return int(time.time() * 1000)


def _run_json(run):
    return wire.run(run, logged_models.models_of_runs(principal(), [run.run_id]))


# --- experiments -------------------------------------------------------------

@blp.route("/experiments/create", methods=["POST"])
def create_experiment():
    data = rq.body()
    created = experiments.create_experiment(principal(), rq.text(data, "name"), rq.key_values(data, "tags"))
    return jsonify(experiment_id=str(created.experiment_id))


@blp.route("/experiments/get", methods=["GET"])
def get_experiment():
    found = experiments.get_experiment_by_id(principal(), _experiment_id(rq.body()))
    return jsonify(experiment=wire.experiment(found))


@blp.route("/experiments/get-by-name", methods=["GET"])
def get_experiment_by_name():
    found = experiments.get_experiment(principal(), rq.text(rq.body(), "experiment_name"))
    return jsonify(experiment=wire.experiment(found))


@blp.route("/experiments/search", methods=["GET", "POST"])
def search_experiments():
    data = rq.body()
    found, token = experiments.list_experiments(
        principal(), limit=min(rq.integer(data, "max_results", default=1000), 1000),
        page_token=rq.text(data, "page_token", required=False))
    result = {"experiments": [wire.experiment(e) for e in found]}
    if token:
        result["next_page_token"] = token
    return jsonify(result)


@blp.route("/experiments/update", methods=["POST"])
def update_experiment():
    data = rq.body()
    experiments.update_experiment(principal(), _experiment_id(data), name=rq.text(data, "new_name", required=False))
    return jsonify({})


@blp.route("/experiments/set-experiment-tag", methods=["POST"])
def set_experiment_tag():
    data = rq.body()
    experiments.update_experiment(principal(), _experiment_id(data), tags={rq.text(data, "key"): rq.text(data, "value")})
    return jsonify({})


# --- runs ------------------------------------------------------------------

@blp.route("/runs/create", methods=["POST"])
def create_run():
    data = rq.body()
    start = rq.integer(data, "start_time")
    created = runs.create_run(
        principal(), name=rq.text(data, "run_name", required=False), experiment_id=_experiment_id(data),
        tags=rq.key_values(data, "tags"), start_time=None if start is None else _time(start))
    return jsonify(run=_run_json(created))


def _time(milliseconds):
    try:
        return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=milliseconds)
    except OverflowError as exc:
        raise RegistryError("validation_error", "The time is out of range.") from exc


@blp.route("/runs/get", methods=["GET"])
def get_run():
    return jsonify(run=_run_json(runs.get_run(principal(), _run_id(rq.body()))))


@blp.route("/runs/update", methods=["POST"])
def update_run():
    data = rq.body()
    end = rq.integer(data, "end_time")
    updated = runs.update_run(principal(), _run_id(data), status=rq.text(data, "status", required=False),
                              end_time=None if end is None else _time(end),
                              name=rq.text(data, "run_name", required=False))
    return jsonify(run_info=wire.run_info(updated))


@blp.route("/runs/log-batch", methods=["POST"])
def log_batch():
    data = rq.body()
    metrics = tuple(_point(m) for m in rq.items(data, "metrics"))
    batch = run_data.Batch(metrics=metrics, params=tuple(rq.pairs(data, "params")), tags=tuple(rq.pairs(data, "tags")))
    run_data.log_batch(principal(), _run_id(data), batch)
    return jsonify({})


def _point(data):
    return MetricPoint(key=rq.text(data, "key"), value=rq.number(data, "value"),
                       step=rq.integer(data, "step", default=0), timestamp=rq.integer(data, "timestamp", default=_now_ms()))


@blp.route("/runs/log-metric", methods=["POST"])
def log_metric():
    data = rq.body()
    run_data.log_batch(principal(), _run_id(data), run_data.Batch(metrics=(_point(data),)))
    return jsonify({})


@blp.route("/runs/log-parameter", methods=["POST"])
def log_parameter():
    data = rq.body()
    param = (rq.text(data, "key"), rq.text(data, "value", required=False, default=""))
    run_data.log_batch(principal(), _run_id(data), run_data.Batch(params=(param,)))
    return jsonify({})


@blp.route("/runs/set-tag", methods=["POST"])
def set_tag():
    data = rq.body()
    tag = (rq.text(data, "key"), rq.text(data, "value", required=False, default=""))
    run_data.log_batch(principal(), _run_id(data), run_data.Batch(tags=(tag,)))
    return jsonify({})


@blp.route("/runs/search", methods=["POST"])
def search_runs():
    data = rq.body()
    ids = []
    for value in rq.strings(data, "experiment_ids"):
        ids.append(_experiment_id({"experiment_id": value}))
    found, token = run_search.search_runs(
        principal(), experiment_ids=ids, filter=rq.text(data, "filter", required=False),
        order_by=rq.strings(data, "order_by"), limit=min(rq.integer(data, "max_results", default=1000), 1000),
        page_token=rq.text(data, "page_token", required=False))
    models = logged_models.models_of_runs(principal(), [r.run_id for r in found])
    result = {"runs": [wire.run(r, [m for m in models if m.run_id == r.run_id]) for r in found]}
    if token:
        result["next_page_token"] = token
    return jsonify(result)


@blp.route("/metrics/get-history", methods=["GET"])
def get_metric_history():
    data = rq.body()
    points = run_data.metric_history(principal(), _run_id(data), rq.text(data, "metric_key"))
    return jsonify(metrics=[wire.metric(p) for p in points])


@blp.route("/runs/log-model", methods=["POST"])
def log_model():
    # MLflow 2.x records each logged model's MLmodel in this tag, a JSON list.
    data = rq.body()
    run_id = _run_id(data)
    try:
        model = json.loads(rq.text(data, "model_json"))
    except json.JSONDecodeError as exc:
        raise RegistryError("validation_error", f"model_json is not valid JSON: {exc}") from exc
    if not isinstance(model, dict) or not {"artifact_path", "flavors"} <= set(model):
        raise RegistryError("validation_error", "model_json must be an MLmodel with artifact_path and flavors.")
    history = json.loads(runs.get_run(principal(), run_id).tags.get(_MODEL_HISTORY, "[]"))
    history.append(model)
    run_data.log_batch(principal(), run_id, run_data.Batch(tags=((_MODEL_HISTORY, json.dumps(history)),)))
    return jsonify({})


_MODEL_HISTORY = "mlflow.log-model.history"


@blp.route("/runs/outputs", methods=["POST"])
def log_outputs():
    # A logged model already names its run; check that what the client says matches.
    data = rq.body()
    run_id = _run_id(data)
    for output in rq.items(data, "models"):
        model = logged_models.get_logged_model(principal(), rq.text(output, "model_id"))
        if model.run_id != run_id:
            raise RegistryError("validation_error", f"Logged model {model.model_id} belongs to run {model.run_id}.")
    return jsonify({})


# --- logged models (MLflow 3) ------------------------------------------------

@blp.route("/logged-models", methods=["POST"])
def create_logged_model():
    data = rq.body()
    created = logged_models.create_logged_model(
        principal(), _experiment_id(data), name=rq.text(data, "name", required=False),
        source_run_id=rq.text(data, "source_run_id", required=False), params=rq.key_values(data, "params"),
        tags=rq.key_values(data, "tags"), model_type=rq.text(data, "model_type", required=False))
    return jsonify(model=wire.logged_model(created))


@blp.route("/logged-models/<model_id>", methods=["GET"])
def get_logged_model(model_id):
    return jsonify(model=wire.logged_model(logged_models.get_logged_model(principal(), model_id)))


@blp.route("/logged-models/<model_id>", methods=["PATCH"])
def finalize_logged_model(model_id):
    status = rq.text(rq.body(), "status").removeprefix("LOGGED_MODEL_")
    status = "FAILED" if status == "UPLOAD_FAILED" else status
    return jsonify(model=wire.logged_model(logged_models.finalize_logged_model(principal(), model_id, status)))


@blp.route("/logged-models/<model_id>/tags", methods=["PATCH"])
def set_logged_model_tags(model_id):
    logged_models.set_logged_model_tags(principal(), model_id, rq.key_values(rq.body(), "tags"))
    return jsonify({})


@blp.route("/logged-models/search", methods=["POST"])
def search_logged_models():
    data = rq.body()
    ids = [_experiment_id({"experiment_id": value}) for value in rq.strings(data, "experiment_ids")]
    found = logged_models.search_logged_models(principal(), ids, limit=min(rq.integer(data, "max_results",
                                                                                       default=100), 1000))
    return jsonify(models=[wire.logged_model(m) for m in found])
