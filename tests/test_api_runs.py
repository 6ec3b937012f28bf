"""Runs and uploads over HTTP, on both backends."""
import hashlib
import re

import pytest

from registry import create_app
from tests.conftest import admin_token
from tests.conftest import expect_error


def test_create_run_with_and_without_body(client):
    named = client.post("/runs", json={"name": "bert-ft", "experiment": "nlp"})
    assert named.status_code == 201
    assert re.fullmatch(r"[0-9a-f]{32}", named.json["run_id"])
    assert named.json["name"] == "bert-ft"
    assert named.json["experiment"] == "nlp"
    assert named.json["created_at"].endswith("Z")
    bare = client.post("/runs")
    assert bare.status_code == 201
    assert bare.json["name"] is None
    assert bare.json["run_id"] != named.json["run_id"]


def test_upload_returns_digest_and_retries_are_safe(client):
    run_id = client.post("/runs").json["run_id"]
    data = b"weights" * 1000
    first = client.put(f"/runs/{run_id}/artifacts/model/weights.bin", data=data)
    assert first.status_code == 201
    assert first.json == {"path": "model/weights.bin", "size": len(data),
                          "sha256": hashlib.sha256(data).hexdigest()}
    again = client.put(f"/runs/{run_id}/artifacts/model/weights.bin", data=data)
    assert again.status_code == 200
    assert again.json == first.json


def test_different_bytes_at_an_existing_path_conflict_and_keep_the_original(client):
    run_id = client.post("/runs").json["run_id"]
    client.put(f"/runs/{run_id}/artifacts/config.json", data=b"{}")
    clash = client.put(f"/runs/{run_id}/artifacts/config.json", data=b"{\"x\": 1}")
    assert clash.status_code == 409
    assert clash.json["error"]["code"] == "artifact_exists"
    files = client.get(f"/runs/{run_id}/artifacts").json["files"]
    assert files == [{"path": "config.json", "size": 2, "sha256": hashlib.sha256(b"{}").hexdigest()}]


def test_run_lists_files_sorted_by_path(client, registry):
    run_id = registry.run({"z.txt": b"z", "a/b.txt": b"ab", "a/a.txt": b"aa", "m": b""})
    listed = client.get(f"/runs/{run_id}/artifacts")
    assert [f["path"] for f in listed.json["files"]] == ["a/a.txt", "a/b.txt", "m", "z.txt"]
    run = client.get(f"/runs/{run_id}")
    assert run.status_code == 200
    assert run.json["files"] == listed.json["files"]
    assert run.json["run_id"] == run_id


def test_identical_files_are_stored_once(registry, storage):
    registry.run({"w.bin": b"shared weights", "other.bin": b"x"})
    registry.run({"copy/w.bin": b"shared weights"})
    assert len(storage.blob_keys()) == 2
    assert storage.upload_keys() == []


def test_unknown_and_malformed_run_ids(client):
    unknown = client.get("/runs/" + "0" * 32)
    expect_error(unknown, 404, "not_found")
    assert unknown.json["error"]["code"] == "not_found"
    malformed = client.get("/runs/not-a-run")
    expect_error(malformed, 400, "validation_error")
    upload = client.put("/runs/" + "0" * 32 + "/artifacts/x.bin", data=b"x")
    expect_error(upload, 404, "not_found")


def test_traversal_and_bad_paths_are_refused(client, storage):
    run_id = client.post("/runs").json["run_id"]
    for path in ["a/../../etc/passwd", "a//b", "./x", "a/./b", "trailing/", "back%5Cslash", "ctl%01char"]:
        response = client.put(f"/runs/{run_id}/artifacts/{path}", data=b"x")
        expect_error(response, 400, "validation_error")
        assert response.json["error"]["code"] == "validation_error"
    assert client.get(f"/runs/{run_id}/artifacts").json["files"] == []
    assert storage.blob_keys() == []


def test_upload_size_limit(backend_config):
    app = create_app(dict(backend_config, MAX_UPLOAD_BYTES=1000))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_token(backend_config['DATA_DIR'])}"
    run_id = client.post("/runs").json["run_id"]
    too_big = client.put(f"/runs/{run_id}/artifacts/big.bin", data=b"x" * 1001)
    expect_error(too_big, 413, "payload_too_large")
    assert too_big.json["error"]["code"] == "payload_too_large"
    assert client.put(f"/runs/{run_id}/artifacts/ok.bin", data=b"x" * 1000).status_code == 201
    assert [f["path"] for f in client.get(f"/runs/{run_id}/artifacts").json["files"]] == ["ok.bin"]
    assert app.extensions["registry_storage"].upload_keys() == []


def test_json_bodies_are_capped(client):
    huge = '{"name": "' + "x" * (2 * 1024 * 1024) + '"}'
    response = client.post("/runs", data=huge, content_type="application/json")
    expect_error(response, 413, "payload_too_large")
    assert response.json["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("first,second,clash", [
    ("model/x", "model/x/y.bin", "model/x"),
    ("model/x/y.bin", "model/x", "model/x/y.bin"),
    ("a", "a/b/c", "a"),
    ("a/b/c", "a", "a/b/c"),
])
def test_a_path_cannot_be_both_a_file_and_a_folder(client, first, second, clash):
    run_id = client.post("/runs").json["run_id"]
    assert client.put(f"/runs/{run_id}/artifacts/{first}", data=b"1").status_code == 201
    error = expect_error(client.put(f"/runs/{run_id}/artifacts/{second}", data=b"2"), 409, "path_conflict")
    assert error["details"] == {"path": second, "conflicts_with": clash}
    files = client.get(f"/runs/{run_id}/artifacts").json["files"]
    assert [f["path"] for f in files] == [first]


def test_similar_names_are_not_conflicts(client):
    run_id = client.post("/runs").json["run_id"]
    for path in ["a", "ab/c", "a_b/c", "a%/c", "b/a"]:
        assert client.put(f"/runs/{run_id}/artifacts/{path}", data=b"x").status_code == 201, path
