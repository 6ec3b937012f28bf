"""Experiments, their runs (filtered and sorted with the API's syntax), a run's page, and run comparison."""
from flask import current_app
from flask import render_template
from flask import request

from ..authentication import browser_session
from ..authentication import principal
from ..domain import experiments
from ..domain import run_data
from ..domain import run_search
from ..domain import runs
from ..domain.errors import RegistryError
from . import files
from .blueprint import PAGE_SIZE
from .blueprint import bp
from .errors import STATUS

MAX_COLUMNS = 12
MAX_COMPARED = 10
MAX_CHARTS = 30
MAX_POINTS = 1000


@bp.route("/experiments")
@browser_session
def experiment_list():
    found, next_token = experiments.list_experiments(principal(), PAGE_SIZE, request.args.get("page_token") or None)
    return render_template("experiments.html", experiments=found, next_token=next_token)


@bp.route("/experiments/<int:experiment_id>")
@browser_session
def experiment(experiment_id):
    me = principal()
    found = experiments.get_experiment_by_id(me, experiment_id)
    text = request.args.get("filter", "").strip()
    order = request.args.get("order_by", "").strip()
    error, status, page, next_token = None, 200, [], None
    try:
        page, next_token = run_search.search_runs(me, experiment_ids=[experiment_id], filter=text or None,
                                                  order_by=[order] if order else None, limit=PAGE_SIZE,
                                                  page_token=request.args.get("page_token") or None)
    except RegistryError as exc:
        if exc.code != "validation_error":
            raise
        error, status = exc.message, STATUS[exc.code]
    params = sorted({k for r in page for k in r.params})[:MAX_COLUMNS]
    metrics = sorted({k for r in page for k in r.metrics})[:MAX_COLUMNS]
    return render_template("experiment.html", experiment=found, runs=page, params=params, metrics=metrics,
                           filter=text, order_by=order, next_token=next_token, error=error), status


@bp.route("/runs/<run_id>")
@browser_session
def run(run_id):
    found = runs.get_run(principal(), run_id)
    return render_template("run.html", run=found, is_image=files.is_image)


@bp.route("/runs/<run_id>/files/<path:path>")
@browser_session
def run_file(run_id, path):
    entry = runs.run_file(principal(), run_id, path)
    return files.send(current_app.extensions["registry_storage"], entry)


@bp.route("/compare")
@browser_session
def compare():
    me = principal()
    ids = list(dict.fromkeys(request.args.getlist("run")))
    if not 2 <= len(ids) <= MAX_COMPARED:
        return render_template("error.html", status=400,
                               message=f"Select between 2 and {MAX_COMPARED} runs to compare."), 400
    compared = [runs.get_run(me, run_id) for run_id in ids]
    keys = sorted({k for r in compared for k in r.params})
    params = [(k, [r.params.get(k) for r in compared]) for k in keys]
    charts = [_chart(me, compared, key) for key in sorted({k for r in compared for k in r.metrics})[:MAX_CHARTS]]
    return render_template("compare.html", runs=compared, params=params, charts=charts)


def _chart(me, compared, key):
    """One metric across runs, aligned on steps (a run's last value per step): one series per run."""
    by_run = []
    for r in compared:
        points = run_data.metric_series(me, r.run_id, key, MAX_POINTS) if key in r.metrics else []
        by_run.append({p.step: _number(p.value) for p in points})
    steps = sorted({s for values in by_run for s in values})
    return {"key": key, "steps": steps,
            "series": [{"name": r.name or r.run_id[:8], "values": [values.get(s) for s in steps]}
                       for r, values in zip(compared, by_run, strict=True)]}


def _number(value):
    # JSON has no NaN or infinity; the chart shows a gap there.
    return value if value == value and abs(value) != float("inf") else None
