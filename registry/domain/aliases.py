"""Use cases for aliases: mutable names (``@champion``) for a model's versions.

Setting, moving and deleting one is an audit record in the same chain, with
the previous target. Aliases never change a stage: the lifecycle rules stand.
"""
from ..db import write_transaction
from ..models import VersionAlias
from ..models import utcnow
from . import audit
from .auth import Principal
from .errors import RegistryError
from .names import check_alias
from .refs import resolve_ref
from .service import lock_model
from .values import AliasMove


def set_alias(principal: Principal, name: str, alias: str, ref: str, comment: str = "") -> AliasMove:
    """Point ``alias`` at the version ``ref`` names (moving it if set).

    Raises validation_error, not_found, forbidden (writers may move aliases).
    """
    check_alias(alias)
    principal.require("writer", name)
    with write_transaction():
        model = lock_model(name)
        version = resolve_ref(model, ref)
        current = VersionAlias.get_or_none((VersionAlias.model == model) & (VersionAlias.name == alias))
        previous = current.version if current is not None else None
        if current is None:
            VersionAlias.create(model=model, name=alias, version=version.version)
            cause = None
        else:
            VersionAlias.update(version=version.version).where(
                (VersionAlias.model == model) & (VersionAlias.name == alias)).execute()
            cause = f"previously version {current.version}"
        _touch(model)
        record = audit.append(audit.ALIAS_SET, principal.name, model=name, version=version.version,
                              subject=alias, comment=comment, cause=cause)
    return AliasMove(model=name, alias=alias, version=version.version, previous_version=previous, record_id=record.id)


def delete_alias(principal: Principal, name: str, alias: str, comment: str = "") -> AliasMove:
    """Remove ``alias`` (the audit record's version is the target it had).

    Raises validation_error, not_found, forbidden.
    """
    check_alias(alias)
    principal.require("writer", name)
    with write_transaction():
        model = lock_model(name)
        current = VersionAlias.get_or_none((VersionAlias.model == model) & (VersionAlias.name == alias))
        if current is None:
            raise RegistryError("not_found", f"{name} has no alias {alias}.")
        VersionAlias.delete().where((VersionAlias.model == model) & (VersionAlias.name == alias)).execute()
        _touch(model)
        record = audit.append(audit.ALIAS_DELETE, principal.name, model=name, version=current.version,
                              subject=alias, comment=comment, cause=f"previously version {current.version}")
    return AliasMove(model=name, alias=alias, version=None, previous_version=current.version, record_id=record.id)


def _touch(model):
    model.updated_at = utcnow()
    model.save()
