"""Two `registry serve` instances on one PostgreSQL and one MinIO, as behind a load balancer.

Scaling out is N instances on PostgreSQL + MinIO (README: Scaling out); SQLite is the embedded,
one-machine default, so these run on that topology only.
"""
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import expect_error
from tests.servers import RegistryServer
from tests.test_concurrency import _parallel
from tests.test_concurrency import _run_with_file

pytestmark = [pytest.mark.servers, pytest.mark.parametrize("backend", ["postgres-minio"])]


@pytest.fixture
def instances(backend_env):
    started = [RegistryServer(backend_env, workers=2, threads=8).start()]
    started.append(RegistryServer(backend_env, workers=2, threads=8).start())
    yield started
    for server in started:
        server.stop()


def _upload(server):
    return _run_with_file(server.http, server.base_url)


def test_registrations_across_instances_are_numbered_without_gaps(instances):
    run_id = _upload(instances[0])

    def register(i):
        server = instances[i % 2]  # alternate, as a round-robin balancer does
        return server.http.post(f"{server.base_url}/models/Shared/versions",
                                json={"source": f"runs:/{run_id}/model"}, timeout=60)

    responses = _parallel(24, register)
    assert [r.status_code for r in responses] == [201] * 24, [r.text for r in responses if r.status_code != 201]
    assert sorted(r.json()["version"] for r in responses) == list(range(1, 25))
    for server in instances:  # both see the same model
        listed = server.http.get(f"{server.base_url}/models/Shared/versions", timeout=10).json()
        assert sorted(v["version"] for v in listed["versions"]) == list(range(1, 25))


def test_promotions_across_instances_leave_one_production_and_a_valid_chain(instances):
    first = instances[0]
    run_id = _upload(first)
    for version in range(1, 9):
        assert first.http.post(f"{first.base_url}/models/M/versions", json={"source": f"runs:/{run_id}/model"},
                               timeout=10).status_code == 201
        assert first.http.post(f"{first.base_url}/models/M/versions/{version}/transitions",
                               json={"stage": "Staging"}, timeout=10).status_code == 201

    def promote(i):
        server = instances[i % 2]
        return server.http.post(f"{server.base_url}/models/M/versions/{i + 1}/transitions",
                                json={"stage": "Production", "comment": f"pipeline {i}"}, timeout=60)

    responses = _parallel(8, promote)
    assert [r.status_code for r in responses] == [201] * 8
    for server in instances:
        production = server.http.get(f"{server.base_url}/models/M/versions?stage=Production", timeout=10).json()
        assert len(production["versions"]) == 1
        verified = server.http.get(f"{server.base_url}/audit/verify", timeout=10).json()
        assert verified["ok"] is True
    history = first.http.get(f"{first.base_url}/models/M/history", timeout=10).json()["transitions"]
    to_production = [t for t in history if t["to_stage"] == "Production"]
    archived_by_promotion = [t for t in history if t["to_stage"] == "Archived" and t["cause"]]
    assert len(to_production) == 8 and len(archived_by_promotion) == 7


def test_a_token_revoked_on_one_instance_is_refused_on_the_other_within_a_second(instances):
    one, other = instances
    created = one.http.post(f"{one.base_url}/tokens", json={"name": "ci", "role": "reader"}, timeout=10).json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    session = requests.Session()
    for _ in range(20):  # verified, and cached, by the other instance's workers
        assert session.get(f"{other.base_url}/models", headers=headers, timeout=10).status_code == 200
    assert one.http.delete(f"{one.base_url}/tokens/ci", timeout=10).status_code == 204
    revoked_at = time.monotonic()
    while True:
        response = session.get(f"{other.base_url}/models", headers=headers, timeout=10)
        if response.status_code == 401:
            break
        assert response.status_code == 200
        assert time.monotonic() - revoked_at < 1.0, "the other instance still accepts a token revoked 1 s ago"
    assert time.monotonic() - revoked_at < 1.0
    # And from then on, on every worker of both instances.
    for server in instances:
        for _ in range(10):
            expect_error(requests.get(f"{server.base_url}/models", headers=headers, timeout=10), 401, "unauthorized")



def test_a_lookup_kept_by_one_instance_shows_a_write_made_on_the_other_at_once(instances):
    one, other = instances
    run_id = _upload(one)
    for _ in range(2):
        assert one.http.post(f"{one.base_url}/models/Kept/versions", json={"source": f"runs:/{run_id}/model"},
                             timeout=10).status_code == 201
    for stage in ("Staging", "Production"):
        assert one.http.post(f"{one.base_url}/models/Kept/versions/1/transitions", json={"stage": stage},
                             timeout=10).status_code == 201
    lookup = f"{one.base_url}/models/Kept/versions/production"
    for _ in range(20):  # kept, and then served again, by each of its workers
        assert one.http.get(lookup, timeout=10).json()["version"] == 1
    assert other.http.post(f"{other.base_url}/runs/{run_id}/log", json={"metrics": [
        {"key": "auc", "value": 0.97, "step": 1}]}, timeout=10).status_code in (200, 204)
    for _ in range(10):
        assert one.http.get(lookup, timeout=10).json()["lineage"]["metrics"] == {"auc": 0.97}
    for stage in ("Staging", "Production"):
        assert other.http.post(f"{other.base_url}/models/Kept/versions/2/transitions", json={"stage": stage},
                               timeout=10).status_code == 201
    for _ in range(10):
        assert one.http.get(lookup, timeout=10).json()["version"] == 2

def test_a_rolling_restart_under_load_loses_nothing(instances, backend_env):
    """Registrations keep coming while each instance in turn is stopped (SIGTERM) and replaced.
    The client retries on the other instance with the same Idempotency-Key, as a pipeline behind
    a balancer would: every job gets exactly one version, numbered without gaps."""
    run_id = _upload(instances[0])
    live = list(instances)
    lock = threading.Lock()
    done = threading.Event()
    results, failures = {}, []

    def register(job):
        for attempt in itertools.count():
            with lock:
                server = live[(job + attempt) % len(live)]
            try:
                response = server.http.post(
                    f"{server.base_url}/models/Rolling/versions", json={"source": f"runs:/{run_id}/model"},
                    headers={"Idempotency-Key": f"job-{job}"}, timeout=30)
            except requests.ConnectionError:
                time.sleep(0.05)
                continue
            if response.status_code == 503:
                time.sleep(0.05)
                continue
            if response.status_code not in (200, 201) or attempt > 200:
                failures.append((job, response.status_code, response.text[:200]))
                return
            results[job] = response.json()["version"]
            return

    def load():
        jobs = itertools.count()
        with ThreadPoolExecutor(max_workers=4) as pool:
            while not done.is_set():
                list(pool.map(register, [next(jobs) for _ in range(4)]))

    loader = threading.Thread(target=load)
    loader.start()
    try:
        time.sleep(1.0)
        for index in range(2):
            old = live[index]
            with lock:
                live.remove(old)  # the balancer drains it
            old.stop()  # SIGTERM: gunicorn finishes what it is serving
            replacement = RegistryServer(backend_env, workers=2, threads=8).start()
            with lock:
                live.insert(index, replacement)
            instances.append(replacement)  # stopped by the fixture
            time.sleep(1.0)
    finally:
        done.set()
        loader.join(120)
    assert failures == []
    assert len(results) >= 20
    assert sorted(results.values()) == list(range(1, len(results) + 1))
    server = live[0]
    listed = server.http.get(f"{server.base_url}/models/Rolling/versions", timeout=10).json()["versions"]
    assert sorted(v["version"] for v in listed) == sorted(results.values())
    assert server.http.get(f"{server.base_url}/audit/verify", timeout=10).json()["ok"] is True
