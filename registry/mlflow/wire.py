"""Domain values in MLflow's JSON: ids and versions as strings, times in epoch milliseconds,
tags as [{"key", "value"}], and artifact URIs that point back at this service's proxy."""
import calendar
import math

from ..domain.values import Experiment
from ..domain.values import LoggedModelValue
from ..domain.values import MetricPoint
from ..domain.values import Model
from ..domain.values import Run
from ..domain.values import Version

# A registered version's files, served read-only from its manifest.
VERSIONS_ROOT = "registered"


def ms(value) -> int | None:
    """A stored (naive UTC) time as epoch milliseconds."""
    if value is None:
        return None
    return calendar.timegm(value.timetuple()) * 1000 + value.microsecond // 1000


def double(value: float):
    # JSON has no NaN or infinity; protobuf's JSON mapping spells them as strings.
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def pairs(mapping: dict) -> list[dict]:
    return [{"key": k, "value": v} for k, v in sorted(mapping.items())]


def run_artifact_uri(experiment_id: int, run_id: str) -> str:
    return f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"


def version_artifact_uri(name: str, version: int) -> str:
    return f"mlflow-artifacts:/{VERSIONS_ROOT}/{name}/{version}"


def experiment(e: Experiment) -> dict:
    return {"experiment_id": str(e.experiment_id), "name": e.name,
            "artifact_location": f"mlflow-artifacts:/{e.experiment_id}", "lifecycle_stage": "active",
            "creation_time": ms(e.created_at), "last_update_time": ms(e.updated_at), "tags": pairs(e.tags)}


def metric(point: MetricPoint) -> dict:
    return {"key": point.key, "value": double(point.value), "timestamp": point.timestamp, "step": point.step}


def run_info(r: Run) -> dict:
    info = {"run_id": r.run_id, "run_uuid": r.run_id, "run_name": r.name or "", "experiment_id": str(r.experiment_id),
            "user_id": r.created_by or "", "status": r.status, "start_time": ms(r.start_time),
            "artifact_uri": run_artifact_uri(r.experiment_id, r.run_id), "lifecycle_stage": "active"}
    if r.end_time is not None:
        info["end_time"] = ms(r.end_time)
    return info


def run(r: Run, models: list[LoggedModelValue]) -> dict:
    return {
        "info": run_info(r),
        "data": {"metrics": [metric(p) for _, p in sorted(r.metrics.items())], "params": pairs(r.params),
                 "tags": pairs(r.tags)},
        "inputs": {},
        "outputs": {"model_outputs": [{"model_id": m.model_id, "step": 0} for m in models]},
    }


def model_version(v: Version) -> dict:
    return {"name": v.name, "version": str(v.version), "creation_timestamp": ms(v.created_at),
            "last_updated_timestamp": ms(v.updated_at), "current_stage": v.stage, "description": v.description,
            "source": v.source, "run_id": v.run_id or "", "status": "READY", "tags": pairs(v.tags),
            "aliases": list(v.aliases), "run_link": ""}


def registered_model(m: Model, latest: list[Version]) -> dict:
    return {"name": m.name, "creation_timestamp": ms(m.created_at), "last_updated_timestamp": ms(m.updated_at),
            "description": m.description, "latest_versions": [model_version(v) for v in latest],
            "tags": pairs(m.tags), "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(m.aliases.items())]}


def logged_model(m: LoggedModelValue) -> dict:
    return {
        "info": {"model_id": m.model_id, "experiment_id": str(m.experiment_id), "name": m.name,
                 "artifact_uri": f"{run_artifact_uri(m.experiment_id, m.run_id)}/{m.artifact_path}",
                 "creation_timestamp_ms": ms(m.created_at), "last_updated_timestamp_ms": ms(m.updated_at),
                 "status": f"LOGGED_MODEL_{m.status}" if m.status != "FAILED" else "LOGGED_MODEL_UPLOAD_FAILED",
                 "model_type": m.model_type or "", "source_run_id": m.run_id,
                 "tags": pairs(m.tags)},
        "data": {"params": pairs(m.params), "metrics": []},
    }
