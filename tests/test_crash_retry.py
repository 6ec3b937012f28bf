"""A keyed request that dies half-way (worker killed, database killed) never locks
its retry out: the retry runs again at once, and nothing is done twice.
Real gunicorn, real PostgreSQL; the request is held mid-transaction by a row lock."""
import os
import signal
import threading
import time

import psycopg2
import pytest
import requests

from tests.servers import PostgresServer
from tests.servers import RegistryServer
from tests.servers import wait_until

pytestmark = pytest.mark.servers


@pytest.fixture
def stack(tmp_path, minio):
    postgres = PostgresServer().start()
    env = {"REGISTRY_DATA_DIR": str(tmp_path), "REGISTRY_DATABASE_URL": postgres.url("postgres"),
           "REGISTRY_STORAGE_URL": minio.url()}
    server = RegistryServer(env, workers=1, threads=4).start()
    yield server, postgres
    server.stop()
    postgres.destroy()


def _staged_version(server):
    base, http = server.base_url, server.http
    run_id = http.post(f"{base}/runs", json={}, timeout=10).json()["run_id"]
    http.put(f"{base}/runs/{run_id}/artifacts/w.bin", data=b"w", timeout=10)
    assert http.post(f"{base}/models/M/versions", json={"source": f"runs:/{run_id}"}, timeout=10).status_code == 201


def _hold_model_lock(postgres):
    """Lock M's row so a transition blocks inside its transaction, after claiming its key."""
    conn = psycopg2.connect(postgres.url("postgres"))
    cur = conn.cursor()
    cur.execute("SELECT id FROM registered_model WHERE name = 'M' FOR UPDATE")
    return conn


def _send_in_background(server, key):
    outcome = {}

    def send():
        try:
            outcome["response"] = server.http.post(
                f"{server.base_url}/models/M/versions/1/transitions", json={"stage": "Staging"},
                headers={"Idempotency-Key": key}, timeout=30)
        except requests.RequestException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=send)
    thread.start()
    return thread, outcome


def _checkpoint(postgres):
    conn = psycopg2.connect(postgres.url("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CHECKPOINT")
    conn.close()


def _blocked_backends(postgres):
    conn = psycopg2.connect(postgres.url("postgres"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            return cur.fetchone()[0]
    finally:
        conn.close()


def _retry(server, key):
    started = time.monotonic()
    response = server.http.post(f"{server.base_url}/models/M/versions/1/transitions", json={"stage": "Staging"},
                                headers={"Idempotency-Key": key}, timeout=30)
    return response, time.monotonic() - started


def _history(server):
    transitions = server.http.get(f"{server.base_url}/models/M/history", timeout=10).json()["transitions"]
    return [t["to_stage"] for t in transitions]


def test_a_retry_after_the_worker_was_killed_runs_at_once(stack):
    server, postgres = stack
    _staged_version(server)
    lock = _hold_model_lock(postgres)
    thread, outcome = _send_in_background(server, "stage-1")
    wait_until(lambda: _blocked_backends(postgres) == 1, 10, "the keyed request to block on the model lock")
    for pid in server.worker_pids():
        os.kill(pid, signal.SIGKILL)
    thread.join(30)
    assert "error" in outcome  # the client saw its connection die
    lock.rollback()
    lock.close()
    wait_until(lambda: requests.get(f"{server.base_url}/healthz", timeout=1).ok, 30, "a new worker")
    response, took = _retry(server, "stage-1")
    print(f"retry after the worker was killed: {response.status_code} in {took:.2f}s")
    assert response.status_code == 201, response.text
    assert "Idempotent-Replayed" not in response.headers
    assert took < 5
    assert _history(server) == ["None", "Staging"]
    replayed, _ = _retry(server, "stage-1")
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert _history(server) == ["None", "Staging"]


def test_a_keyed_request_whose_database_dies_gets_503_and_its_retry_runs(stack):
    server, postgres = stack
    _staged_version(server)
    _checkpoint(postgres)  # the test cluster runs with synchronous_commit=off
    lock = _hold_model_lock(postgres)
    thread, outcome = _send_in_background(server, "stage-2")
    wait_until(lambda: _blocked_backends(postgres) == 1, 10, "the keyed request to block on the model lock")
    postgres._run("pg_ctl", "-D", postgres.data, "-m", "immediate", "-w", "stop")  # lock and all
    lock.close()
    thread.join(30)
    response = outcome["response"]
    assert response.status_code == 503, server.output()[-3000:]
    assert response.json()["error"]["code"] == "database_unavailable"
    postgres.start()
    wait_until(lambda: requests.get(f"{server.base_url}/readyz", timeout=5).ok, 30, "recovery")
    retried, took = _retry(server, "stage-2")
    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers and took < 5
    assert _history(server) == ["None", "Staging"]
