"""Behaviour an MLflow client sees at the edges, run by a real MLflow client (see test_mlflow_client.py).

Usage: checks.py <native_run_id> <other_token>. Prints one JSON line.
"""
import json
import sys
import time

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def refused(call):
    """(error_code, message, seconds) of a call that must fail without retries."""
    started = time.monotonic()
    try:
        call()
    except MlflowException as exc:
        return [exc.error_code, exc.message, round(time.monotonic() - started, 2)]
    return None


def main(native_run_id, other_token):
    client = MlflowClient()
    native = client.get_run(native_run_id)
    run = mlflow.start_run()
    mlflow.log_param("lr", "0.1")
    changed_param = refused(lambda: mlflow.log_param("lr", "0.2"))
    mlflow.end_run()
    client.create_registered_model("Refusals")
    version = client.create_model_version("Refusals", f"runs:/{native_run_id}/model", run_id=native_run_id)
    to_production = refused(lambda: client.transition_model_version_stage("Refusals", version.version, "Production"))
    missing = refused(lambda: client.get_registered_model("NoSuchModel"))
    bad_stage = refused(lambda: client.transition_model_version_stage("Refusals", version.version, "Live"))
    # Another token, limited to models "nlp-*", names a model outside its reach in the body.
    import os

    os.environ["MLFLOW_TRACKING_TOKEN"] = other_token
    scoped = MlflowClient()
    outside = refused(lambda: scoped.transition_model_version_stage("Refusals", version.version, "Staging"))
    outside_register = refused(lambda: scoped.create_model_version("Refusals", f"runs:/{native_run_id}/model"))
    inside = scoped.create_model_version("nlp-tagger", f"runs:/{native_run_id}/model").version
    print(json.dumps({
        "native": {"experiment_id": native.info.experiment_id, "status": native.info.status,
                   "params": native.data.params, "metrics": native.data.metrics,
                   "artifacts": sorted(f.path for f in client.list_artifacts(native_run_id, "model"))},
        "mlflow_run_id": run.info.run_id,
        "changed_param": changed_param, "to_production": to_production, "missing": missing,
        "bad_stage": bad_stage, "outside": outside, "outside_register": outside_register, "inside": inside,
    }))


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
