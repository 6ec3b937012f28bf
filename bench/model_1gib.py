"""Benchmark: a 1 GiB model through `registry serve` on PostgreSQL + MinIO (or SQLite + disk).

Measures, in one run:
  - upload throughput of a 1 GiB file (PUT /runs/.../artifacts/...)
  - time to register a version of it (POST /models/.../versions), median of several
  - download throughput through the service vs. reading the same object straight from MinIO
  - the serving worker's peak memory growth during the download

Usage: .venv/bin/python bench/model_1gib.py [--backend postgres-minio|sqlite-local] [--size-mib 1024]
Needs scripts/install-deps to have run (PostgreSQL and MinIO binaries).
"""
import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from registry.storage import storage_from_url  # noqa: E402
from tests.servers import MinioServer  # noqa: E402
from tests.servers import PostgresServer  # noqa: E402
from tests.servers import RegistryServer  # noqa: E402
from tests.servers import current_rss_bytes  # noqa: E402
from tests.servers import peak_rss_bytes  # noqa: E402

MiB = 1024 * 1024


def make_file(path, size_mib):
    block = os.urandom(MiB)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(size_mib):
            chunk = block[:-4] + i.to_bytes(4, "big")
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


def reset_peaks(pids):
    baseline = {}
    for pid in pids:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        baseline[pid] = current_rss_bytes(pid)
    return baseline


def timed_download(http, url, size):
    started = time.perf_counter()
    received = 0
    with http.get(url, stream=True, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_content(MiB):
            received += len(chunk)
    elapsed = time.perf_counter() - started
    assert received == size, (received, size)
    return elapsed


def direct_minio_read(storage, key, size):
    started = time.perf_counter()
    received = sum(len(chunk) for chunk in storage.open(key))
    elapsed = time.perf_counter() - started
    assert received == size
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="postgres-minio", choices=["postgres-minio", "sqlite-local"])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * MiB
    work = tempfile.mkdtemp(prefix="registry-bench-")
    cleanup = []
    env = {"REGISTRY_DATA_DIR": os.path.join(work, "data")}
    if args.backend == "postgres-minio":
        pg = PostgresServer().start()
        minio = MinioServer().start()
        cleanup += [pg.destroy, minio.destroy]
        env["REGISTRY_DATABASE_URL"] = pg.url(pg.create_database())
        env["REGISTRY_STORAGE_URL"] = minio.url("bench")
    server = RegistryServer(env, workers=2, threads=8).start()
    cleanup.insert(0, server.stop)
    try:
        base, http = server.base_url, server.http
        path = os.path.join(work, "weights.bin")
        digest = make_file(path, args.size_mib)
        run_id = http.post(f"{base}/runs", json={}, timeout=10).json()["run_id"]

        started = time.perf_counter()
        with open(path, "rb") as f:
            uploaded = http.put(f"{base}/runs/{run_id}/artifacts/model/weights.bin", data=f, timeout=3600)
        upload_s = time.perf_counter() - started
        assert uploaded.status_code == 201 and uploaded.json()["sha256"] == digest, uploaded.text

        register_ms = []
        for _ in range(max(args.repeat, 5)):
            started = time.perf_counter()
            response = http.post(f"{base}/models/Bench/versions",
                                     json={"source": f"runs:/{run_id}/model"}, timeout=60)
            register_ms.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 201, response.text

        url = f"{base}/models/Bench/versions/1/files/weights.bin"
        service_s, peaks = [], []
        for _ in range(args.repeat):
            baseline = reset_peaks(server.worker_pids())
            service_s.append(timed_download(http, url, size))
            peaks.append(max(peak_rss_bytes(pid) - rss for pid, rss in baseline.items()))
        peak_abs = max(peak_rss_bytes(pid) for pid in server.worker_pids())

        direct_s = []
        if args.backend == "postgres-minio":
            storage = storage_from_url(env["REGISTRY_STORAGE_URL"])
            key, = storage.blob_keys()  # the only blob: this run's file
            direct_s = [direct_minio_read(storage, key, size) for _ in range(args.repeat)]

        mib = args.size_mib
        print(f"backend: {args.backend}; file: {mib} MiB; repeats: {args.repeat}")
        print(f"upload: {upload_s:.2f} s ({mib / upload_s:.0f} MiB/s)")
        print(f"register a version: median {statistics.median(register_ms):.1f} ms "
              f"(min {min(register_ms):.1f}, max {max(register_ms):.1f})")
        best = min(service_s)
        print(f"download via service: best {best:.2f} s ({mib / best:.0f} MiB/s), "
              f"median {statistics.median(service_s):.2f} s")
        if direct_s:
            best_direct = min(direct_s)
            print(f"download straight from MinIO (minio-py, same process kind): best {best_direct:.2f} s "
                  f"({mib / best_direct:.0f} MiB/s); service/direct = {best / best_direct:.2f}x the time")
        print(f"worker peak RSS growth during download: max {max(peaks) / MiB:.1f} MiB; "
              f"worker peak RSS overall: {peak_abs / MiB:.0f} MiB")
    finally:
        for step in cleanup:
            step()


if __name__ == "__main__":
    main()
