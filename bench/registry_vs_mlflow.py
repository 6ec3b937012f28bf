"""The registry operations of issue 9's table, this service vs. `mlflow server`, side by side in one run.

Both servers run on this machine with 2 workers, SQLite and local disk. The same client code
drives both, each client thread on its own keep-alive connection, for --seconds per operation:

  * the Production lookup with 50 and with 10,000 versions of the model, 16 clients
    (ours: GET /models/{name}/versions/production; MLflow: get-latest-versions for Production);
  * the lookup at 50 versions from wrk again, while a client logs a metric to the version's run
    every 10 ms (the answer includes the run's latest metrics, so ours is built again after each);
  * the same lookup, 1 client, p50 (from wrk: the median of three windows);
  * the lookups again from wrk, a C load generator (apt-get install wrk): the Python clients above
    take much of the two cores themselves, which caps a fast server's figure and not a slow one's.
    With 16 connections a window counts only if every worker of the server did its share (it is
    run again otherwise, up to eight windows): the kernel may hand all of wrk's connections to one
    worker. So the 16 connections come from four wrk processes started a quarter second apart
    (one burst each), and the row is the median of (up to) three such windows;
  * registering a version, 16 clients (p50, p99);
  * None -> Staging, 16 clients (p50, p99);
  * a 256 MiB download, and the server tree's RSS idle and at its peak during it.

Targets (issue 9): lookup >= 10x MLflow at 50 versions and at most 10% slower at 10,000 than at 50;
1-client p50 <= 1.5 ms (on the issue's machine); p99 <= 3x p50 for writes.

    .venv/bin/python bench/registry_vs_mlflow.py [--seconds 8] [--clients 16] [--versions 10000]

MLflow 3.17.2 with its server is installed into bench/.venv-mlflow-server on first use.
"""
import argparse
import concurrent.futures
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench.load import hammer  # noqa: E402
from bench.load import require_wrk  # noqa: E402
from bench.load import session  # noqa: E402
from bench.load import summary  # noqa: E402
from bench.load import wrk  # noqa: E402
from bench.load import wrk_on_every_worker  # noqa: E402
from bench.mlflow_compare import API  # noqa: E402
from bench.mlflow_compare import start_mlflow  # noqa: E402
from bench.mlflow_compare import start_ours  # noqa: E402
from tests.servers import current_rss_bytes  # noqa: E402
from tests.servers import peak_rss_growth  # noqa: E402
from tests.servers import reset_peak_rss  # noqa: E402

MiB = 1024 * 1024
METRIC_EVERY = 0.01  # seconds between metrics logged to the looked-up version's run


def expect(response, status=200):
    if response.status_code != status:
        raise RuntimeError(f"{response.request.method} {response.url}: {response.status_code} {response.text[:300]}")
    return response


class Ours:
    """This service's native API."""

    def __init__(self, server):
        self.server, self.base = server, server.base
        self.run_id = None

    def prepare_source(self, path):
        self.run_id = self.server.call("POST", "/runs", json={})["run_id"]
        with open(path, "rb") as f:
            expect(self.server.http.put(f"{self.base}/runs/{self.run_id}/artifacts/model/w.bin", data=f,
                                        timeout=600), 201)

    def create_model(self, http, name):
        pass  # created by its first registration

    def register(self, http, name):
        return expect(http.post(f"{self.base}/models/{name}/versions",
                                json={"source": f"runs:/{self.run_id}/model"}, timeout=60), 201).json()["version"]

    def transition(self, http, name, version, stage):
        expect(http.post(f"{self.base}/models/{name}/versions/{version}/transitions", json={"stage": stage},
                         timeout=60), 201)

    def promote(self, http, name, version):
        self.transition(http, name, version, "Staging")
        self.transition(http, name, version, "Production")

    def production_path(self, name):
        return f"/models/{name}/versions/production"

    def production(self, http, name):
        expect(http.get(self.base + self.production_path(name), timeout=60))

    def log_metric(self, http, step):
        response = http.post(f"{self.base}/runs/{self.run_id}/log", json={"metrics": [
            {"key": "loss", "value": 1 / (step + 1), "step": step}]}, timeout=60)
        if response.status_code not in (200, 204):
            expect(response)

    def download(self, http, name):
        return http.get(f"{self.base}/models/{name}/versions/1/files/w.bin", stream=True, timeout=600)


class Mlflow:
    """MLflow's REST API and its proxied artifact store."""

    def __init__(self, server):
        self.server, self.base = server, server.base
        self.run_id = None

    def prepare_source(self, path):
        experiment = self.server.call("POST", f"{API}/experiments/create", json={"name": "bench"})["experiment_id"]
        self.run_id = self.server.call("POST", f"{API}/runs/create", json={"experiment_id": experiment})[
            "run"]["info"]["run_id"]
        with open(path, "rb") as f:
            expect(self.server.http.put(
                f"{self.base}/api/2.0/mlflow-artifacts/artifacts/{experiment}/{self.run_id}/artifacts/model/w.bin",
                data=f, timeout=600))
        self.artifact = f"{experiment}/{self.run_id}/artifacts/model/w.bin"

    def create_model(self, http, name):
        expect(http.post(f"{self.base}{API}/registered-models/create", json={"name": name}, timeout=60))

    def register(self, http, name):
        return int(expect(http.post(f"{self.base}{API}/model-versions/create", json={
            "name": name, "source": f"runs:/{self.run_id}/model", "run_id": self.run_id}, timeout=60)).json()[
            "model_version"]["version"])

    def transition(self, http, name, version, stage):
        expect(http.post(f"{self.base}{API}/model-versions/transition-stage", json={
            "name": name, "version": str(version), "stage": stage, "archive_existing_versions": False},
            timeout=60))

    def promote(self, http, name, version):
        self.transition(http, name, version, "Production")

    def production_path(self, name):
        return f"{API}/registered-models/get-latest-versions?name={name}&stages=Production"

    def production(self, http, name):
        found = expect(http.get(self.base + self.production_path(name), timeout=60)).json()
        assert found["model_versions"], found

    def log_metric(self, http, step):
        expect(http.post(f"{self.base}{API}/runs/log-metric", json={
            "run_id": self.run_id, "key": "loss", "value": 1 / (step + 1), "step": step,
            "timestamp": int(time.time() * 1000)}, timeout=60))

    def download(self, http, name):
        return http.get(f"{self.base}/api/2.0/mlflow-artifacts/artifacts/{self.artifact}", stream=True,
                        timeout=600)


def seed(api, name, count, threads=8):
    """``count`` versions of ``name``, version 1 in Production."""
    http = session(api.server)
    api.create_model(http, name)
    api.register(http, name)
    sessions = threading.local()

    def one(_):
        if not hasattr(sessions, "http"):
            sessions.http = session(api.server)
        api.register(sessions.http, name)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(count - 1)))
    api.promote(http, name, 1)


def server_pids(server):
    """The server process and its children (gunicorn's or uvicorn's workers)."""
    pids, frontier = [server.process.pid], [server.process.pid]
    while frontier:
        pid = frontier.pop()
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = [int(c) for c in f.read().split()]
        except FileNotFoundError:
            children = []
        pids += children
        frontier += children
    return pids


def bench(api, args, path):
    rows, clients, seconds = {}, args.clients, args.seconds
    api.prepare_source(path)
    lookup = lambda name: lambda http, i, n: api.production(http, name)  # noqa: E731
    for count in (50, args.versions):
        started = time.monotonic()
        seed(api, f"Lookup{count}", count)
        print(f"{api.server.name}: seeded {count} versions in {time.monotonic() - started:.0f} s", file=sys.stderr)
        rows[f"Production lookup, {count} versions, {clients} clients"] = summary(
            *hammer(api.server, clients, seconds, lookup(f"Lookup{count}")))
        figures, counted, ran = wrk_on_every_worker(api.server, server_pids(api.server), args.workers,
                                                    api.production_path(f"Lookup{count}"), clients, seconds)
        # The same row name for both servers; how many windows counted goes to stderr.
        rows[f"Production lookup, {count} versions, {clients} connections (wrk, every worker busy, median)"] = figures
        print(f"{api.server.name}: {count} versions, wrk: {counted} of {ran} windows with every worker busy",
              file=sys.stderr)
    # The lookup's answer includes its run's latest metrics: while they change, a kept answer
    # is checked, found stale and built again (ours), as a trainer still logging would cause.
    stop, logged = threading.Event(), []

    def log_metrics():
        http = session(api.server)
        while not stop.wait(METRIC_EVERY):
            api.log_metric(http, len(logged))
            logged.append(1)

    writer = threading.Thread(target=log_metrics)
    writer.start()
    try:
        figures, counted, ran = wrk_on_every_worker(api.server, server_pids(api.server), args.workers,
                                                    api.production_path("Lookup50"), clients, seconds)
    finally:
        stop.set()
        writer.join()
    rows[f"Production lookup, 50 versions, {clients} connections (wrk, median), its run logging a metric "
         f"every {METRIC_EVERY * 1000:.0f} ms"] = figures
    print(f"{api.server.name}: {len(logged)} metrics logged during the lookups", file=sys.stderr)
    rows["Production lookup, 50 versions, 1 client"] = summary(*hammer(api.server, 1, seconds, lookup("Lookup50")))
    rows["Production lookup, 50 versions, 1 connection (wrk, median of 3)"] = sorted(
        wrk(api.server, api.production_path("Lookup50"), 1, seconds) for _ in range(3))[1]

    registered = []
    api.create_model(api.server.http, "Tail")
    rows[f"register a version, {clients} clients"] = summary(*hammer(
        api.server, clients, seconds, lambda http, i, n: registered.append(api.register(http, "Tail"))))
    share = {i: registered[i::clients] for i in range(clients)}
    rows[f"None→Staging, {clients} clients"] = summary(*hammer(
        api.server, clients, seconds,
        lambda http, i, n: n < len(share[i]) and api.transition(http, "Tail", share[i][n], "Staging")))

    pids = server_pids(api.server)
    idle = sum(current_rss_bytes(pid) for pid in pids)
    baseline = reset_peak_rss(pids)
    size = os.path.getsize(path)
    started = time.perf_counter()
    with api.download(api.server.http, "Lookup50") as response:
        expect(response)
        received = sum(len(chunk) for chunk in response.iter_content(MiB))
    elapsed = time.perf_counter() - started
    assert received == size, (received, size)
    peak = idle + sum(peak_rss_growth(baseline).values())
    rows[f"download of {size // MiB} MiB"] = (size / elapsed / 1e6, None, None)
    rows["server tree RSS, idle → peak during the download (MiB)"] = (idle / MiB, peak / MiB, None)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--versions", type=int, default=10000)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    require_wrk()
    workdir = tempfile.mkdtemp(prefix="registry-vs-mlflow-")
    path = os.path.join(workdir, "w.bin")
    with open(path, "wb") as f:
        for _ in range(args.size_mib):
            f.write(os.urandom(MiB))
    table = {}
    try:
        for start, api in ((start_ours, Ours), (start_mlflow, Mlflow)):
            server = start(workdir, args.workers)
            try:
                table[server.name] = bench(api(server), args, path)
            finally:
                server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{args.workers} workers each, SQLite + local disk, {args.seconds:g} s per operation, in one run\n")
    print("| operation | registry | MLflow | ratio |")
    print("|---|---|---|---|")
    for operation, ours in table["registry"].items():
        theirs = table["mlflow"][operation]
        if operation.startswith("server tree RSS"):
            print(f"| {operation} | {ours[0]:.0f} → {ours[1]:.0f} | {theirs[0]:.0f} → {theirs[1]:.0f} | |")
        elif operation.startswith("download"):
            print(f"| {operation} | {ours[0]:.0f} MB/s | {theirs[0]:.0f} MB/s | {ours[0] / theirs[0]:.2f}× |")
        else:
            print(f"| {operation} | {ours[0]:.0f} req/s, p50 {ours[1]:.2f} ms, p99 {ours[2]:.0f} ms "
                  f"| {theirs[0]:.1f} req/s, p50 {theirs[1]:.2f} ms, p99 {theirs[2]:.0f} ms "
                  f"| {ours[0] / theirs[0]:.1f}× |")


if __name__ == "__main__":
    main()
