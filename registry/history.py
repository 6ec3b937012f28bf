"""The audit trail: one append-only record per registration and stage move.

Records are keyed by model name, not by a foreign key, so they outlive the model.
"""
from peewee import fn

from .errors import RegistryError
from .models import RegisteredModel
from .models import StageTransition
from .names import check_model_name
from .refs import resolve_ref


def record(model_name, version, from_stage, to_stage, actor, comment, cause=None):
    return StageTransition.create(
        model=model_name, version=version, from_stage=from_stage, to_stage=to_stage,
        actor=actor, comment=comment or "", cause=cause,
    )


def first_free_version(name):
    # A model deleted and created again continues its numbering, so the
    # history (which outlives the model) never has two different version 3s.
    row = StageTransition.select(fn.MAX(StageTransition.version)).where(StageTransition.model == name)
    return row.scalar() or 0


def history(name, ref=None):
    """The audit records of a model (or of one version), oldest first.

    Records outlive the model: a deleted model's history is still returned.
    """
    check_model_name(name)
    query = StageTransition.select().where(StageTransition.model == name).order_by(StageTransition.id)
    model = RegisteredModel.get_or_none(RegisteredModel.name == name)
    if ref is not None:
        if model is None:
            raise RegistryError("not_found", f"Model {name} does not exist.")
        query = query.where(StageTransition.version == resolve_ref(model, ref).version)
    records = list(query)
    if model is None and not records:
        raise RegistryError("not_found", f"Model {name} does not exist and has no history.")
    return records
