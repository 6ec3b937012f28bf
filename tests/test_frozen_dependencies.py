"""A dependency that accepts connections but never answers (SIGSTOP: a paused VM, a
network black hole): /readyz answers 503 within 5 s, every request 503 within 10 s,
and the service recovers by itself once the dependency resumes. Real gunicorn."""
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.servers import RegistryServer
from tests.servers import freeze
from tests.servers import thaw
from tests.servers import wait_until

pytestmark = pytest.mark.servers


def _timed(http, method, url, **kwargs):
    started = time.monotonic()
    response = http.request(method, url, timeout=30, **kwargs)
    return response, time.monotonic() - started


def _seed(server):
    base, http = server.base_url, server.http
    run_id = http.post(f"{base}/runs", json={}, timeout=10).json()["run_id"]
    assert http.put(f"{base}/runs/{run_id}/artifacts/w.bin", data=b"weights", timeout=10).status_code == 201
    assert http.post(f"{base}/models/M/versions", json={"source": f"runs:/{run_id}"}, timeout=10).status_code == 201
    return run_id


def _requests_during_the_freeze(server, run_id):
    base = server.base_url
    return [
        ("GET", f"{base}/readyz", {}),
        ("GET", f"{base}/models/M", {}),
        ("GET", f"{base}/models/M/versions/1", {}),  # answered by registry/api/fast_reads.py
        ("GET", f"{base}/models/M/versions/1/files/w.bin", {}),
        ("PUT", f"{base}/runs/{run_id}/artifacts/more.bin", {"data": b"more"}),
        ("POST", f"{base}/models/M/versions", {"json": {"source": f"runs:/{run_id}"},
                                               "headers": {"Idempotency-Key": "frozen"}}),
    ]


def _check_frozen_answers(server, run_id, code, frozen_calls):
    calls = _requests_during_the_freeze(server, run_id)
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        results = list(pool.map(lambda call: (call, _timed(server.http, call[0], call[1], **call[2])), calls))
    report = {f"{m} {u.split('/', 3)[3]}": (r.status_code, round(t, 2)) for (m, u, _), (r, t) in results}
    print(f"while frozen: {report}")
    for (_, url, _), (response, took) in results:
        path = url.split("/", 3)[3]
        if path in frozen_calls:
            assert response.status_code == 503, (path, response.text)
            assert response.json()["error"]["code"] == code
            assert took < (5 if path == "readyz" else 10), (path, took)
    return report


def _check_recovered(server, run_id):
    def ready():
        response = server.http.get(f"{server.base_url}/readyz", timeout=10)
        return response.status_code == 200

    wait_until(ready, 30, "recovery")
    assert server.http.get(f"{server.base_url}/models/M/versions/1/files/w.bin", timeout=10).content == b"weights"
    again = server.http.post(f"{server.base_url}/models/M/versions", json={"source": f"runs:/{run_id}"},
                             headers={"Idempotency-Key": "frozen"}, timeout=10)
    assert again.status_code == 201, again.text
    versions = server.http.get(f"{server.base_url}/models/M/versions", timeout=10).json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]


def test_frozen_postgres(tmp_path, own_postgres, minio):
    env = {"REGISTRY_DATA_DIR": str(tmp_path), "REGISTRY_DATABASE_URL": own_postgres.url("postgres"),
           "REGISTRY_STORAGE_URL": minio.url()}
    server = RegistryServer(env, workers=2, threads=8).start()
    pids = []
    try:
        run_id = _seed(server)
        pids = own_postgres.pids()  # now: the backends serving the pooled connections too
        freeze(pids)
        _check_frozen_answers(server, run_id, "database_unavailable",
                              {"readyz", "models/M", "models/M/versions/1", "models/M/versions/1/files/w.bin",
                               "models/M/versions"})
        thaw(pids)
        _check_recovered(server, run_id)
    finally:
        thaw(pids)
        server.stop()


def test_frozen_minio(tmp_path, own_minio, postgres):
    env = {"REGISTRY_DATA_DIR": str(tmp_path), "REGISTRY_DATABASE_URL": postgres.url(postgres.create_database()),
           "REGISTRY_STORAGE_URL": own_minio.url()}
    server = RegistryServer(env, workers=2, threads=8).start()
    try:
        run_id = _seed(server)
        freeze([own_minio.process.pid])
        report = _check_frozen_answers(server, run_id, "storage_unavailable",
                                       {"readyz", "models/M/versions/1/files/w.bin",
                                        f"runs/{run_id}/artifacts/more.bin"})
        assert report["GET models/M/versions/1"][0] == 200  # a lookup needs no storage
        thaw([own_minio.process.pid])
        _check_recovered(server, run_id)
    finally:
        thaw([own_minio.process.pid])
        server.stop()


def test_a_worker_restarted_while_the_database_is_down_boots_and_answers_503(tmp_path, own_postgres):
    env = {"REGISTRY_DATA_DIR": str(tmp_path), "REGISTRY_DATABASE_URL": own_postgres.url("postgres")}
    server = RegistryServer(env, workers=1, threads=4).start()
    try:
        own_postgres.stop()
        [old] = server.worker_pids()
        os.kill(old, signal.SIGKILL)  # gunicorn forks a new worker while the database is down
        wait_until(lambda: server.worker_pids() not in ([], [old]), 30, "a new worker")
        response, took = _timed(server.http, "GET", f"{server.base_url}/readyz")
        assert response.status_code == 503 and response.json()["error"]["code"] == "database_unavailable"
        assert took < 5
        own_postgres.start()
        wait_until(lambda: server.http.get(f"{server.base_url}/readyz", timeout=10).status_code == 200, 30, "recovery")
        assert server.process.poll() is None  # the server never stopped
    finally:
        server.stop()
