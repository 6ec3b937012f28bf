"""A model's lifecycle as intervals: which version held Staging and Production, and when.

Drawn from the audit history, which is the system of record for moves; the
versions table only knows where each version is now.
"""
from dataclasses import dataclass

from ..models import AuditRecord
from . import audit
from . import lifecycle
from .auth import Principal
from .names import check_model_name
from .values import AuditEntry
from .values import Time
from .values import audit_entry

HELD_STAGES = (lifecycle.STAGING, lifecycle.PRODUCTION)
MAX_MOVES = 500


@dataclass(frozen=True)
class StageInterval:
    """One version holding one stage, from ``start`` until ``end`` (None: it still does)."""

    version: int
    stage: str
    start: Time
    end: Time | None
    entered: AuditEntry | None  # None: entered before the moves shown
    left: AuditEntry | None  # None: still holds the stage


@dataclass(frozen=True)
class Timeline:
    intervals: tuple[StageInterval, ...]
    moves: tuple[AuditEntry, ...]  # oldest first
    complete: bool  # False: older moves exist than the MAX_MOVES shown


def stage_timeline(principal: Principal, name: str, limit: int = MAX_MOVES) -> Timeline:
    """The latest ``limit`` moves into or out of Staging and Production, as intervals.

    Records outlive the model, so a deleted model's timeline is still drawn.
    Raises forbidden without read access.
    """
    check_model_name(name)
    principal.require("reader", name)
    held = AuditRecord.from_stage.in_(HELD_STAGES) | AuditRecord.to_stage.in_(HELD_STAGES)
    rows = list(AuditRecord.select()
                .where((AuditRecord.model == name) & (AuditRecord.action == audit.TRANSITION) & held)
                .order_by(AuditRecord.id.desc()).limit(limit + 1))
    complete = len(rows) <= limit
    moves = [audit_entry(r) for r in reversed(rows[:limit])]
    return Timeline(intervals=tuple(_intervals(moves)), moves=tuple(moves), complete=complete)


def _intervals(moves):
    holding: dict = {}  # (version, stage) -> (start, entering record)
    intervals = []
    first = moves[0].created_at if moves else None
    for move in moves:
        key = (move.version, move.from_stage)
        if move.from_stage in HELD_STAGES:
            start, entered = holding.pop(key, (first, None))
            intervals.append(StageInterval(move.version, move.from_stage, start, move.created_at, entered, move))
        if move.to_stage in HELD_STAGES:
            holding[(move.version, move.to_stage)] = (move.created_at, move)
    for (version, stage), (start, entered) in holding.items():
        intervals.append(StageInterval(version, stage, start, None, entered, None))
    return sorted(intervals, key=lambda i: (i.start, i.version))
