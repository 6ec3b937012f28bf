"""Use cases for runs and their files. No Flask here: the CLI can reuse these."""
import logging
import uuid

from peewee import IntegrityError

from .db import database
from .errors import RegistryError
from .models import Run
from .models import RunFile
from .names import check_artifact_path
from .names import check_run_id

logger = logging.getLogger(__name__)


def create_run(name=None, experiment=None):
    """Create and return a new run with a fresh 32-hex-digit id."""
    return Run.create(run_id=uuid.uuid4().hex, name=name, experiment=experiment)


def get_run(run_id):
    """Return the run; raises not_found (or validation_error for a malformed id)."""
    check_run_id(run_id)
    run = Run.get_or_none(Run.run_id == run_id)
    if run is None:
        raise RegistryError("not_found", f"Run {run_id} does not exist.")
    return run


def run_files(run):
    """The run's files, sorted by path."""
    return list(RunFile.select().where(RunFile.run == run).order_by(RunFile.path))


def upload_artifact(storage, run_id, path, stream, max_size, expected_size=None):
    """Store ``stream`` as ``path`` of the run; return (RunFile, created).

    Order matters (as in a Docker registry): the bytes are streamed to a
    staging key and hashed, committed under their digest, and only then
    linked in the database. A failure at any point leaves no visible file.
    ``expected_size`` (the Content-Length) guards against truncated bodies.
    Raises not_found, validation_error, payload_too_large, artifact_exists
    (different bytes already at that path) and storage_unavailable.
    """
    check_artifact_path(path)
    run = get_run(run_id)
    # The database connection is not needed while the body streams in.
    database.close()
    staged = storage.stage(stream, max_size=max_size, expected_size=expected_size)
    try:
        existing = _existing(run, path)
        if existing is not None:
            return _same_or_conflict(existing, staged), False
        storage.commit(staged)
        try:
            with database.atomic():
                return RunFile.create(run=run, path=path, sha256=staged.digest, size=staged.size), True
        except IntegrityError:
            # A concurrent upload to the same path won; compare with it.
            return _same_or_conflict(_existing(run, path), staged), False
    finally:
        storage.discard(staged)


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
