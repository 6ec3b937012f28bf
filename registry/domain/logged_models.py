"""Use cases for MLflow 3's logged models.

A logged model is a named folder of its run's files, ``runs:/<run_id>/<name>``:
its files are uploaded into the run like any other, and registering it
registers that folder. A model logged outside a run gets a run of its own.
"""
import uuid

from ..db import write_transaction
from ..models import LoggedModel
from ..models import RunFile
from ..models import utcnow
from . import experiments
from .auth import Principal
from .errors import RegistryError
from .names import check_artifact_path
from .runs import create_run
from .runs import run_row
from .values import LoggedModelValue
from .values import logged_model_value

STATUSES = ("PENDING", "READY", "FAILED")
MODEL_ID_PREFIX = "m-"


def create_logged_model(principal: Principal, experiment_id: int, name: str | None = None,
                        source_run_id: str | None = None, params: dict | None = None, tags: dict | None = None,
                        model_type: str | None = None) -> LoggedModelValue:
    """Create a logged model (PENDING) whose files go to the folder ``name`` of its run.

    Raises validation_error (a name that is not a path), not_found, forbidden.
    """
    principal.require("writer")
    name = name or "model"
    check_artifact_path(name)
    experiment = experiments.experiment_row(experiment_id=experiment_id)
    if source_run_id is None:
        source_run_id = create_run(principal, name=name, experiment_id=experiment.id).run_id
    model_id = MODEL_ID_PREFIX + uuid.uuid4().hex
    with write_transaction():
        run = run_row(source_run_id)
        taken = set(LoggedModel.select(LoggedModel.artifact_path).where(LoggedModel.run == run).tuples())
        # A second model of the same name in one run gets its own folder.
        path = name if (name,) not in taken else f"{name}-{model_id[-8:]}"
        now = utcnow()
        row = LoggedModel.create(model_id=model_id, experiment=run.experiment_id, run=run, name=name,
                                 artifact_path=path, model_type=model_type, status="PENDING",
                                 params=params or {}, tags=tags or {}, created_by=principal.name,
                                 created_at=now, updated_at=now)
    return logged_model_value(row)


def get_logged_model(principal: Principal, model_id: str) -> LoggedModelValue:
    """The logged model; raises not_found."""
    principal.require("reader")
    return logged_model_value(logged_model_row(model_id))


def finalize_logged_model(principal: Principal, model_id: str, status: str) -> LoggedModelValue:
    """Mark the model READY (its files are uploaded) or FAILED; raises validation_error, not_found."""
    principal.require("writer")
    if status not in STATUSES:
        raise RegistryError("validation_error", f"Status must be one of {', '.join(STATUSES)}.", {"status": [status]})
    with write_transaction():
        row = logged_model_row(model_id)
        row.status = status
        row.updated_at = utcnow()
        row.save()
    return logged_model_value(row)


def set_logged_model_tags(principal: Principal, model_id: str, tags: dict) -> LoggedModelValue:
    """Merge ``tags`` into the model's tags."""
    principal.require("writer")
    with write_transaction():
        row = logged_model_row(model_id)
        row.tags = {**row.tags, **tags}
        row.updated_at = utcnow()
        row.save()
    return logged_model_value(row)


def models_of_runs(principal: Principal, run_ids: list[str]) -> list[LoggedModelValue]:
    """The logged models of these runs, oldest first."""
    principal.require("reader")
    if not run_ids:
        return []
    rows = LoggedModel.select().where(LoggedModel.run.in_(run_ids)).order_by(LoggedModel.created_at)
    return [logged_model_value(r) for r in rows]


def search_logged_models(principal: Principal, experiment_ids: list[int], limit: int = 100) -> list[LoggedModelValue]:
    """The logged models of these experiments, newest first."""
    principal.require("reader")
    rows = (LoggedModel.select().where(LoggedModel.experiment.in_(experiment_ids))
            .order_by(LoggedModel.created_at.desc()).limit(limit))
    return [logged_model_value(r) for r in rows]


def logged_model_row(model_id: str) -> LoggedModel:
    """The table row, for other use cases; raises not_found."""
    row = LoggedModel.get_or_none(LoggedModel.model_id == model_id) if isinstance(model_id, str) else None
    if row is None:
        raise RegistryError("not_found", f"Logged model {model_id} does not exist.")
    return row


def has_files(run_id: str, folder: str) -> bool:
    """True if the run holds files under ``folder``."""
    prefix = folder.rstrip("/") + "/"
    return RunFile.select().where((RunFile.run == run_id) & RunFile.path.startswith(prefix)).exists()
