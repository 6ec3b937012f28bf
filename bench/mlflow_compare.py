"""The MLflow REST API, this service vs. `mlflow server`, side by side in one run.

Both servers run on this machine with the same worker count, SQLite and local
artifacts. One client (a keep-alive session, one request at a time) sends
both the same MLflow requests, and the script prints a table of throughput,
p50 and the ratio ours / MLflow's:

  * log-batch of 100 metrics;
  * search_runs ordered by a metric over N runs (10,000 by default);
  * get-latest-versions;
  * model-versions/create and transition-stage.

Targets (issue 6): each ratio >= 3, and search p50 < 50 ms.

    .venv/bin/python bench/mlflow_compare.py [--runs 10000] [--seconds 5] [--workers 2]

MLflow 3.17.2 with its server is installed into bench/.venv-mlflow-server on first use.
"""
import argparse
import concurrent.futures
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MLFLOW_VENV = os.path.join(ROOT, "bench", ".venv-mlflow-server")
MLFLOW = "mlflow==3.17.2"
API = "/api/2.0/mlflow"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mlflow_binary():
    binary = os.path.join(MLFLOW_VENV, "bin", "mlflow")
    if not os.path.exists(binary):
        print(f"installing {MLFLOW} into {MLFLOW_VENV} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", MLFLOW_VENV], check=True)
        subprocess.run([os.path.join(MLFLOW_VENV, "bin", "pip"), "install", "--quiet", MLFLOW], check=True)
    return binary


class Server:
    def __init__(self, name, command, env, port, headers):
        self.name, self.port = name, port
        self.base = f"http://127.0.0.1:{port}"
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.http = requests.Session()
        self.http.headers.update(headers)

    def wait(self, path):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base + path, timeout=1).status_code < 500:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.log.seek(0)
        raise RuntimeError(f"{self.name} did not start: {self.log.read()[-3000:]!r}")

    def call(self, method, path, **kwargs):
        response = self.http.request(method, self.base + path, timeout=60, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{self.name} {method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else {}

    def stop(self):
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def start_ours(workdir, workers):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env["REGISTRY_DATA_DIR"] = os.path.join(workdir, "registry")
    command = [os.path.join(ROOT, ".venv", "bin", "registry"), "serve", "--port", str(port),
               "--workers", str(workers), "--threads", "8"]
    server = Server("registry", command, env, port, {}).wait("/healthz")
    with open(os.path.join(env["REGISTRY_DATA_DIR"], "admin.token")) as f:
        server.http.headers["Authorization"] = f"Bearer {f.read().strip()}"
    return server


def start_mlflow(workdir, workers):
    port = free_port()
    command = [mlflow_binary(), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
               "--backend-store-uri", f"sqlite:///{workdir}/mlflow.db",
               "--artifacts-destination", os.path.join(workdir, "mlflow-artifacts")]
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    return Server("mlflow", command, env, port, {}).wait("/health")


def seed_runs(server, experiment_id, count, threads=8):
    """``count`` runs, each with a metric `acc` (the same values on both servers)."""
    values = random.Random(7).sample(range(count * 10), count)

    def one(value):
        run = server.call("POST", f"{API}/runs/create", json={"experiment_id": experiment_id,
                                                               "start_time": int(time.time() * 1000)})
        run_id = run["run"]["info"]["run_id"]
        server.call("POST", f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [
            {"key": "acc", "value": value / (count * 10), "timestamp": 1, "step": 0}]})
        return run_id

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, values))


def measure(seconds, operation, limit=None):
    """Run ``operation(i)`` back to back for ``seconds`` (at most ``limit`` times);
    return (requests per second, p50 ms)."""
    latencies, started, i = [], time.monotonic(), 0
    while time.monotonic() - started < seconds and (limit is None or i < limit):
        t = time.perf_counter()
        operation(i)
        latencies.append(time.perf_counter() - t)
        i += 1
    return len(latencies) / sum(latencies), statistics.median(latencies) * 1000


def bench(server, runs, seconds):
    results = {}
    experiment = server.call("POST", f"{API}/experiments/create", json={"name": "bench"})["experiment_id"]
    t = time.monotonic()
    run_ids = seed_runs(server, experiment, runs)
    print(f"{server.name}: seeded {runs} runs in {time.monotonic() - t:.0f} s", file=sys.stderr)
    target = run_ids[0]

    def log_batch(i):
        metrics = [{"key": f"m{j % 10}", "value": j * 0.5, "timestamp": 1000 + i, "step": i * 100 + j}
                   for j in range(100)]
        server.call("POST", f"{API}/runs/log-batch", json={"run_id": target, "metrics": metrics})

    results["log-batch, 100 metrics"] = measure(seconds, log_batch)

    def search(_):
        found = server.call("POST", f"{API}/runs/search", json={
            "experiment_ids": [experiment], "order_by": ["metrics.acc DESC"], "max_results": 100})
        assert len(found["runs"]) == 100

    results[f"search_runs by a metric, {runs} runs"] = measure(seconds, search)

    # A run holding a model folder, registered from.
    source_run = run_ids[1]
    server.http.put(f"{server.base}/api/2.0/mlflow-artifacts/artifacts/{experiment}/{source_run}/artifacts/model/MLmodel",
                    data=b"flavors: {}\n", timeout=60).raise_for_status()
    server.call("POST", f"{API}/registered-models/create", json={"name": "Bench"})
    created = []

    def create(_):
        version = server.call("POST", f"{API}/model-versions/create", json={
            "name": "Bench", "source": f"runs:/{source_run}/model", "run_id": source_run})
        created.append(version["model_version"]["version"])

    results["model-versions/create"] = measure(seconds, create)
    def transition(i):
        version = created[i]
        server.call("POST", f"{API}/model-versions/transition-stage", json={
            "name": "Bench", "version": version, "stage": "Staging", "archive_existing_versions": False})

    results["transition-stage None→Staging"] = measure(seconds, transition, limit=len(created))

    def latest(_):
        server.call("POST", f"{API}/registered-models/get-latest-versions", json={"name": "Bench"})

    results["get-latest-versions"] = measure(seconds, latest)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="mlflow-compare-")
    table = {}
    try:
        for start in (start_ours, start_mlflow):
            server = start(workdir, args.workers)
            try:
                table[server.name] = bench(server, args.runs, args.seconds)
            finally:
                server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{args.workers} workers each, SQLite, one client, {args.seconds:g} s per operation\n")
    print("| operation | registry req/s | registry p50 | MLflow req/s | MLflow p50 | ratio |")
    print("|---|---|---|---|---|---|")
    for operation in table["registry"]:
        ours, theirs = table["registry"][operation], table["mlflow"][operation]
        print(f"| {operation} | {ours[0]:.0f} | {ours[1]:.1f} ms | {theirs[0]:.1f} | {theirs[1]:.1f} ms "
              f"| {ours[0] / theirs[0]:.1f}× |")


if __name__ == "__main__":
    main()
