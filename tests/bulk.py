"""A large registry in seconds, for the UI's scale test and bench/ui_render.py.

Rows go straight into the tables in batches; only the few stage moves go
through the use cases, so the timeline and the audit chain are real.
"""
import uuid

from registry.db import database
from registry.domain import auth
from registry.domain import service
from registry.models import Experiment
from registry.models import ModelVersion
from registry.models import RegisteredModel
from registry.models import Run
from registry.models import RunLatestMetric
from registry.models import RunMetric
from registry.models import RunParam
from registry.models import VersionFile
from registry.models import utcnow

BATCH = 500


def _insert(model, rows):
    for start in range(0, len(rows), BATCH):
        model.insert_many(rows[start:start + BATCH]).execute()


def seed(model_name="Big", experiment_name="big", versions=10_000, runs=5_000, moves=20):
    """``versions`` versions of one model, from ``runs`` runs (3 params, 3 metrics of 10 steps each)."""
    now = utcnow()
    with database.atomic():
        experiment = Experiment.create(name=experiment_name, created_by="bulk")
        run_ids = [uuid.uuid4().hex for _ in range(runs)]
        _insert(Run, [{"run_id": r, "name": f"run-{i}", "experiment": experiment.id, "status": "FINISHED",
                       "start_time": now, "end_time": now, "created_by": "bulk", "created_at": now}
                      for i, r in enumerate(run_ids)])
        _insert(RunParam, [{"run": r, "key": k, "value": str(i % 7 if k == "seed" else 10 ** -(i % 4))}
                           for i, r in enumerate(run_ids) for k in ("lr", "seed", "epochs")])
        points = [{"run": r, "key": k, "value": (i % 100) / 100 + s / 100, "is_nan": False, "step": s,
                   "timestamp": 1_700_000_000_000 + s} for i, r in enumerate(run_ids)
                  for k in ("accuracy", "loss", "f1") for s in range(10)]
        _insert(RunMetric, points)
        _insert(RunLatestMetric, [p for p in points if p["step"] == 9])
        model = RegisteredModel.create(name=model_name, last_version=versions, created_at=now, updated_at=now)
        _insert(ModelVersion, [{"model": model.id, "version": v, "stage": "None", "run_id": run_ids[v % runs],
                                "source": f"runs:/{run_ids[v % runs]}/model", "created_at": now, "updated_at": now}
                               for v in range(1, versions + 1)])
        ids = [row.id for row in ModelVersion.select(ModelVersion.id).where(ModelVersion.model == model)]
        _insert(VersionFile, [{"version": i, "path": "model.bin", "sha256": "0" * 64, "size": 1024} for i in ids])
    for step in range(moves // 2):
        number = str(versions - moves // 2 + step + 1)
        service.transition(auth.SYSTEM, model_name, number, "Staging", "bulk candidate")
        service.transition(auth.SYSTEM, model_name, number, "Production", "bulk release")
    return run_ids
