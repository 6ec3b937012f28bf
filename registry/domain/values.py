"""What use cases return: plain, frozen values that every surface can render.

Built from table rows here and nowhere else, so no surface sees an ORM row
or depends on which attributes a query happened to attach.
"""
import datetime
import json
from dataclasses import dataclass
from dataclasses import field

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
    aliases: dict = field(default_factory=dict)  # alias -> version number


@dataclass(frozen=True)
class Lineage:
    """Where a version came from: its run, that run's experiment, params and final metrics."""

    run_id: str
    run_name: str | None
    experiment_id: int
    experiment: str
    status: str
    params: dict
    metrics: dict  # key -> final value


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
    aliases: tuple[str, ...] = ()
    lineage: Lineage | None = None
    status: str = "READY"


@dataclass(frozen=True)
class Experiment:
    experiment_id: int
    name: str
    tags: dict
    created_by: str
    created_at: Time
    updated_at: Time


@dataclass(frozen=True)
class MetricPoint:
    key: str
    value: float  # NaN and +-Inf included
    step: int
    timestamp: int  # milliseconds since the epoch


@dataclass(frozen=True)
class Run:
    run_id: str
    name: str | None
    experiment_id: int
    experiment: str
    status: str
    status_reason: str | None
    start_time: Time | None
    end_time: Time | None
    created_by: str | None
    created_at: Time
    params: dict
    tags: dict
    metrics: dict  # key -> the latest MetricPoint
    files: tuple[FileEntry, ...] = ()


@dataclass(frozen=True)
class LoggedModelValue:
    model_id: str
    experiment_id: int
    run_id: str
    name: str
    artifact_path: str  # the folder of the run's files that holds the model
    model_type: str | None
    status: str
    params: dict
    tags: dict
    created_by: str
    created_at: Time
    updated_at: Time

    @property
    def source(self) -> str:
        return f"runs:/{self.run_id}/{self.artifact_path}"


@dataclass(frozen=True)
class AliasMove:
    """An alias set, moved or deleted: its target now (None once deleted) and before."""

    model: str
    alias: str
    version: int | None
    previous_version: int | None
    record_id: int


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


@dataclass(frozen=True)
class Webhook:
    id: int
    url: str
    events: tuple[str, ...]
    models: tuple[str, ...]
    description: str
    active: bool
    created_by: str
    created_at: Time
    updated_at: Time


@dataclass(frozen=True)
class Attempt:
    attempted_at: Time
    status_code: int | None
    latency_ms: float
    error: str | None


@dataclass(frozen=True)
class Delivery:
    id: int
    webhook_id: int
    event_id: int | None  # the audit record; None for a ping
    event: str
    model: str | None
    status: str  # pending, delivered, failed
    attempts: tuple[Attempt, ...]
    next_attempt_at: Time | None
    created_at: Time
    delivered_at: Time | None


def file_entry(row) -> FileEntry:
    return FileEntry(path=row.path, size=row.size, sha256=row.sha256)


def model_value(row, aliases: dict) -> Model:
    """From a RegisteredModel row selected with latest_version and production_version."""
    return Model(name=row.name, description=row.description, tags=row.tags, created_at=row.created_at,
                 updated_at=row.updated_at, latest_version=row.latest_version,
                 production_version=row.production_version, aliases=aliases)


def version_value(row, model_name: str, files, aliases=(), lineage: Lineage | None = None) -> Version:
    return Version(name=model_name, version=row.version, stage=row.stage, source=row.source, run_id=row.run_id,
                   description=row.description, tags=row.tags, created_at=row.created_at,
                   updated_at=row.updated_at, files=tuple(file_entry(f) for f in files),
                   aliases=tuple(aliases), lineage=lineage)


def experiment_value(row) -> Experiment:
    return Experiment(experiment_id=row.id, name=row.name, tags=row.tags, created_by=row.created_by,
                      created_at=row.created_at, updated_at=row.updated_at)


def metric_point(row) -> MetricPoint:
    return MetricPoint(key=row.key, value=float("nan") if row.is_nan else row.value, step=row.step,
                       timestamp=row.timestamp)


def run_value(row, experiment_name: str, params: dict, tags: dict, metrics: dict, files=()) -> Run:
    return Run(run_id=row.run_id, name=row.name, experiment_id=row.experiment_id, experiment=experiment_name,
               status=row.status, status_reason=row.status_reason, start_time=row.start_time,
               end_time=row.end_time, created_by=row.created_by, created_at=row.created_at,
               params=params, tags=tags, metrics=metrics, files=tuple(file_entry(f) for f in files))


def audit_entry(row) -> AuditEntry:
    return AuditEntry(id=row.id, action=row.action, model=row.model, version=row.version,
                      from_stage=row.from_stage, to_stage=row.to_stage, actor=row.actor, comment=row.comment,
                      cause=row.cause, subject=row.subject, created_at=row.created_at,
                      prev_hash=row.prev_hash, hash=row.hash)


def token_value(row) -> Token:
    return Token(name=row.name, role=row.role, models=tuple(row.model_patterns), created_by=row.created_by,
                 created_at=row.created_at, expires_at=row.expires_at, revoked_at=row.revoked_at)


def logged_model_value(row) -> LoggedModelValue:
    return LoggedModelValue(model_id=row.model_id, experiment_id=row.experiment_id, run_id=row.run_id, name=row.name,
                            artifact_path=row.artifact_path, model_type=row.model_type, status=row.status,
                            params=row.params, tags=row.tags, created_by=row.created_by, created_at=row.created_at,
                            updated_at=row.updated_at)


def webhook_value(row) -> Webhook:
    return Webhook(id=row.id, url=row.url, events=tuple(json.loads(row.events)), models=tuple(json.loads(row.models)),
                   description=row.description, active=row.active, created_by=row.created_by,
                   created_at=row.created_at, updated_at=row.updated_at)


def delivery_value(row, attempts) -> Delivery:
    return Delivery(id=row.id, webhook_id=row.webhook_id, event_id=row.record_id, event=row.event, model=row.model_name,
                    status=row.status, next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
                    created_at=row.created_at, delivered_at=row.delivered_at,
                    attempts=tuple(Attempt(attempted_at=a.attempted_at, status_code=a.status_code,
                                           latency_ms=a.latency_ms, error=a.error) for a in attempts))
