"""Telling, in one indexed query, that a use case's answer has not changed since it was built.

get_version's answer is built from the model's versions, aliases and files,
the version's run and its experiment, and the run's params and final metrics.
Triggers (migration 6) count every change to the first three on the model's
row and to the last two on the run's row, in the writing transaction; the
run's and experiment's own columns are read as they are. So a fingerprint
read before a get_version, and equal when read again later, means nothing
that answer was built from has been committed since, on any instance sharing
the database: the answer is still exact.
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..db import database
from .auth import Principal
from .names import check_model_name
from .values import Version


@dataclass(frozen=True)
class Freshness:
    """``basis(answer)`` names what an answer was built from; ``fingerprint(principal, basis)``,
    read before the use case and equal later, means that use case's answer to the same request
    is unchanged. It must therefore also change when the request would now be answered from
    another basis (for a version: when its ref resolves to another version)."""

    basis: Callable[[Any], tuple]
    fingerprint: Callable[[Principal, tuple], tuple]


def version_basis(version: Version) -> tuple:
    """What get_version read for ``version``: its model and its run."""
    return version.name, version.run_id


_VERSION_SQL = ("SELECT m.id, m.generation, r.generation, r.name, r.status, r.experiment_id, e.name"
                " FROM registered_model m LEFT JOIN run r ON r.run_id = {p}"
                " LEFT JOIN experiment e ON e.id = r.experiment_id WHERE m.name = {p}")
_version_sql_by_param: dict[str, str] = {}


def version_fingerprint(principal: Principal, basis: tuple) -> tuple:
    """Changes whenever get_version's answer for a ref of model ``name`` that resolved to a version
    of run ``run_id`` (or of no run) may; empty once the model is gone. Raises forbidden as
    get_version does."""
    name, run_id = basis
    check_model_name(name)
    principal.require("reader", name)
    param = database.param
    sql = _version_sql_by_param.get(param) or _version_sql_by_param.setdefault(param, _VERSION_SQL.format(p=param))
    cursor = database.execute_sql(sql, (run_id, name))
    try:
        return tuple(cursor.fetchone() or ())
    finally:
        cursor.close()


VERSION = Freshness(version_basis, version_fingerprint)
