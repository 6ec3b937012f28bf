"""Registering versions and resolving references, on both backends."""
import hashlib

import pytest

from tests.conftest import expect_error


def _sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def run_id(registry):
    return registry.run({
        "model/weights.bin": b"W" * 5000,
        "model/config.json": b"{}",
        "model/tokenizer/vocab.txt": b"a\nb\n",
        "metrics.json": b"{\"acc\": 0.9}",
    })


def test_register_from_a_folder(client, run_id):
    response = client.post("/models/TextClassifier/versions",
                           json={"source": f"runs:/{run_id}/model", "description": "first", "tags": {"k": "v"}})
    assert response.status_code == 201
    assert response.headers["Location"].endswith("/models/TextClassifier/versions/1")
    version = response.json
    assert version["name"] == "TextClassifier"
    assert version["version"] == 1
    assert version["stage"] == "None"
    assert version["status"] == "READY"
    assert version["run_id"] == run_id
    assert version["source"] == f"runs:/{run_id}/model"
    assert version["description"] == "first"
    assert version["tags"] == {"k": "v"}
    assert version["files"] == [
        {"path": "config.json", "size": 2, "sha256": _sha(b"{}")},
        {"path": "tokenizer/vocab.txt", "size": 4, "sha256": _sha(b"a\nb\n")},
        {"path": "weights.bin", "size": 5000, "sha256": _sha(b"W" * 5000)},
    ]
    model = client.get("/models/TextClassifier").json
    assert model["latest_version"] == 1
    assert client.get(response.headers["Location"]).json == version


def test_register_a_single_file_and_the_whole_run(registry, run_id):
    single = registry.register("M", f"runs:/{run_id}/model/weights.bin")
    assert [f["path"] for f in single["files"]] == ["weights.bin"]
    whole = registry.register("M", f"runs:/{run_id}")
    assert [f["path"] for f in whole["files"]] == [
        "metrics.json", "model/config.json", "model/tokenizer/vocab.txt", "model/weights.bin"]
    assert registry.register("M", f"runs:/{run_id}/")["files"] == whole["files"]
    assert whole["version"] == 2


def test_registration_copies_no_bytes(registry, run_id, storage):
    before = storage.blob_keys()
    registry.register("M", f"runs:/{run_id}/model")
    registry.register("M", f"runs:/{run_id}/model")
    assert storage.blob_keys() == before


def test_a_version_is_immutable(client, registry, run_id):
    version = registry.register("M", f"runs:/{run_id}/model")
    client.put(f"/runs/{run_id}/artifacts/model/extra.bin", data=b"later")
    assert client.get("/models/M/versions/1").json["files"] == version["files"]
    expect_error(client.patch("/models/M/versions/1", json={"files": []}), 400, "validation_error")


@pytest.mark.parametrize("source,status,code", [
    ("runs:/" + "0" * 32 + "/model", 422, "source_not_found"),
    ("runs:/{run}/nothing/here", 422, "source_not_found"),
    ("runs:/{run}/mode", 422, "source_not_found"),
    ("models:/Nope/1", 422, "source_not_found"),
    ("models:/M/7", 422, "source_not_found"),
    ("runs:/not-hex/model", 400, "validation_error"),
    ("runs:/{run}/../etc", 400, "validation_error"),
    ("s3://bucket/key", 400, "validation_error"),
    ("", 400, "validation_error"),
    ("models:/M/bogus", 400, "validation_error"),
])
def test_bad_sources(client, registry, run_id, source, status, code):
    registry.register("M", f"runs:/{run_id}/model")
    response = client.post("/models/M/versions", json={"source": source.format(run=run_id)})
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert client.get("/models/M").json["latest_version"] == 1


def test_models_source_registers_the_same_files(registry, run_id):
    first = registry.register("M", f"runs:/{run_id}/model")
    registry.move("M", 1, "Staging")
    registry.move("M", 1, "Production")
    rollback = registry.register("M", "models:/M/production")
    assert rollback["version"] == 2
    assert rollback["files"] == first["files"]
    assert rollback["run_id"] == run_id
    other = registry.register("Other", "models:/M/1")
    assert other["version"] == 1 and other["files"] == first["files"]


def test_refs(client, registry, run_id):
    registry.model("M", f"runs:/{run_id}/model", versions=4,
                   moves=[(1, "Staging"), (1, "Production"), (2, "Staging"), (3, "Staging")])
    assert client.get("/models/M/versions/latest").json["version"] == 4
    assert client.get("/models/M/versions/LATEST").json["version"] == 4
    assert client.get("/models/M/versions/3").json["version"] == 3
    for spelling in ["Production", "production", "PRODUCTION"]:
        resolved = client.get(f"/models/M/versions/{spelling}")
        assert resolved.json["version"] == 1
    assert client.get("/models/M/versions/staging").json["version"] == 3
    assert client.get("/models/M/versions/none").json["version"] == 4
    missing = client.get("/models/M/versions/archived")
    expect_error(missing, 404, "not_found")
    assert missing.json["error"]["message"] == "M has no version in Archived."
    expect_error(client.get("/models/M/versions/9"), 404, "not_found")
    expect_error(client.get("/models/M/versions/99999999999999999999"), 404, "not_found")
    expect_error(client.get("/models/M/versions/prod"), 400, "validation_error")
    # A Unicode digit is not a number.
    expect_error(client.get("/models/M/versions/%C2%B2"), 400, "validation_error")
    expect_error(client.get("/models/Nope/versions/1"), 404, "not_found")


def test_no_production_message(client, registry, run_id):
    registry.register("TextClassifier", f"runs:/{run_id}/model")
    response = client.get("/models/TextClassifier/versions/production")
    expect_error(response, 404, "not_found")
    assert response.json["error"]["message"] == "TextClassifier has no version in Production."


def test_list_versions_newest_first_and_by_stage(client, registry, run_id):
    for _ in range(3):
        registry.register("M", f"runs:/{run_id}/model")
    registry.move("M", 2, "staging")
    listed = client.get("/models/M/versions").json["versions"]
    assert [v["version"] for v in listed] == [3, 2, 1]
    assert all(v["files"] for v in listed)
    assert [v["version"] for v in client.get("/models/M/versions?stage=STAGING").json["versions"]] == [2]
    expect_error(client.get("/models/M/versions?stage=Prod"), 400, "validation_error")


def test_patch_version(client, registry, run_id):
    registry.register("M", f"runs:/{run_id}/model")
    patched = client.patch("/models/M/versions/latest", json={"description": "better", "tags": {"acc": "0.93"}})
    assert patched.status_code == 200
    assert patched.json["description"] == "better"
    assert patched.json["tags"] == {"acc": "0.93"}
    assert client.get("/models/M/versions/1").json["tags"] == {"acc": "0.93"}


def test_version_number_cannot_be_set_by_the_client(client, run_id):
    response = client.post("/models/M/versions", json={"source": f"runs:/{run_id}/model", "version": 7})
    expect_error(response, 400, "validation_error")
    assert response.json["error"]["details"] == {"version": ["Unknown field."]}
