"""Use cases for models, versions and the stage lifecycle. No Flask here.

Every write that touches a model's versions runs in ``write_transaction()``
with the model locked (``lock_model``), so version numbers and stage moves
of one model are serialised across threads, processes and hosts.
"""
import logging

from peewee import IntegrityError
from peewee import fn

from ..db import is_postgres
from ..db import postgres_turn
from ..db import write_transaction
from ..models import Experiment
from ..models import ModelVersion
from ..models import RegisteredModel
from ..models import Run
from ..models import RunLatestMetric
from ..models import RunParam
from ..models import VersionAlias
from ..models import VersionFile
from ..models import utcnow
from ..statements import Statement
from . import audit
from . import lifecycle
from .audit import first_free_version
from .auth import Principal
from .auth import role_for_transition
from .errors import RegistryError
from .names import check_artifact_path
from .names import check_model_name
from .refs import resolve_named_ref
from .refs import resolve_ref
from .sources import source_files
from .values import AuditEntry
from .values import FileEntry
from .values import Lineage
from .values import Model
from .values import Version
from .values import audit_entry
from .values import model_value
from .values import version_value

logger = logging.getLogger(__name__)


# --- models -----------------------------------------------------------------

def _models_query():
    latest = (
        ModelVersion.select(fn.MAX(ModelVersion.version))
        .where(ModelVersion.model == RegisteredModel.id)
    )
    production = (
        ModelVersion.select(ModelVersion.version)
        .where((ModelVersion.model == RegisteredModel.id) & (ModelVersion.stage == lifecycle.PRODUCTION))
    )
    return RegisteredModel.select(
        RegisteredModel,
        latest.alias("latest_version"),
        production.alias("production_version"),
    )


def get_model(principal: Principal, name: str) -> Model:
    """The model with its latest and Production version numbers; raises not_found, forbidden."""
    check_model_name(name)
    principal.require("reader", name)
    return load_model(name)


def load_model(name: str) -> Model:
    """The model as a value, for other use cases; raises not_found."""
    model = _models_query().where(RegisteredModel.name == name).first()
    if model is None:
        raise RegistryError("not_found", f"Model {name} does not exist.")
    return _model_values([model])[0]


def _model_values(rows):
    """Model rows as values, with their aliases (alias -> version) in one query."""
    aliases: dict = {r.id: {} for r in rows}
    if aliases:
        for a in VersionAlias.select().where(VersionAlias.model.in_(list(aliases))).order_by(VersionAlias.name):
            aliases[a.model_id][a.name] = a.version
    return [model_value(r, aliases[r.id]) for r in rows]


def create_model(principal: Principal, name: str, description: str = "", tags: dict | None = None) -> Model:
    """Create a model; raises already_exists, forbidden."""
    check_model_name(name)
    principal.require("writer", name)
    try:
        with write_transaction():
            RegisteredModel.create(
                name=name, description=description or "", tags=tags or {},
                last_version=first_free_version(name),
            )
    except IntegrityError as exc:
        raise RegistryError("already_exists", f"Model {name} already exists.") from exc
    return load_model(name)


def list_models(principal: Principal, query: str | None = None, limit: int = 100,
                page_token: str | None = None) -> tuple[list[Model], str | None]:
    """Return (models the principal may see, next_page_token), ordered by name."""
    select = _models_query().order_by(RegisteredModel.name)
    if query:
        select = select.where(RegisteredModel.name.contains(query))
    # The token is the last name of the previous page: stable under inserts
    # and deletes, and any string is a valid starting point.
    after = page_token or ""
    models: list = []
    while len(models) <= limit:
        batch = list(select.where(RegisteredModel.name > after).limit(limit + 1))
        models += [m for m in batch if principal.may_access(m.name)]
        if len(batch) <= limit:
            break
        after = batch[-1].name
    if len(models) > limit:
        return _model_values(models[:limit]), models[limit - 1].name
    return _model_values(models), None


def update_model(principal: Principal, name: str, description: str | None = None,
                 tags: dict | None = None) -> Model:
    """Change a model's description and/or tags (tags are replaced whole)."""
    principal.require("writer", name)
    with write_transaction():
        model = lock_model(name)
        if _apply_changes(model, description, tags):
            model.save()
    return load_model(name)


def _apply_changes(row, description, tags):
    """Set the given fields; True if anything was given (an empty PATCH is a no-op)."""
    if description is None and tags is None:
        return False
    if description is not None:
        row.description = description
    if tags is not None:
        row.tags = tags
    row.updated_at = utcnow()
    return True


def delete_model(principal: Principal, name: str) -> None:
    """Delete a model and its versions; its history stays.

    Raises not_found, forbidden, and model_in_use while a version is in Staging or Production.
    """
    principal.require("maintainer", name)
    with write_transaction():
        model = lock_model(name)
        busy = list(
            ModelVersion.select()
            .where((ModelVersion.model == model) & ModelVersion.stage.in_([lifecycle.STAGING, lifecycle.PRODUCTION]))
            .order_by(ModelVersion.version)
        )
        if busy:
            listed = ", ".join(f"version {v.version} ({v.stage})" for v in busy)
            raise RegistryError(
                "model_in_use",
                f"{name} still has {listed}; archive them before deleting the model.",
                {"versions": [{"version": v.version, "stage": v.stage} for v in busy]},
            )
        count = ModelVersion.select().where(ModelVersion.model == model).count()
        model.delete_instance(recursive=True)
        audit.append(audit.MODEL_DELETE, principal.name, model=name,
                     comment=f"deleted with {count} version(s); their history is kept")


def lock_model(name, create=False):
    """Inside a write transaction: the model row, locked until commit.

    With ``create``, a missing model is created first; concurrent creators
    race on the unique name and all end up locking the same row.
    """
    check_model_name(name)
    query = RegisteredModel.select().where(RegisteredModel.name == name)
    if is_postgres():
        postgres_turn(f"model:{name}")
        query = query.for_update()
    model = query.clone().first()  # clone: peewee caches a query's results
    if model is None and create:
        # ON CONFLICT: a concurrent creator may win; then we lock its row.
        # (On SQLite, BEGIN IMMEDIATE already excludes every other writer.)
        (RegisteredModel.insert(name=name, description="", tags={}, last_version=first_free_version(name),
                                created_at=utcnow(), updated_at=utcnow())
         .on_conflict_ignore().execute())
        model = query.clone().first()
    if model is None:
        raise RegistryError("not_found", f"Model {name} does not exist.")
    return model


# --- versions -------------------------------------------------------------

def get_version(principal: Principal, name: str, ref: str) -> Version:
    """The version ``ref`` of model ``name``; raises not_found, validation_error, forbidden."""
    check_model_name(name)
    principal.require("reader", name)
    model, version = resolve_named_ref(name, ref, _model_named)
    return version_values(model, [version])[0]


def get_version_at(principal: Principal, name: str, ref: str, at) -> Version:
    """The version ``ref`` named at ``at`` (naive UTC), from the audit history."""
    model = _plain_model(principal, name)
    return version_values(model, [audit.resolve_ref_at(model, ref, at)])[0]


def _plain_model(principal, name):
    check_model_name(name)
    principal.require("reader", name)
    return _model_named(name)


def _model_named(name):
    model = _MODEL_NAMED.first(name)
    if model is None:
        raise RegistryError("not_found", f"Model {name} does not exist.")
    return model


_MODEL_NAMED = Statement(lambda name: RegisteredModel.select().where(RegisteredModel.name == name))
_FILES_OF = Statement(lambda version_ids: VersionFile.select().where(VersionFile.version.in_(version_ids))
                      .order_by(VersionFile.path))
_ALIASES_OF = Statement(lambda model_id: VersionAlias.select().where(VersionAlias.model == model_id)
                        .order_by(VersionAlias.name))
_PARAMS_OF = Statement(lambda run_ids: RunParam.select(RunParam.run, RunParam.key, RunParam.value)
                       .where(RunParam.run.in_(run_ids)).order_by(RunParam.key).tuples())
_FINAL_METRICS_OF = Statement(lambda run_ids: RunLatestMetric.select(
    RunLatestMetric.run, RunLatestMetric.key, RunLatestMetric.value, RunLatestMetric.is_nan)
    .where(RunLatestMetric.run.in_(run_ids)).order_by(RunLatestMetric.key).tuples())
_RUNS_WITH_EXPERIMENT = Statement(lambda run_ids: Run.select(
    Run.run_id, Run.name, Run.experiment, Experiment.name, Run.status)
    .join(Experiment).where(Run.run_id.in_(run_ids)).tuples())


def version_values(model, versions) -> list[Version]:
    """For other use cases: version rows as values, with files (by path), aliases and lineage, in a few queries."""
    files: dict = {v.id: [] for v in versions}
    if files:
        for f in _FILES_OF.rows(list(files)):
            files[f.version_id].append(f)
    aliases: dict = {}
    for a in _ALIASES_OF.rows(model.id):
        aliases.setdefault(a.version, []).append(a.name)
    lineage = _lineage({v.run_id for v in versions if v.run_id})
    return [version_value(v, model.name, files[v.id], aliases.get(v.version, ()), lineage.get(v.run_id))
            for v in versions]


def _lineage(run_ids):
    """run_id -> Lineage: the run, its experiment, params and final metrics (three queries, no row objects)."""
    if not run_ids:
        return {}
    ids = list(run_ids)
    params: dict = {i: {} for i in ids}
    metrics: dict = {i: {} for i in ids}
    for run_id, key, value in _PARAMS_OF.rows(ids):
        params[run_id][key] = value
    for run_id, key, value, is_nan in _FINAL_METRICS_OF.rows(ids):
        metrics[run_id][key] = float("nan") if is_nan else value
    runs = _RUNS_WITH_EXPERIMENT.rows(ids)
    return {run_id: Lineage(run_id=run_id, run_name=name, experiment_id=experiment_id, experiment=experiment,
                            status=status, params=params[run_id], metrics=metrics[run_id])
            for run_id, name, experiment_id, experiment, status in runs}


def list_versions(principal: Principal, name: str, stage: str | None = None) -> list[Version]:
    """All versions of a model, newest first, optionally only those in ``stage``."""
    model = _plain_model(principal, name)
    query = ModelVersion.select().where(ModelVersion.model == model).order_by(ModelVersion.version.desc())
    if stage is not None:
        query = query.where(ModelVersion.stage == lifecycle.parse_stage(stage))
    return version_values(model, list(query))


def version_page(principal: Principal, name: str, limit: int = 50,
                 before: int | None = None) -> tuple[list[Version], int | None]:
    """Versions newest first, ``limit`` at a time, below version number ``before``;
    returns (versions, the ``before`` of the next page or None)."""
    model = _plain_model(principal, name)
    query = ModelVersion.select().where(ModelVersion.model == model)
    if before is not None:
        query = query.where(ModelVersion.version < before)
    rows = list(query.order_by(ModelVersion.version.desc()).limit(limit + 1))
    following = rows[limit - 1].version if len(rows) > limit else None
    return version_values(model, rows[:limit]), following


def update_version(principal: Principal, name: str, ref: str, description: str | None = None,
                   tags: dict | None = None) -> Version:
    """Change a version's description and/or tags; its files never change."""
    principal.require("writer", name)
    with write_transaction():
        model = lock_model(name)
        version = resolve_ref(model, ref)
        if _apply_changes(version, description, tags):
            version.save()
    return version_values(model, [version])[0]


def register_version(principal: Principal, name: str, source: str, description: str = "",
                     tags: dict | None = None) -> Version:
    """Register a new version of ``name`` (created if missing) from ``source``.

    ``source`` is ``runs:/<run_id>/<path>`` or ``models:/<name>/<ref>``. No
    bytes are copied: the version's manifest points at the same blobs.
    Raises validation_error for a malformed source, source_not_found when it
    names nothing, forbidden without access to the model or the source model.
    """
    check_model_name(name)
    principal.require("writer", name)
    with write_transaction():
        model = lock_model(name, create=True)
        run_id, files = source_files(source, model, principal)
        model.last_version += 1
        model.updated_at = utcnow()
        model.save()
        now = utcnow()
        version = ModelVersion.create(
            model=model, version=model.last_version, stage=lifecycle.NONE, source=source,
            run_id=run_id, description=description or "", tags=tags or {},
            created_at=now, updated_at=now,
        )
        VersionFile.insert_many(
            [{"version": version, "path": path, "sha256": sha, "size": size} for path, sha, size in files]
        ).execute()
        audit.append(audit.REGISTER, principal.name, model=model.name, version=version.version,
                     to_stage=lifecycle.NONE, comment=f"registered from {source}")
    return version_values(model, [version])[0]


# --- lifecycle -----------------------------------------------------------

def transition(principal: Principal, name: str, ref: str, stage: str,
               comment: str = "") -> tuple[Version, list[AuditEntry]]:
    """Move a version to ``stage``; return (version, [records written, oldest first]).

    Promoting to Production archives the previous Production version in the
    same transaction, recorded first, so history never shows two at once.
    Moves into or out of Production need a maintainer, others a writer.
    Raises validation_error, not_found, invalid_transition, forbidden.
    """
    target = lifecycle.parse_stage(stage)
    comment = comment or ""
    # The role depends on the move, so it is checked once the version is known.
    principal.require("reader", name)
    records = []
    with write_transaction():
        model = lock_model(name)
        version = resolve_ref(model, ref)
        lifecycle.check_transition(version.stage, target)
        principal.require(role_for_transition(version.stage, target), name)
        if target == lifecycle.PRODUCTION:
            current = (ModelVersion.select()
                       .where((ModelVersion.model == model) & (ModelVersion.stage == lifecycle.PRODUCTION))
                       .first())
            if current is not None:
                _set_stage(current, lifecycle.ARCHIVED)
                records.append(audit.append(
                    audit.TRANSITION, principal.name, model=name, version=current.version,
                    from_stage=lifecycle.PRODUCTION, to_stage=lifecycle.ARCHIVED, comment=comment,
                    cause=f"replaced by version {version.version}"))
        previous = version.stage
        _set_stage(version, target)
        records.append(audit.append(audit.TRANSITION, principal.name, model=name, version=version.version,
                                    from_stage=previous, to_stage=target, comment=comment))
        model.updated_at = utcnow()
        model.save()
    return version_values(model, [version])[0], [audit_entry(r) for r in records]


def _set_stage(version, stage):
    version.stage = stage
    version.updated_at = utcnow()
    version.save()


def version_file(version: Version, path: str) -> FileEntry:
    """The file ``path`` of a version; raises not_found."""
    check_artifact_path(path)
    for f in version.files:
        if f.path == path:
            return f
    raise RegistryError("not_found", f"Version {version.version} of {version.name} has no file {path}.")

