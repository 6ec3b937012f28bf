"""Use cases for runs and their files. No Flask here: the CLI can reuse these."""
import datetime
import logging
import uuid

from peewee import IntegrityError
from peewee import fn

from ..db import database
from ..db import is_postgres
from ..db import write_transaction
from ..models import Experiment
from ..models import Run
from ..models import RunFile
from ..models import RunLatestMetric
from ..models import RunParam
from ..models import RunTag
from ..models import utcnow
from . import blobs
from . import experiments
from .auth import Principal
from .errors import RegistryError
from .names import check_artifact_path
from .names import check_run_id
from .values import FileEntry
from .values import Run as RunValue
from .values import file_entry
from .values import metric_point
from .values import run_value

logger = logging.getLogger(__name__)


RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
_ENDED = ("FINISHED", "FAILED", "KILLED")
RUN_NAME_TAG = "mlflow.runName"  # MLflow keeps the name in this tag too


def create_run(principal: Principal, name: str | None = None, experiment: str | None = None, *,
               experiment_id: int | None = None, tags: dict | None = None,
               start_time: datetime.datetime | None = None) -> RunValue:
    """Create a run with a fresh 32-hex-digit id in ``experiment`` (by name, created if
    missing; by id, which must exist) or Default. Raises forbidden, not_found, validation_error.
    """
    from .run_data import check_tags  # run_data imports this module

    principal.require("writer")
    tags = dict(tags or {})
    check_tags(tags)
    name = name if name is not None else tags.get(RUN_NAME_TAG)
    with write_transaction():
        if experiment_id is not None:
            group = experiments.experiment_row(experiment_id=experiment_id)
        else:
            group = experiments.experiment_for_new_run(principal, experiment)
        now = utcnow()
        run = Run.create(run_id=uuid.uuid4().hex, name=name, experiment=group, status="RUNNING",
                         start_time=start_time or now, created_by=principal.name, created_at=now)
        if name is not None:
            tags[RUN_NAME_TAG] = name
        if tags:
            RunTag.insert_many([{"run": run.run_id, "key": k, "value": v} for k, v in tags.items()]).execute()
    return load_runs([run])[0]


def get_run(principal: Principal, run_id: str) -> RunValue:
    """The run with its params, tags, latest metrics and files; raises not_found,
    validation_error (a malformed id), forbidden."""
    principal.require("reader")
    run = run_row(run_id)
    return load_runs([run], with_files=True)[0]


def update_run(principal: Principal, run_id: str, status: str | None = None, status_reason: str | None = None,
               end_time: datetime.datetime | None = None, name: str | None = None) -> RunValue:
    """End (or rename) a run. An ended status sets the end time (now unless given);
    RUNNING clears it. Raises validation_error, not_found, forbidden."""
    principal.require("writer")
    if status is not None and status not in RUN_STATUSES:
        message = f"Unknown run status {status!r}; use one of {', '.join(RUN_STATUSES)}."
        raise RegistryError("validation_error", message, {"status": [message]})
    with write_transaction():
        run = run_row(run_id)
        if status is not None:
            run.status = status
            run.end_time = (end_time or utcnow()) if status in _ENDED else None
        if status_reason is not None:
            run.status_reason = status_reason
        if name is not None:
            run.name = name
            (RunTag.insert(run=run.run_id, key=RUN_NAME_TAG, value=name)
             .on_conflict(conflict_target=[RunTag.run, RunTag.key], update={RunTag.value: name}).execute())
        run.save()
    return load_runs([run])[0]


def load_runs(rows, with_files: bool = False) -> list[RunValue]:
    """Run rows as values, with params, tags, latest metrics and experiment names, in a few queries."""
    if not rows:
        return []
    ids = [r.run_id for r in rows]
    params: dict = {i: {} for i in ids}
    tags: dict = {i: {} for i in ids}
    metrics: dict = {i: {} for i in ids}
    for p in RunParam.select().where(RunParam.run.in_(ids)).order_by(RunParam.key):
        params[p.run_id][p.key] = p.value
    for t in RunTag.select().where(RunTag.run.in_(ids)).order_by(RunTag.key):
        tags[t.run_id][t.key] = t.value
    for m in RunLatestMetric.select().where(RunLatestMetric.run.in_(ids)).order_by(RunLatestMetric.key):
        metrics[m.run_id][m.key] = metric_point(m)
    names = {e.id: e.name for e in Experiment.select(Experiment.id, Experiment.name)
             .where(Experiment.id.in_({r.experiment_id for r in rows}))}
    return [run_value(r, names[r.experiment_id], params[r.run_id], tags[r.run_id], metrics[r.run_id],
                      _files(r) if with_files else ()) for r in rows]


def run_files(principal: Principal, run_id: str) -> list[FileEntry]:
    """The run's files, sorted by path."""
    principal.require("reader")
    return [file_entry(f) for f in _files(run_row(run_id))]


def run_file(principal: Principal, run_id: str, path: str) -> FileEntry:
    """One file of the run; raises not_found, validation_error."""
    principal.require("reader")
    check_artifact_path(path)
    row = RunFile.get_or_none((RunFile.run == run_row(run_id)) & (RunFile.path == path))
    if row is None:
        raise RegistryError("not_found", f"Run {run_id} has no file {path}.")
    return file_entry(row)


def run_row(run_id):
    """The run's table row, for other use cases; raises not_found, validation_error."""
    check_run_id(run_id)
    run = Run.get_or_none(Run.run_id == run_id)
    if run is None:
        raise RegistryError("not_found", f"Run {run_id} does not exist.")
    return run


def _files(run):
    return list(RunFile.select().where(RunFile.run == run).order_by(RunFile.path))


def upload_artifact(principal: Principal, storage, run_id: str, path: str, stream, max_size: int,
                    expected_size: int | None = None) -> tuple[FileEntry, bool]:
    """Store ``stream`` as ``path`` of the run; return (the file, whether it was created).

    Order matters (as in a Docker registry): the bytes are streamed to a
    fresh storage key and hashed, and only then, in one transaction, mapped
    from their digest (unless a blob already holds them) and linked to the
    run. A failure at any point leaves no visible file, and what no row
    names is removed here (or, if this process dies first, by gc).
    ``expected_size`` (the Content-Length) guards against truncated bodies.
    Raises not_found, validation_error, payload_too_large, artifact_exists
    (different bytes already at that path), path_conflict (the path is a
    file's folder, or under a file) and storage_unavailable.
    """
    principal.require("writer")
    check_artifact_path(path)
    run = run_row(run_id)
    key = blobs.start_upload()
    # The database connection is not needed while the body streams in.
    database.close()
    try:
        staged = storage.stage(stream, max_size=max_size, expected_size=expected_size, key=key)
    except BaseException:
        blobs.end_upload(key)
        raise
    kept = False
    try:
        existing = _existing(run, path)
        if existing is not None:
            return file_entry(_same_or_conflict(existing, staged)), False
        try:
            with write_transaction():
                _lock_run(run)
                _refuse_tree_conflicts(run, path)
                mapped = blobs.claim(staged)  # also ends the upload
                created = RunFile.create(run=run, path=path, sha256=staged.digest, size=staged.size)
            kept = mapped
            return file_entry(created), True
        except IntegrityError:
            # A concurrent upload to the same path won; compare with it.
            return file_entry(_same_or_conflict(_existing(run, path), staged)), False
    finally:
        if not kept:
            storage.discard(staged)
            blobs.end_upload(key)


def _lock_run(run):
    # Uploads to one run are serialised here (BEGIN IMMEDIATE already does it on SQLite).
    if is_postgres():
        Run.select().where(Run.run_id == run.run_id).for_update().execute()


def _refuse_tree_conflicts(run, path):
    """A run's files must form a tree: ``x`` and ``x/y`` cannot both be files."""
    parents = ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
    below = fn.SUBSTR(RunFile.path, 1, len(path) + 1) == path + "/"
    clash = (RunFile.select(RunFile.path)
             .where((RunFile.run == run) & (RunFile.path.in_(parents) | below))
             .order_by(RunFile.path).first())
    if clash is not None:
        raise RegistryError(
            "path_conflict",
            f"{path} cannot be stored in this run: {clash.path} is already a file there, and a version "
            "must unpack as a tree (no path may be both a file and a folder).",
            {"path": path, "conflicts_with": clash.path},
        )


def _existing(run, path):
    return RunFile.get_or_none((RunFile.run == run) & (RunFile.path == path))


def _same_or_conflict(existing, staged):
    if existing.sha256 == staged.digest:
        return existing
    raise RegistryError(
        "artifact_exists",
        f"{existing.path} already holds different bytes in this run; "
        "files of a run are write-once, upload to a new path or a new run.",
        {"path": existing.path, "sha256": existing.sha256, "size": existing.size},
    )
