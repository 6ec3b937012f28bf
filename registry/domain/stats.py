"""What the registry holds, counted in the database: the same answer from every instance (for /metrics)."""
from dataclasses import dataclass
from typing import Any

from peewee import SQL
from peewee import fn

from ..models import AuditRecord
from ..models import ModelVersion
from ..models import RegisteredModel
from . import audit
from .auth import METRICS_ROLE
from .auth import Principal
from .errors import RegistryError
from .lifecycle import STAGES


@dataclass(frozen=True)
class RegistryStats:
    models: int
    versions_by_stage: dict[str, int]
    # (from stage, to stage) -> stage moves recorded in the audit log, ever
    transitions: dict[tuple[str, str], int]


def require_scraper(principal: Principal) -> None:
    """Metrics cover every model: a metrics token, or an admin not limited to some models."""
    if principal.role == METRICS_ROLE or (principal.role == "admin" and not principal.models):
        return
    raise RegistryError("forbidden", f"/metrics needs a metrics token or an admin token for every model; token "
                                     f"{principal.name!r} has the {principal.role} role"
                                     + (" limited to some models." if principal.models else "."))


def registry_stats(principal: Principal) -> RegistryStats:
    """Counts of models, versions per stage, and stage moves; raises forbidden."""
    require_scraper(principal)
    by_stage = dict.fromkeys(STAGES, 0)
    stages: Any = (ModelVersion.select(ModelVersion.stage, fn.COUNT(SQL("*")))
                   .group_by(ModelVersion.stage).tuples())
    for stage, count in stages:
        by_stage[stage] = count
    moves: Any = (AuditRecord.select(AuditRecord.from_stage, AuditRecord.to_stage, fn.COUNT(SQL("*")))
                  .where(AuditRecord.action == audit.TRANSITION)
                  .group_by(AuditRecord.from_stage, AuditRecord.to_stage).tuples())
    return RegistryStats(models=RegisteredModel.select().count(), versions_by_stage=by_stage,
                         transitions={(source, target): count for source, target, count in moves})
