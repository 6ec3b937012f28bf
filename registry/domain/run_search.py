"""Searching runs: MLflow's filter syntax and ordering, run by the database.

Each comparison becomes a subquery on an indexed table, and ordering joins
the one metric, param or tag it sorts by, so a page costs the same whether
the experiment holds a hundred runs or a hundred thousand.
"""
import datetime
import re
from typing import Any

from peewee import JOIN
from peewee import SQL
from peewee import Case
from peewee import NodeList
from peewee import fn

from ..models import Run
from ..models import RunLatestMetric
from ..models import RunParam
from ..models import RunTag
from .auth import Principal
from .errors import RegistryError
from .experiments import experiment_row
from .run_filter import Comparison
from .run_filter import Order
from .run_filter import parse
from .run_filter import parse_order
from .runs import load_runs
from .values import Run as RunValue

MAX_RESULTS = 1000
PAGE_TOKEN_PATTERN = r"^[0-9]{1,9}$"
PAGE_TOKEN_RE = re.compile(PAGE_TOKEN_PATTERN)
_EPOCH = datetime.datetime(1970, 1, 1)
_ATTRIBUTE_COLUMNS = {"status": Run.status, "run_name": Run.name, "run_id": Run.run_id, "user_id": Run.created_by,
                      "start_time": Run.start_time, "end_time": Run.end_time}


def search_runs(principal: Principal, experiments: list[str] | None = None, experiment_ids: list[int] | None = None,
                filter: str | None = None, order_by: list[str] | None = None, limit: int = 100,
                page_token: str | None = None) -> tuple[list[RunValue], str | None]:
    """Runs of the given experiments (by name or id; every experiment if neither) that
    match ``filter``, ordered by ``order_by`` (then newest first); returns (runs, next_page_token).

    Raises validation_error (filter, order_by, page token, limit) and not_found (an experiment).
    """
    principal.require("reader")
    if not 1 <= limit <= MAX_RESULTS:
        raise RegistryError("validation_error", f"limit must be between 1 and {MAX_RESULTS}.", {"limit": [limit]})
    query = Run.select()
    groups = [experiment_row(name=n).id for n in experiments or []]
    groups += [experiment_row(experiment_id=i).id for i in experiment_ids or []]
    if groups:
        query = query.where(Run.experiment.in_(groups))
    for comparison in parse(filter):
        query = query.where(_condition(comparison))
    orders = [parse_order(clause) for clause in order_by or []]
    query, sort = _ordered(query, orders)
    offset = _offset(page_token)
    rows = list(query.order_by(*sort).offset(offset).limit(limit + 1))
    token = _token(offset + limit) if len(rows) > limit else None
    return load_runs(rows[:limit]), token


def _like(column, op, pattern):
    if op == "ILIKE":
        return NodeList((fn.LOWER(column), SQL("LIKE"), pattern.lower()))
    return NodeList((column, SQL("LIKE"), pattern))


def _compare(column, op, value):
    if op in ("LIKE", "ILIKE"):
        return _like(column, op, value)
    return {"=": column == value, "!=": column != value, "<": column < value, "<=": column <= value,
            ">": column > value, ">=": column >= value}[op]


def _time(milliseconds):
    # A number past what a date holds compares like the first or last date there is.
    try:
        return _EPOCH + datetime.timedelta(milliseconds=float(milliseconds))
    except OverflowError:
        return datetime.datetime.max if float(milliseconds) > 0 else datetime.datetime.min


def _condition(c: Comparison):
    if c.kind == "attributes":
        if c.key in ("start_time", "end_time"):
            return _compare(_ATTRIBUTE_COLUMNS[c.key], c.op, _time(c.value))
        return _compare(_ATTRIBUTE_COLUMNS[c.key], c.op, c.value)
    table: Any = {"metrics": RunLatestMetric, "params": RunParam, "tags": RunTag}[c.kind]
    match = (table.key == c.key) & _compare(table.value, c.op, c.value)
    if table is RunLatestMetric:
        match &= ~RunLatestMetric.is_nan
    return Run.run_id.in_(table.select(table.run).where(match))


def _ordered(query, orders: list[Order]):
    sort = []
    for n, order in enumerate(orders):
        column: Any
        table: Any = None
        if order.kind == "attributes":
            column = _ATTRIBUTE_COLUMNS[order.key]
        else:
            table = {"metrics": RunLatestMetric, "params": RunParam, "tags": RunTag}[order.kind].alias(f"o{n}")
            query = query.join(table, JOIN.LEFT_OUTER, on=(table.run == Run.run_id) & (table.key == order.key))
            column = table.value
        missing = column.is_null()
        if order.kind == "metrics":
            missing |= table.is_nan
        # Runs without the key (or with a NaN) come last either way, as in MLflow.
        value = Case(None, [(missing, None)], column)
        sort += [Case(None, [(missing, 1)], 0), value.desc() if order.descending else value.asc()]
    return query, sort + [Run.start_time.desc(), Run.run_id]


def _token(offset):
    return str(offset)


def _offset(page_token):
    # The token is the offset of the next page: simple, and any digits are a valid start.
    if not page_token:
        return 0
    if not PAGE_TOKEN_RE.match(page_token):
        raise RegistryError("validation_error", "page_token is not one this service handed out.",
                            {"page_token": ["Invalid page token."]})
    return int(page_token)
