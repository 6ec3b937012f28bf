"""What a ``{ref}`` in a URL means: a version number, ``latest``, a stage, or ``@alias``."""
from ..models import ModelVersion
from ..models import VersionAlias
from ..statements import Statement
from . import lifecycle
from .errors import RegistryError
from .names import VERSION_NUMBER_RE
from .names import check_alias

_MAX_VERSION = 2**31 - 1

_ALIAS = Statement(lambda model_id, name: VersionAlias.select().where(
    (VersionAlias.model == model_id) & (VersionAlias.name == name)))
_NUMBERED = Statement(lambda model_id, number: ModelVersion.select().where(
    (ModelVersion.model == model_id) & (ModelVersion.version == number)))
_LATEST = Statement(lambda model_id: ModelVersion.select().where(ModelVersion.model == model_id)
                    .order_by(ModelVersion.version.desc()).limit(1))
_NEWEST_IN_STAGE = Statement(lambda model_id, stage: ModelVersion.select().where(
    (ModelVersion.model == model_id) & (ModelVersion.stage == stage)).order_by(ModelVersion.version.desc()).limit(1))


def resolve_ref(model, ref):
    """Return the version of ``model`` that ``ref`` names.

    ``ref`` is a version number, ``latest``, a stage name in any case (the
    newest version in that stage) or ``@alias``. Raises validation_error or not_found.
    """
    if ref.startswith("@"):
        alias = _ALIAS.first(model.id, check_alias(ref[1:]))
        found = _NUMBERED.first(model.id, alias.version) if alias else None
        missing = f"{model.name} has no alias {ref[1:]}."
    elif VERSION_NUMBER_RE.match(ref):
        number = int(ref)
        found = _NUMBERED.first(model.id, number) if number <= _MAX_VERSION else None
        missing = f"{model.name} has no version {ref}."
    elif ref.lower() == "latest":
        found = _LATEST.first(model.id)
        missing = f"{model.name} has no versions yet."
    else:
        stage = lifecycle.canonical_stage(ref)
        if stage is None:
            raise RegistryError(
                "validation_error",
                f"{ref!r} is not a version reference; use a version number, 'latest', a stage "
                f"({', '.join(lifecycle.STAGES)}) or @alias.",
                {"ref": ["Invalid version reference."]},
            )
        found = _NEWEST_IN_STAGE.first(model.id, stage)
        missing = f"{model.name} has no version in {stage}."
    if found is None:
        raise RegistryError("not_found", missing)
    found.model = model
    return found
