"""Use cases for what a run records: params (write-once), tags, and metric points.

Limits and key rules are MLflow's, so code written for MLflow fits unchanged.
"""
import math
import re
from dataclasses import dataclass

from ..db import is_postgres
from ..db import write_transaction
from ..models import Run
from ..models import RunLatestMetric
from ..models import RunMetric
from ..models import RunParam
from ..models import RunTag
from .auth import Principal
from .errors import RegistryError
from .runs import RUN_NAME_TAG
from .runs import run_row
from .values import MetricPoint
from .values import metric_point

MAX_METRICS = 1000
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_ENTITIES = 1000
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
# Slash-separated segments of ASCII letters, digits, '_', '-', '.' and ' ' (MLflow's set, in
# ASCII); no segment is empty, '.' or starts with '..'. Written without lookarounds so that
# Python and openapi.yaml's ECMA-262 read it alike.
_KEY_SEGMENT = r"(?:[A-Za-z0-9_\- ]|\.[A-Za-z0-9_\- ])[A-Za-z0-9_\-. ]*"
KEY_PATTERN = rf"^{_KEY_SEGMENT}(?:/{_KEY_SEGMENT})*$"
_KEY_RE = re.compile(KEY_PATTERN)


@dataclass(frozen=True)
class Batch:
    metrics: tuple[MetricPoint, ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    tags: tuple[tuple[str, str], ...] = ()


def log_batch(principal: Principal, run_id: str, batch: Batch) -> None:
    """Record metrics, params and tags of a run at once: all of them or none.

    Raises validation_error (limits, keys, values), param_conflict (a param
    already holds another value; details name both), not_found, forbidden.
    """
    principal.require("writer")
    _check(batch)
    with write_transaction():
        run = run_row(run_id)
        if is_postgres():
            Run.select().where(Run.run_id == run.run_id).for_update().execute()
        _log_params(run, batch.params)
        _log_tags(run, batch.tags)
        _log_metrics(run, batch.metrics)


def metric_history(principal: Principal, run_id: str, key: str) -> list[MetricPoint]:
    """Every point logged for ``key``, ordered by step, then timestamp; raises not_found."""
    principal.require("reader")
    _check_key("key", key)
    run = run_row(run_id)
    rows = (RunMetric.select().where((RunMetric.run == run.run_id) & (RunMetric.key == key))
            .order_by(RunMetric.step, RunMetric.timestamp, RunMetric.id))
    points = [metric_point(r) for r in rows]
    if not points:
        raise RegistryError("not_found", f"Run {run_id} has no metric {key!r}.")
    return points


def metric_series(principal: Principal, run_id: str, key: str, max_points: int = 1000) -> list[MetricPoint]:
    """``key``'s history thinned to at most ``max_points`` evenly spaced points (first and last kept),
    for charts; an unknown key is an empty series. Rows stream past; only the kept ones are held."""
    principal.require("reader")
    _check_key("key", key)
    run = run_row(run_id)
    where = (RunMetric.run == run.run_id) & (RunMetric.key == key)
    count = RunMetric.select().where(where).count()
    stride = max(1, -(-count // max_points))
    rows = (RunMetric.select().where(where)
            .order_by(RunMetric.step, RunMetric.timestamp, RunMetric.id).iterator())
    return [metric_point(r) for i, r in enumerate(rows) if i % stride == 0 or i == count - 1]


def _invalid(field, message):
    return RegistryError("validation_error", message, {field: [message]})


def _check(batch):
    counts = {"metrics": (len(batch.metrics), MAX_METRICS), "params": (len(batch.params), MAX_PARAMS),
              "tags": (len(batch.tags), MAX_TAGS)}
    for field, (count, limit) in counts.items():
        if count > limit:
            raise _invalid(field, f"A batch holds at most {limit} {field}; this one has {count}.")
    total = sum(count for count, _ in counts.values())
    if total > MAX_ENTITIES:
        raise _invalid("batch", f"A batch holds at most {MAX_ENTITIES} metrics, params and tags in all; "
                                f"this one has {total}.")
    for m in batch.metrics:
        _check_key("metrics", m.key)
    for field, pairs, limit in (("params", batch.params, MAX_PARAM_VALUE_LENGTH),
                                ("tags", batch.tags, MAX_TAG_VALUE_LENGTH)):
        for key, value in pairs:
            _check_key(field, key)
            if len(value) > limit:
                raise _invalid(field, f"The value of {key!r} is {len(value)} characters; the limit is {limit}.")
    seen: dict = {}
    for key, value in batch.params:
        if seen.setdefault(key, value) != value:
            raise _invalid("params", f"Param {key!r} appears twice in the batch with different values.")


def check_tags(tags: dict) -> None:
    """Raise validation_error unless ``tags`` could be logged: key rules, value length, no NUL."""
    if len(tags) > MAX_TAGS:
        raise _invalid("tags", f"At most {MAX_TAGS} tags; there are {len(tags)}.")
    for key, value in tags.items():
        _check_key("tags", key)
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE_LENGTH or "\x00" in value:
            raise _invalid("tags", f"The value of tag {key!r} must be text of at most {MAX_TAG_VALUE_LENGTH} "
                                   "characters, without NUL.")


def _check_key(field, key):
    if not isinstance(key, str) or not _KEY_RE.match(key) or len(key) > MAX_KEY_LENGTH:
        raise _invalid(field, f"Key {key!r} is not valid: use 1-{MAX_KEY_LENGTH} ASCII letters, digits, "
                              "'_', '-', '.', ' ' and '/'; no segment may be empty or '.', or start with '..'.")


def _log_params(run, params):
    wanted = dict(params)
    if not wanted:
        return
    stored = {p.key: p.value for p in RunParam.select().where((RunParam.run == run.run_id)
                                                              & RunParam.key.in_(list(wanted)))}
    for key, value in wanted.items():
        if key in stored and stored[key] != value:
            raise RegistryError(
                "param_conflict",
                f"Param {key!r} of run {run.run_id} is {stored[key]!r}; params are write-once, "
                f"so it cannot become {value!r}. Log it under another key or in a new run.",
                {"key": key, "old_value": stored[key], "new_value": value},
            )
    new = [{"run": run.run_id, "key": k, "value": v} for k, v in wanted.items() if k not in stored]
    if new:
        RunParam.insert_many(new).execute()


def _log_tags(run, tags):
    for key, value in tags:
        (RunTag.insert(run=run.run_id, key=key, value=value)
         .on_conflict(conflict_target=[RunTag.run, RunTag.key], update={RunTag.value: value}).execute())
        if key == RUN_NAME_TAG:
            Run.update(name=value).where(Run.run_id == run.run_id).execute()


def _order(point):
    # MLflow's "latest": the highest step, then timestamp, then value (NaN lowest).
    return (point.step, point.timestamp, -math.inf if math.isnan(point.value) else point.value)


def _log_metrics(run, metrics):
    if not metrics:
        return
    RunMetric.insert_many([_metric_row(run, m) for m in metrics]).on_conflict_ignore().execute()
    keys = {m.key for m in metrics}
    latest = {r.key: metric_point(r) for r in RunLatestMetric.select().where(
        (RunLatestMetric.run == run.run_id) & RunLatestMetric.key.in_(list(keys)))}
    changed = {}
    for m in metrics:
        current = changed.get(m.key) or latest.get(m.key)
        if current is None or _order(m) >= _order(current):
            changed[m.key] = m
    for point in changed.values():
        row = _metric_row(run, point)
        (RunLatestMetric.insert(**row)
         .on_conflict(conflict_target=[RunLatestMetric.run, RunLatestMetric.key],
                      update={f: row[f.name] for f in (RunLatestMetric.value, RunLatestMetric.is_nan,
                                                       RunLatestMetric.step, RunLatestMetric.timestamp)})
         .execute())


def _metric_row(run, point):
    nan = math.isnan(point.value)
    return {"run": run.run_id, "key": point.key, "value": 0.0 if nan else point.value, "is_nan": nan,
            "step": point.step, "timestamp": point.timestamp}
