"""What a ``{ref}`` in a URL means: a version number, ``latest``, a stage, or ``@alias``."""
from ..models import ModelVersion
from ..models import VersionAlias
from . import lifecycle
from .errors import RegistryError
from .names import VERSION_NUMBER_RE
from .names import check_alias

_MAX_VERSION = 2**31 - 1


def resolve_ref(model, ref):
    """Return the version of ``model`` that ``ref`` names.

    ``ref`` is a version number, ``latest``, a stage name in any case (the
    newest version in that stage) or ``@alias``. Raises validation_error or not_found.
    """
    base = ModelVersion.select().where(ModelVersion.model == model)
    if ref.startswith("@"):
        alias = VersionAlias.get_or_none((VersionAlias.model == model) & (VersionAlias.name == check_alias(ref[1:])))
        found = base.where(ModelVersion.version == alias.version).first() if alias else None
        missing = f"{model.name} has no alias {ref[1:]}."
    elif VERSION_NUMBER_RE.match(ref):
        number = int(ref)
        found = base.where(ModelVersion.version == number).first() if number <= _MAX_VERSION else None
        missing = f"{model.name} has no version {ref}."
    elif ref.lower() == "latest":
        found = base.order_by(ModelVersion.version.desc()).first()
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
        found = base.where(ModelVersion.stage == stage).order_by(ModelVersion.version.desc()).first()
        missing = f"{model.name} has no version in {stage}."
    if found is None:
        raise RegistryError("not_found", missing)
    found.model = model
    return found
