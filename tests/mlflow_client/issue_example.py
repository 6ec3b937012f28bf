"""The MLflow code from the issue, run by a real MLflow client against MLFLOW_TRACKING_URI.

Run by tests/test_mlflow_client.py with the client under test (3.x in .venv,
2.22 in .venv-mlflow2). Prints one JSON line with what the client saw, so
the test asserts on it; any exception fails the script.
"""
import json
import os
import sys
import tempfile

import mlflow
import mlflow.pyfunc
from mlflow import MlflowClient


class Doubler(mlflow.pyfunc.PythonModel):
    """A tiny model: predicts twice its input."""

    def predict(self, context, model_input, params=None):
        return [2 * x for x in model_input["x"]]


def train(name, best_accuracy):
    losses = [1.0 / (epoch + 1) for epoch in range(10)]
    accuracies = [best_accuracy - (9 - epoch) / 20 for epoch in range(10)]
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_params({"learning_rate": 3e-5, "batch_size": 32, "epochs": 10, "model": "bert-base-chinese"})
        for epoch in range(10):
            mlflow.log_metrics({"train_loss": losses[epoch], "val_accuracy": accuracies[epoch]}, step=epoch)
        if mlflow.__version__.startswith("2."):
            mlflow.pyfunc.log_model("model", python_model=Doubler())
        else:
            mlflow.pyfunc.log_model(name="model", python_model=Doubler())
        with tempfile.TemporaryDirectory() as tmp:
            for filename, data in (("confusion_matrix.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
                                   ("config.yaml", b"lr: 3e-5\n")):
                path = os.path.join(tmp, filename)
                with open(path, "wb") as f:
                    f.write(data)
                mlflow.log_artifact(path)
    return run.info.run_id


def main():
    import pandas

    mlflow.set_experiment("bert-text-classification")
    run_id = train("lr-3e-5-batch-32", 0.95)
    mv = mlflow.register_model(f"runs:/{run_id}/model", "TextClassifier")
    client = MlflowClient()
    client.transition_model_version_stage(name="TextClassifier", version=mv.version, stage="Staging")
    client.transition_model_version_stage(name="TextClassifier", version=mv.version, stage="Production")
    model = mlflow.pyfunc.load_model("models:/TextClassifier/Production")
    prediction = [int(v) for v in model.predict(pandas.DataFrame({"x": [1, 2, 3]}))]

    client.set_registered_model_alias("TextClassifier", "champion", mv.version)
    champion = mlflow.pyfunc.load_model("models:/TextClassifier@champion")
    champion_prediction = [int(v) for v in champion.predict(pandas.DataFrame({"x": [5]}))]

    other = train("lr-1e-4-batch-16", 0.97)
    experiment = mlflow.get_experiment_by_name("bert-text-classification")
    ordered = mlflow.search_runs([experiment.experiment_id], order_by=["metrics.val_accuracy DESC"],
                                 output_format="list")
    history = client.get_metric_history(run_id, "val_accuracy")
    latest = client.get_latest_versions("TextClassifier", stages=["Production"])
    print(json.dumps({
        "run_id": run_id, "other_run_id": other, "version": mv.version, "prediction": prediction,
        "champion_prediction": champion_prediction,
        "ordered": [(r.info.run_id, r.data.metrics.get("val_accuracy")) for r in ordered],
        "history": [(m.step, m.value) for m in history],
        "latest_production": [(v.version, v.current_stage) for v in latest],
        "artifacts": sorted(f.path for f in client.list_artifacts(run_id)),
        "params": client.get_run(run_id).data.params,
        "client": mlflow.__version__,
    }))


if __name__ == "__main__":
    sys.exit(main())
