"""Use cases for runs and their files. No Flask here: the CLI can reuse these."""
import logging
import uuid

from peewee import IntegrityError
from peewee import fn

from ..db import database
from ..db import is_postgres
from ..db import write_transaction
from ..models import Run
from ..models import RunFile
from .auth import Principal
from .errors import RegistryError
from .names import check_artifact_path
from .names import check_run_id
from .values import FileEntry
from .values import Run as RunValue
from .values import file_entry
from .values import run_value

logger = logging.getLogger(__name__)


def create_run(principal: Principal, name: str | None = None, experiment: str | None = None) -> RunValue:
    """Create a run with a fresh 32-hex-digit id; raises forbidden below the writer role."""
    principal.require("writer")
    return run_value(Run.create(run_id=uuid.uuid4().hex, name=name, experiment=experiment))


def get_run(principal: Principal, run_id: str) -> RunValue:
    """The run with its files; raises not_found, validation_error (a malformed id), forbidden."""
    principal.require("reader")
    run = run_row(run_id)
    return run_value(run, _files(run))


def run_files(principal: Principal, run_id: str) -> list[FileEntry]:
    """The run's files, sorted by path."""
    principal.require("reader")
    return [file_entry(f) for f in _files(run_row(run_id))]


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
    staging key and hashed, committed under their digest, and only then
    linked in the database. A failure at any point leaves no visible file.
    ``expected_size`` (the Content-Length) guards against truncated bodies.
    Raises not_found, validation_error, payload_too_large, artifact_exists
    (different bytes already at that path), path_conflict (the path is a
    file's folder, or under a file) and storage_unavailable.
    """
    principal.require("writer")
    check_artifact_path(path)
    run = run_row(run_id)
    # The database connection is not needed while the body streams in.
    database.close()
    staged = storage.stage(stream, max_size=max_size, expected_size=expected_size)
    try:
        existing = _existing(run, path)
        if existing is not None:
            return file_entry(_same_or_conflict(existing, staged)), False
        storage.commit(staged)
        try:
            with write_transaction():
                _lock_run(run)
                _refuse_tree_conflicts(run, path)
                created = RunFile.create(run=run, path=path, sha256=staged.digest, size=staged.size)
            return file_entry(created), True
        except IntegrityError:
            # A concurrent upload to the same path won; compare with it.
            return file_entry(_same_or_conflict(_existing(run, path), staged)), False
    finally:
        storage.discard(staged)


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
