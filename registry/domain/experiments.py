"""Use cases for experiments: named groups of runs. Default (id 0) always exists."""
import re

from peewee import IntegrityError

from ..db import write_transaction
from ..models import Experiment
from ..models import utcnow
from .auth import Principal
from .errors import RegistryError
from .values import Experiment as ExperimentValue
from .values import experiment_value

DEFAULT_EXPERIMENT_ID = 0
EXPERIMENT_NAME_PATTERN = r"^[^\x00-\x1f\x7f]{1,256}$"
_NAME_RE = re.compile(EXPERIMENT_NAME_PATTERN)


def check_experiment_name(name) -> str:
    """Return ``name`` or raise validation_error."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        message = "Experiment names are 1-256 characters, without control characters."
        raise RegistryError("validation_error", message, {"name": [message]})
    return name


def create_experiment(principal: Principal, name: str, tags: dict | None = None) -> ExperimentValue:
    """Create an experiment; raises validation_error, forbidden, already_exists."""
    principal.require("writer")
    check_experiment_name(name)
    try:
        with write_transaction():
            row = Experiment.create(name=name, tags=tags or {}, created_by=principal.name)
    except IntegrityError as exc:
        raise RegistryError("already_exists", f"Experiment {name!r} already exists.") from exc
    return experiment_value(row)


def get_experiment(principal: Principal, name: str) -> ExperimentValue:
    """The experiment named ``name``; raises not_found."""
    principal.require("reader")
    return experiment_value(experiment_row(name=name))


def get_experiment_by_id(principal: Principal, experiment_id: int) -> ExperimentValue:
    """The experiment with that id; raises not_found."""
    principal.require("reader")
    return experiment_value(experiment_row(experiment_id=experiment_id))


def list_experiments(principal: Principal, limit: int = 100,
                     page_token: str | None = None) -> tuple[list[ExperimentValue], str | None]:
    """Experiments ordered by name; the token is the last name of the previous page."""
    principal.require("reader")
    query = Experiment.select().order_by(Experiment.name).limit(limit + 1)
    if page_token:
        query = query.where(Experiment.name > page_token)
    rows = list(query)
    token = rows[limit - 1].name if len(rows) > limit else None
    return [experiment_value(r) for r in rows[:limit]], token


def update_experiment(principal: Principal, experiment_id: int, name: str | None = None,
                      tags: dict | None = None) -> ExperimentValue:
    """Rename an experiment and/or merge tags into its own; raises not_found, already_exists."""
    principal.require("writer")
    try:
        with write_transaction():
            row = experiment_row(experiment_id=experiment_id)
            if name is not None:
                row.name = check_experiment_name(name)
            if tags:
                row.tags = {**row.tags, **tags}
            row.updated_at = utcnow()
            row.save()
    except IntegrityError as exc:
        raise RegistryError("already_exists", f"Experiment {name!r} already exists.") from exc
    return experiment_value(row)


def experiment_row(name: str | None = None, experiment_id: int | None = None) -> Experiment:
    """The table row by name or id, for other use cases; raises not_found."""
    if name is not None:
        row = Experiment.get_or_none(Experiment.name == check_experiment_name(name))
        missing = f"Experiment {name!r} does not exist."
    else:
        row = Experiment.get_or_none(Experiment.id == experiment_id)
        missing = f"Experiment {experiment_id} does not exist."
    if row is None:
        raise RegistryError("not_found", missing)
    return row


def experiment_for_new_run(principal: Principal, name: str | None) -> Experiment:
    """The experiment a new run goes into: ``name`` (created if missing) or Default."""
    if name is None:
        return experiment_row(experiment_id=DEFAULT_EXPERIMENT_ID)
    check_experiment_name(name)
    (Experiment.insert(name=name, tags={}, created_by=principal.name, created_at=utcnow(), updated_at=utcnow())
     .on_conflict_ignore().execute())
    return experiment_row(name=name)
