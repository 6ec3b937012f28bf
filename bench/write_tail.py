"""Write latency under contention: 16 clients registering versions of one model, then moving them None→Staging;
and, for reference, the Production lookup of one client on a keep-alive connection.

Against `registry serve` (2 workers x 8 threads), on SQLite + local disk and on PostgreSQL + MinIO,
each client on its own keep-alive connection, for --seconds per operation. Prints throughput, p50,
p99 and p99/p50 per backend and operation.

Target (issue 9): p99 at most 3x p50, with throughput no lower than before (about 270 req/s for
registrations on SQLite on the 2-core machine of the issue).

    .venv/bin/python bench/write_tail.py [--seconds 8] [--clients 16] [--backend sqlite-local]
"""
import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tests.servers import MinioServer  # noqa: E402
from tests.servers import PostgresServer  # noqa: E402
from tests.servers import RegistryServer  # noqa: E402


def hammer(server, clients, seconds, request_for):
    """Run ``clients`` threads issuing request_for(client, n) until time is up; return latencies (s) and count."""
    latencies, stop = [], time.monotonic() + seconds
    lock = threading.Lock()

    def client(index):
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {server.token}"
        mine, n = [], 0
        while time.monotonic() < stop:
            method, path, body = request_for(index, n)
            started = time.perf_counter()
            response = http.request(method, server.base_url + path, json=body, timeout=60)
            mine.append(time.perf_counter() - started)
            assert response.status_code == 201, response.text
            n += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.monotonic() - started


def row(label, latencies, elapsed):
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    return f"| {label} | {len(ordered) / elapsed:.0f} | {p50:.2f} | {p99:.1f} | {p99 / p50:.1f} |"


def measure(backend, env, seconds, clients):
    server = RegistryServer(env, workers=2, threads=8).start()
    try:
        http = server.http
        run_id = http.post(f"{server.base_url}/runs", json={}, timeout=10).json()["run_id"]
        assert http.put(f"{server.base_url}/runs/{run_id}/artifacts/model/w.bin", data=b"w",
                        timeout=10).status_code == 201
        source = {"source": f"runs:/{run_id}/model"}
        registered, elapsed = hammer(server, clients, seconds,
                                     lambda i, n: ("POST", "/models/Tail/versions", source))
        rows = [row(f"{backend}: register, {clients} clients", registered, elapsed)]
        versions = len(registered)
        # Each client moves its own share of the versions just registered.
        moved, elapsed = hammer(server, clients, seconds,
                                lambda i, n: ("POST", f"/models/Tail/versions/{1 + i + n * clients}/transitions",
                                              {"stage": "Staging"}) if 1 + i + n * clients <= versions else
                                ("POST", "/models/Tail/versions", source))
        rows.append(row(f"{backend}: None→Staging, {clients} clients", moved, elapsed))
        http.post(f"{server.base_url}/models/Tail/versions/1/transitions", json={"stage": "Production"}, timeout=10)
        lookups = []
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            started = time.perf_counter()
            response = http.get(f"{server.base_url}/models/Tail/versions/production", timeout=10)
            lookups.append(time.perf_counter() - started)
            assert response.status_code == 200
        rows.append(row(f"{backend}: Production lookup, 1 client, keep-alive", lookups, sum(lookups)))
        return rows
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--backend", choices=["sqlite-local", "postgres-minio", "both"], default="both")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="registry-bench-tail-")
    rows = []
    if args.backend in ("sqlite-local", "both"):
        rows += measure("SQLite", {"REGISTRY_DATA_DIR": os.path.join(work, "sqlite")}, args.seconds, args.clients)
    if args.backend in ("postgres-minio", "both"):
        pg, minio = PostgresServer().start(), MinioServer().start()
        try:
            env = {"REGISTRY_DATA_DIR": os.path.join(work, "pg"), "REGISTRY_DATABASE_URL": pg.url(pg.create_database()),
                   "REGISTRY_STORAGE_URL": minio.url("tail")}
            rows += measure("PostgreSQL", env, args.seconds, args.clients)
        finally:
            pg.destroy()
            minio.destroy()
    print("| operation | req/s | p50 ms | p99 ms | p99/p50 |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
