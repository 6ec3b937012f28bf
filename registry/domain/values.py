"""What use cases return: plain, frozen values that every surface can render.

Built from table rows here and nowhere else, so no surface sees an ORM row
or depends on which attributes a query happened to attach.
"""
import datetime
from dataclasses import dataclass

Time = datetime.datetime  # naive, always UTC


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Model:
    name: str
    description: str
    tags: dict
    created_at: Time
    updated_at: Time
    latest_version: int | None
    production_version: int | None


@dataclass(frozen=True)
class Version:
    name: str
    version: int
    stage: str
    source: str
    run_id: str | None
    description: str
    tags: dict
    created_at: Time
    updated_at: Time
    files: tuple[FileEntry, ...]
    status: str = "READY"


@dataclass(frozen=True)
class Run:
    run_id: str
    name: str | None
    experiment: str | None
    created_at: Time
    files: tuple[FileEntry, ...] = ()


@dataclass(frozen=True)
class AuditEntry:
    id: int
    action: str
    model: str | None
    version: int | None
    from_stage: str | None
    to_stage: str | None
    actor: str
    comment: str
    cause: str | None
    subject: str | None
    created_at: Time
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Token:
    name: str
    role: str
    models: tuple[str, ...]
    created_by: str
    created_at: Time
    expires_at: Time | None
    revoked_at: Time | None


def file_entry(row) -> FileEntry:
    return FileEntry(path=row.path, size=row.size, sha256=row.sha256)


def model_value(row) -> Model:
    """From a RegisteredModel row selected with latest_version and production_version."""
    return Model(name=row.name, description=row.description, tags=row.tags, created_at=row.created_at,
                 updated_at=row.updated_at, latest_version=row.latest_version,
                 production_version=row.production_version)


def version_value(row, model_name: str, files) -> Version:
    return Version(name=model_name, version=row.version, stage=row.stage, source=row.source, run_id=row.run_id,
                   description=row.description, tags=row.tags, created_at=row.created_at,
                   updated_at=row.updated_at, files=tuple(file_entry(f) for f in files))


def run_value(row, files=()) -> Run:
    return Run(run_id=row.run_id, name=row.name, experiment=row.experiment, created_at=row.created_at,
               files=tuple(file_entry(f) for f in files))


def audit_entry(row) -> AuditEntry:
    return AuditEntry(id=row.id, action=row.action, model=row.model, version=row.version,
                      from_stage=row.from_stage, to_stage=row.to_stage, actor=row.actor, comment=row.comment,
                      cause=row.cause, subject=row.subject, created_at=row.created_at,
                      prev_hash=row.prev_hash, hash=row.hash)


def token_value(row) -> Token:
    return Token(name=row.name, role=row.role, models=tuple(row.model_patterns), created_by=row.created_by,
                 created_at=row.created_at, expires_at=row.expires_at, revoked_at=row.revoked_at)
