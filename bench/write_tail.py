"""Write latency under contention: 16 clients registering versions of one model (or of --models models),
then moving them None→Staging; and, for reference, the Production lookup of one client on a keep-alive connection.

Against `registry serve` (2 workers x 8 threads), on SQLite + local disk and on PostgreSQL + MinIO,
each client on its own keep-alive connection, for --seconds per operation. Prints throughput, p50,
p99 and p99/p50 per backend and operation.

Target (issue 9): p99 at most 3x p50, with throughput no lower than before (about 270 req/s for
registrations on SQLite on the 2-core machine of the issue).

    .venv/bin/python bench/write_tail.py [--seconds 8] [--clients 16] [--models 1] [--backend sqlite-local]
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench.load import hammer  # noqa: E402
from bench.load import summary  # noqa: E402
from tests.servers import MinioServer  # noqa: E402
from tests.servers import PostgresServer  # noqa: E402
from tests.servers import RegistryServer  # noqa: E402


def row(label, latencies, elapsed):
    rate, p50, p99 = summary(latencies, elapsed)
    return f"| {label} | {rate:.0f} | {p50:.2f} | {p99:.1f} | {p99 / p50:.1f} |"


def posting(path_for, body_for, answers=None):
    """A request_for (bench.load.hammer) that POSTs and expects 201, keeping each client's answers in
    ``answers[client]``; False when path_for has nothing left."""
    def request(http, i, n):
        path = path_for(i, n)
        if path is None:
            return False
        response = http.post(path, json=body_for(i, n), timeout=60)
        assert response.status_code == 201, response.text
        if answers is not None:
            answers.setdefault(i, []).append(response.json())
        return True
    return request


def measure(backend, env, seconds, clients, models):
    server = RegistryServer(env, workers=2, threads=8).start()
    try:
        base, http = server.base_url, server.http
        run_id = http.post(f"{base}/runs", json={}, timeout=10).json()["run_id"]
        assert http.put(f"{base}/runs/{run_id}/artifacts/model/w.bin", data=b"w", timeout=10).status_code == 201
        source = {"source": f"runs:/{run_id}/model"}
        spread = f", {models} models" if models > 1 else ""
        versions: dict = {}
        registered, elapsed = hammer(server, clients, seconds, posting(
            lambda i, n: f"{base}/models/Tail{i % models}/versions", lambda i, n: source, versions))
        rows = [row(f"{backend}: register, {clients} clients{spread}", registered, elapsed)]
        # Each client moves the versions it registered, then stops.
        moved, elapsed = hammer(server, clients, seconds, posting(
            lambda i, n: f"{base}/models/Tail{i % models}/versions/{versions[i][n]['version']}/transitions"
            if n < len(versions.get(i, ())) else None,
            lambda i, n: {"stage": "Staging"}))
        rows.append(row(f"{backend}: None→Staging, {clients} clients{spread}", moved, elapsed))
        http.post(f"{base}/models/Tail0/versions/1/transitions", json={"stage": "Production"}, timeout=10)

        def lookup(session, i, n):
            assert session.get(f"{base}/models/Tail0/versions/production", timeout=10).status_code == 200

        rows.append(row(f"{backend}: Production lookup, 1 client, keep-alive", *hammer(server, 1, seconds, lookup)))
        return rows
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--models", type=int, default=1, help="spread the clients over this many models")
    parser.add_argument("--backend", choices=["sqlite-local", "postgres-minio", "both"], default="both")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="registry-bench-tail-")
    rows = []
    if args.backend in ("sqlite-local", "both"):
        rows += measure("SQLite", {"REGISTRY_DATA_DIR": os.path.join(work, "sqlite")}, args.seconds, args.clients, args.models)
    if args.backend in ("postgres-minio", "both"):
        pg, minio = PostgresServer().start(), MinioServer().start()
        try:
            env = {"REGISTRY_DATA_DIR": os.path.join(work, "pg"), "REGISTRY_DATABASE_URL": pg.url(pg.create_database()),
                   "REGISTRY_STORAGE_URL": minio.url("tail")}
            rows += measure("PostgreSQL", env, args.seconds, args.clients, args.models)
        finally:
            pg.destroy()
            minio.destroy()
    print("| operation | req/s | p50 ms | p99 ms | p99/p50 |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
