"""Upload speed, side by side in one run: this service vs. direct storage access, and vs. MLflow's server.

  * MinIO: a PUT of one file through `registry serve` (PostgreSQL + MinIO) against
    minio-py's `put_object` of the same file to the same MinIO server.
    Target (issue 9): ratio >= 0.90.
  * Local disk: the same PUT through `registry serve` (SQLite + local disk) against
    `mlflow server`'s proxied artifact upload (SQLite + local artifacts).
    Target (issue 9): ratio >= 1.5.

Each side uploads the file --repeat times, alternating, to fresh paths. Each round changes the
file's first bytes, as a new model would, so this service stores every upload instead of finding
its bytes already stored and discarding the copy; both uploads of a round send the same bytes.
The table shows the median MB/s and the ratio ours / theirs, each round's own ratio (its two
uploads ran back to back), and the growth of the server tree's peak RSS during our uploads
(target: under 64 MiB).

    .venv/bin/python bench/uploads.py [--size-mib 256] [--repeat 3] [--skip-mlflow] [--skip-minio] [--dir /dev/shm]

Needs the test dependencies (scripts/install-deps); MLflow's server is installed into
bench/.venv-mlflow-server on first use.
"""
import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench.mlflow_compare import start_mlflow  # noqa: E402
from tests.servers import MinioServer  # noqa: E402
from tests.servers import PostgresServer  # noqa: E402
from tests.servers import RegistryServer  # noqa: E402
from tests.servers import peak_rss_growth  # noqa: E402
from tests.servers import reset_peak_rss  # noqa: E402

MiB = 1024 * 1024


def make_file(path, size_mib):
    with open(path, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(MiB))


def timed(upload):
    started = time.perf_counter()
    upload()
    return time.perf_counter() - started


def reset_tree_peak(server):
    return reset_peak_rss([server.process.pid, *server.worker_pids()])


def tree_peak_growth(baseline):
    """How far the server tree's RSS rose at its peak (each process's peak, added up)."""
    return sum(peak_rss_growth(baseline).values())


def ours(server, path, size):
    """One upload through the service, to a fresh run; returns its seconds."""
    base, http = server.base_url, server.http
    run_id = http.post(f"{base}/runs", json={}, timeout=10).json()["run_id"]

    def upload():
        with open(path, "rb") as f:
            response = http.put(f"{base}/runs/{run_id}/artifacts/w.bin", data=f, timeout=3600,
                                headers={"Content-Length": str(size)})
        assert response.status_code == 201, response.text

    return timed(upload)


def direct_minio(minio_url, path, size, n):
    from registry.storage import storage_from_url

    storage = storage_from_url(minio_url)

    def upload():
        with open(path, "rb") as f:
            storage.client.put_object(storage.bucket, f"direct/{n}", f, size)

    return timed(upload)


def mlflow_upload(server, path, size, n):
    def upload():
        with open(path, "rb") as f:
            response = requests.put(f"{server.base}/api/2.0/mlflow-artifacts/artifacts/bench/{n}/w.bin",
                                    data=f, timeout=3600, headers={"Content-Length": str(size)})
        assert response.status_code == 200, response.text

    return timed(upload)


def new_bytes(path):
    """Make the file another model's: its first bytes change."""
    with open(path, "r+b") as f:
        f.write(os.urandom(16))


def side_by_side(label, path, repeat, size, ours_once, theirs_once, server):
    ours_s, theirs_s, growth = [], [], []
    for n in range(repeat):
        new_bytes(path)
        # Each upload starts with no dirty pages of the previous one still being written back.
        os.sync()
        baseline = reset_tree_peak(server)
        ours_s.append(ours_once())
        growth.append(tree_peak_growth(baseline))
        os.sync()
        theirs_s.append(theirs_once(n))
    os.sync()
    mine = size / statistics.median(ours_s) / 1e6
    theirs = size / statistics.median(theirs_s) / 1e6
    # Each round's two uploads ran back to back: their ratio is spared the drift between rounds.
    rounds = sorted(t / o for o, t in zip(ours_s, theirs_s, strict=True))
    return (label, mine, theirs, mine / theirs, rounds, max(growth) / MiB)


def minio_row(work, path, size, repeat):
    pg, minio = PostgresServer().start(), MinioServer().start()
    server = None
    try:
        env = {"REGISTRY_DATA_DIR": os.path.join(work, "pg-minio"),
               "REGISTRY_DATABASE_URL": pg.url(pg.create_database()),
               "REGISTRY_STORAGE_URL": minio.url("bench")}
        server = RegistryServer(env, workers=2, threads=8).start()
        return side_by_side("MinIO: service vs minio-py put_object", path, repeat, size,
                            lambda: ours(server, path, size),
                            lambda n: direct_minio(env["REGISTRY_STORAGE_URL"], path, size, n), server)
    finally:
        if server:
            server.stop()
        pg.destroy()
        minio.destroy()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-minio", action="store_true")
    parser.add_argument("--dir", help="where the servers keep their data (e.g. /dev/shm: no disk in the way)")
    args = parser.parse_args()
    size = args.size_mib * MiB
    work = tempfile.mkdtemp(prefix="registry-bench-uploads-", dir=args.dir)
    path = os.path.join(work, "w.bin")
    make_file(path, args.size_mib)
    rows = []
    try:
        if not args.skip_minio:
            rows.append(minio_row(work, path, size, args.repeat))

        if not args.skip_mlflow:
            server = RegistryServer({"REGISTRY_DATA_DIR": os.path.join(work, "sqlite-local")}, workers=2,
                                    threads=8).start()
            mlflow = start_mlflow(work, 2)
            try:
                rows.append(side_by_side("local storage: service vs MLflow server", path, args.repeat, size,
                                         lambda: ours(server, path, size),
                                         lambda n: mlflow_upload(mlflow, path, size, n), server))
            finally:
                server.stop()
                mlflow.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nupload of {args.size_mib} MiB, median of {args.repeat}, in one run, data in {args.dir or 'the temp dir'}")
    print("| comparison | ours MB/s | theirs MB/s | ratio | ratio per round (sorted) | server RSS peak growth |")
    print("|---|---|---|---|---|---|")
    for label, mine, theirs, ratio, rounds, growth in rows:
        print(f"| {label} | {mine:.0f} | {theirs:.0f} | {ratio:.2f} | {', '.join(f'{r:.2f}' for r in rounds)} "
              f"| {growth:.1f} MiB |")


if __name__ == "__main__":
    io.DEFAULT_BUFFER_SIZE = MiB
    main()
