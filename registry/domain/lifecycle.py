"""Stages and the moves allowed between them. Pure: no Flask, no I/O.

    None ──> Staging ──> Production ──> Archived
      │         │                          ^
      └─────────┴──────────────────────────┘   (retiring a candidate)

Archived is final: a rollback registers a new version from
``models:/<name>/<ref>`` instead of reviving an old one.
"""
from .errors import RegistryError

NONE = "None"
STAGING = "Staging"
PRODUCTION = "Production"
ARCHIVED = "Archived"

STAGES = (NONE, STAGING, PRODUCTION, ARCHIVED)

ALLOWED = {
    NONE: (STAGING, ARCHIVED),
    STAGING: (PRODUCTION, ARCHIVED),
    PRODUCTION: (ARCHIVED,),
    ARCHIVED: (),
}

_BY_LOWER = {stage.lower(): stage for stage in STAGES}


def canonical_stage(name):
    """Return the capitalised stage for ``name`` in any letter case, or None."""
    if not isinstance(name, str):
        return None
    return _BY_LOWER.get(name.lower())


def parse_stage(name):
    """Like canonical_stage, but raises validation_error for an unknown stage."""
    stage = canonical_stage(name)
    if stage is None:
        raise RegistryError(
            "validation_error",
            f"Unknown stage {name!r}; use one of {', '.join(STAGES)}.",
            {"stage": list(STAGES)},
        )
    return stage


def check_transition(current, target):
    """Raise invalid_transition unless ``current`` -> ``target`` is allowed."""
    allowed = ALLOWED[current]
    if target in allowed:
        return
    if allowed:
        hint = f"From {current} a version can move to {' or '.join(allowed)}."
    else:
        hint = f"{current} is final; register a new version from models:/ to roll back."
    raise RegistryError(
        "invalid_transition",
        f"Cannot move a version from {current} to {target}. {hint}",
        {"current_stage": current, "requested_stage": target, "allowed_stages": list(allowed)},
    )
