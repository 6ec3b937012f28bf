"""Use cases that edit models and versions in place: rename, delete a version, single tags,
and the newest version per stage. Each is recorded like every other change."""
from peewee import IntegrityError

from ..db import write_transaction
from ..models import ModelVersion
from ..models import RegisteredModel
from ..models import VersionAlias
from ..models import utcnow
from . import audit
from . import lifecycle
from .auth import Principal
from .errors import RegistryError
from .names import check_model_name
from .refs import resolve_ref
from .service import load_model
from .service import lock_model
from .service import version_values
from .values import Model
from .values import Version


def rename_model(principal: Principal, name: str, new_name: str) -> Model:
    """Give a model a new name; its versions follow. The history so far stays under the old
    name, ending with a model_rename record that names the new one.

    Raises validation_error, not_found, forbidden (maintainer on both names), already_exists.
    """
    check_model_name(new_name)
    principal.require("maintainer", name)
    principal.require("maintainer", new_name)
    try:
        with write_transaction():
            model = lock_model(name)
            model.name = new_name
            model.updated_at = utcnow()
            model.save()
            audit.append(audit.MODEL_RENAME, principal.name, model=name, subject=new_name,
                         comment=f"renamed to {new_name}")
    except IntegrityError as exc:
        raise RegistryError("already_exists", f"Model {new_name} already exists.") from exc
    return load_model(new_name)


def delete_version(principal: Principal, name: str, ref: str) -> None:
    """Delete one version (its number is never reused; its history stays). Aliases on it go too.

    Raises not_found, forbidden, and model_in_use while it is in Staging or Production.
    """
    principal.require("maintainer", name)
    with write_transaction():
        model = lock_model(name)
        version = resolve_ref(model, ref)
        if version.stage in (lifecycle.STAGING, lifecycle.PRODUCTION):
            raise RegistryError(
                "model_in_use",
                f"Version {version.version} of {name} is in {version.stage}; archive it before deleting it.",
                {"versions": [{"version": version.version, "stage": version.stage}]},
            )
        VersionAlias.delete().where((VersionAlias.model == model) & (VersionAlias.version == version.version)).execute()
        version.delete_instance(recursive=True)
        audit.append(audit.VERSION_DELETE, principal.name, model=name, version=version.version,
                     from_stage=version.stage, comment="deleted; its history is kept")


def set_model_tag(principal: Principal, name: str, key: str, value: str | None) -> Model:
    """Set one tag of a model (``value`` None deletes it; a missing tag raises not_found)."""
    principal.require("writer", name)
    with write_transaction():
        model = lock_model(name)
        model.tags = _with_tag(model.tags, key, value, f"Model {name}")
        model.updated_at = utcnow()
        model.save()
    return load_model(name)


def set_version_tag(principal: Principal, name: str, ref: str, key: str, value: str | None) -> Version:
    """Set one tag of a version (``value`` None deletes it; a missing tag raises not_found)."""
    principal.require("writer", name)
    with write_transaction():
        model = lock_model(name)
        version = resolve_ref(model, ref)
        version.tags = _with_tag(version.tags, key, value, f"Version {version.version} of {name}")
        version.updated_at = utcnow()
        version.save()
    return version_values(model, [version])[0]


def _with_tag(tags, key, value, owner):
    if not isinstance(key, str) or not key or len(key) > 250:
        raise RegistryError("validation_error", "Tag keys are 1-250 characters.", {"key": [key]})
    tags = dict(tags)
    if value is None:
        if key not in tags:
            raise RegistryError("not_found", f"{owner} has no tag {key!r}.")
        del tags[key]
    else:
        tags[key] = value
    return tags


def latest_versions(principal: Principal, name: str, stages: list[str] | None = None) -> list[Version]:
    """The newest version in each stage (every stage if none is given), ordered by stage."""
    check_model_name(name)
    principal.require("reader", name)
    model = RegisteredModel.get_or_none(RegisteredModel.name == name)
    if model is None:
        raise RegistryError("not_found", f"Model {name} does not exist.")
    wanted = [lifecycle.parse_stage(s) for s in stages] if stages else list(lifecycle.STAGES)
    rows = []
    for stage in lifecycle.STAGES:
        if stage in wanted:
            newest = (ModelVersion.select().where((ModelVersion.model == model) & (ModelVersion.stage == stage))
                      .order_by(ModelVersion.version.desc()).first())
            if newest is not None:
                rows.append(newest)
    return version_values(model, rows)
