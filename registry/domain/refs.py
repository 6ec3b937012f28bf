"""What a ``{ref}`` in a URL means: a version number, ``latest``, a stage, or ``@alias``."""
from peewee import SQL

from ..models import ModelVersion
from ..models import RegisteredModel
from ..models import VersionAlias
from ..statements import Statement
from . import lifecycle
from .errors import RegistryError
from .names import VERSION_NUMBER_RE
from .names import check_alias

_MAX_VERSION = 2**31 - 1


def _newest_first(query):
    return query.order_by(ModelVersion.version.desc()).limit(1)


def _aliased(query):
    return query.join_from(ModelVersion, VersionAlias, on=(VersionAlias.model == ModelVersion.model)
                           & (VersionAlias.version == ModelVersion.version))


def _in_stage(stage):
    # The stage is written into the SQL, not bound: SQLite plans a statement
    # again on every run when a bound value could decide whether the partial
    # index model_version_one_production applies, which made a stage lookup
    # four times slower than a lookup by number. Stages are our own constants.
    if stage not in lifecycle.STAGES:
        raise ValueError(f"not a stage: {stage!r}")
    return ModelVersion.stage == SQL(f"'{stage}'")


# Each kind of ref, as the condition that picks its version; ``of`` is the
# model's condition (by id, or by name with the model's row joined in).
_KINDS = {
    "alias": lambda query, of, alias: _aliased(query).where(of & (VersionAlias.name == alias)),
    "number": lambda query, of, number: query.where(of & (ModelVersion.version == number)),
    "latest": lambda query, of: _newest_first(query.where(of)),
    **{stage: lambda query, of, stage=stage: _newest_first(query.where(of & _in_stage(stage)))
       for stage in lifecycle.STAGES},
}
_IN_MODEL = {kind: Statement(lambda model_id, *arg, pick=pick: pick(ModelVersion.select(),
                                                                   ModelVersion.model == model_id, *arg))
             for kind, pick in _KINDS.items()}
# The model's row comes with the version (one query, where a lookup by name would take two).
_IN_MODEL_NAMED = {kind: Statement(lambda name, *arg, pick=pick: pick(
    ModelVersion.select(ModelVersion, RegisteredModel).join(RegisteredModel), RegisteredModel.name == name, *arg))
    for kind, pick in _KINDS.items()}


def _parse(ref):
    """(kind, arguments, what to say if nothing matches) for ``ref``; raises validation_error.

    A number past the largest version is kind None: it names nothing.
    """
    if ref.startswith("@"):
        return "alias", (check_alias(ref[1:]),), f"has no alias {ref[1:]}."
    if VERSION_NUMBER_RE.match(ref):
        number = int(ref)
        return ("number" if number <= _MAX_VERSION else None), (number,), f"has no version {ref}."
    if ref.lower() == "latest":
        return "latest", (), "has no versions yet."
    stage = lifecycle.canonical_stage(ref)
    if stage is None:
        raise RegistryError(
            "validation_error",
            f"{ref!r} is not a version reference; use a version number, 'latest', a stage "
            f"({', '.join(lifecycle.STAGES)}) or @alias.",
            {"ref": ["Invalid version reference."]},
        )
    return stage, (), f"has no version in {stage}."


def resolve_ref(model, ref):
    """Return the version of ``model`` that ``ref`` names.

    ``ref`` is a version number, ``latest``, a stage name in any case (the
    newest version in that stage) or ``@alias``. Raises validation_error or not_found.
    """
    kind, args, missing = _parse(ref)
    found = _IN_MODEL[kind].first(model.id, *args) if kind else None
    if found is None:
        raise RegistryError("not_found", f"{model.name} {missing}")
    found.model = model
    return found


def resolve_named_ref(name, ref, model_named):
    """(model, version) for ``ref`` of the model called ``name``: one query when both exist.

    ``model_named(name)`` gives the model (or raises not_found) when they do not,
    so that the error says which of the two is missing.
    """
    try:
        kind, args, _ = _parse(ref)
    except RegistryError:
        model_named(name)  # a missing model is the error to report, as from resolve_ref
        raise
    found = _IN_MODEL_NAMED[kind].first(name, *args) if kind else None
    if found is not None:
        return found.model, found
    model = model_named(name)
    return model, resolve_ref(model, ref)
