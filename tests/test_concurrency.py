"""Real concurrency against `registry serve` (gunicorn, 2 processes x 8 threads), on both backends."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.servers import RegistryServer

# Each test starts its own server processes.
pytestmark = pytest.mark.servers


@pytest.fixture
def server(backend_env):
    server = RegistryServer(backend_env, workers=2, threads=8).start()
    yield server
    server.stop()


def _run_with_file(http, base):
    run_id = http.post(f"{base}/runs", json={}, timeout=10).json()["run_id"]
    assert http.put(f"{base}/runs/{run_id}/artifacts/model/w.bin", data=b"w", timeout=10).status_code == 201
    return run_id


def _parallel(count, call):
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(call, range(count)))


def test_parallel_registrations_get_versions_1_to_16(server):
    base, http = server.base_url, server.http
    run_id = _run_with_file(http, base)

    def register(i):
        return http.post(f"{base}/models/Concurrent/versions",
                             json={"source": f"runs:/{run_id}/model", "description": f"job {i}"}, timeout=60)

    responses = _parallel(16, register)
    assert [r.status_code for r in responses] == [201] * 16, [r.text for r in responses if r.status_code != 201]
    assert sorted(r.json()["version"] for r in responses) == list(range(1, 17))
    listed = http.get(f"{base}/models/Concurrent/versions", timeout=10).json()["versions"]
    assert [v["version"] for v in listed] == list(range(16, 0, -1))
    history = http.get(f"{base}/models/Concurrent/history", timeout=10).json()["transitions"]
    assert sorted(t["version"] for t in history) == list(range(1, 17))
    assert http.get(f"{base}/models/Concurrent", timeout=10).json()["latest_version"] == 16


def test_parallel_promotions_leave_one_production_and_a_consistent_history(server):
    base, http = server.base_url, server.http
    run_id = _run_with_file(http, base)
    for _ in range(8):
        http.post(f"{base}/models/M/versions", json={"source": f"runs:/{run_id}/model"}, timeout=10)
    for version in range(1, 9):
        moved = http.post(f"{base}/models/M/versions/{version}/transitions", json={"stage": "Staging"}, timeout=10)
        assert moved.status_code == 201

    def promote(i):
        return http.post(f"{base}/models/M/versions/{i + 1}/transitions",
                             json={"stage": "Production", "comment": f"pipeline {i}"}, timeout=60)

    responses = _parallel(8, promote)
    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    versions = http.get(f"{base}/models/M/versions", timeout=10).json()["versions"]
    in_production = [v["version"] for v in versions if v["stage"] == "Production"]
    assert len(in_production) == 1
    assert sorted(v["stage"] for v in versions).count("Archived") == 7

    # Replay the history: never two in Production, every archive names its successor.
    production = None
    history = http.get(f"{base}/models/M/history", timeout=10).json()["transitions"]
    for i, record in enumerate(history):
        if record["to_stage"] == "Production":
            assert production is None, f"two versions in Production at record {record['id']}"
            production = record["version"]
        elif record["from_stage"] == "Production":
            assert record["version"] == production
            assert record["cause"] == f"replaced by version {history[i + 1]['version']}"
            production = None
    assert production == in_production[0]
    assert [r["id"] for r in history] == sorted(r["id"] for r in history)


def test_parallel_promotions_of_one_version_succeed_once(server):
    base, http = server.base_url, server.http
    run_id = _run_with_file(http, base)
    http.post(f"{base}/models/M/versions", json={"source": f"runs:/{run_id}/model"}, timeout=10)
    http.post(f"{base}/models/M/versions/1/transitions", json={"stage": "Staging"}, timeout=10)

    responses = _parallel(8, lambda i: http.post(
        f"{base}/models/M/versions/1/transitions", json={"stage": "Production"}, timeout=60))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"invalid_transition"}
    history = http.get(f"{base}/models/M/versions/1/history", timeout=10).json()["transitions"]
    assert [t["to_stage"] for t in history] == ["None", "Staging", "Production"]
