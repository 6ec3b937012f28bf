"""Aliases over HTTP: @alias wherever a {ref} goes, audit records with the previous target, on both backends."""
import io
import tarfile
import time

import pytest

from tests.conftest import expect_error


@pytest.fixture
def model(registry):
    run_a = registry.run({"w.bin": b"first"})
    run_b = registry.run({"w.bin": b"second"})
    registry.register("TextClassifier", f"runs:/{run_a}")
    registry.register("TextClassifier", f"runs:/{run_b}")
    return "TextClassifier"


def _set(client, alias, version, **extra):
    return client.put(f"/models/TextClassifier/aliases/{alias}", json={"version": version, **extra})


def test_set_move_and_delete_are_audit_records_with_the_previous_target(client, model):
    created = _set(client, "champion", 1, comment="best val_accuracy")
    assert created.status_code == 200
    assert {k: created.json[k] for k in ("model", "alias", "version", "previous_version")} == {
        "model": "TextClassifier", "alias": "champion", "version": 1, "previous_version": None}
    moved = _set(client, "champion", 2).json
    assert (moved["version"], moved["previous_version"]) == (2, 1)
    deleted = client.delete("/models/TextClassifier/aliases/champion?comment=rolled back")
    assert deleted.status_code == 200
    assert (deleted.json["version"], deleted.json["previous_version"]) == (None, 2)
    expect_error(client.delete("/models/TextClassifier/aliases/champion"), 404, "not_found")
    history = client.get("/models/TextClassifier/history").json["transitions"]
    aliases = [(r["action"], r["subject"], r["version"], r["cause"], r["comment"]) for r in history
               if r["action"].startswith("alias")]
    assert aliases == [
        ("alias_set", "champion", 1, None, "best val_accuracy"),
        ("alias_set", "champion", 2, "previously version 1", ""),
        ("alias_delete", "champion", 2, "previously version 2", "rolled back"),
    ]
    assert history[-1]["id"] == deleted.json["record_id"]
    assert client.get("/audit/verify").json["ok"] is True


def test_at_alias_works_wherever_a_ref_does(client, model):
    _set(client, "champion", 1)
    _set(client, "challenger", 2)
    assert client.get("/models/TextClassifier/versions/@champion").json["version"] == 1
    assert client.get("/models/TextClassifier/versions/1").json["aliases"] == ["champion"]
    assert client.get("/models/TextClassifier").json["aliases"] == {"challenger": 2, "champion": 1}
    file = client.get("/models/TextClassifier/versions/@challenger/files/w.bin")
    assert (file.data, file.headers["X-Model-Version"]) == (b"second", "2")
    archive = client.get("/models/TextClassifier/versions/@champion/archive")
    with tarfile.open(fileobj=io.BytesIO(archive.data)) as tar:
        assert tar.extractfile("w.bin").read() == b"first"
    copy = client.post("/models/Copy/versions", json={"source": "models:/TextClassifier/@challenger"})
    assert copy.status_code == 201 and copy.json["files"][0]["sha256"] == file.headers["ETag"].strip('"')
    expect_error(client.get("/models/TextClassifier/versions/@nobody"), 404, "not_found")
    expect_error(client.get("/models/TextClassifier/versions/@bad alias"), 400, "validation_error")


def test_at_alias_as_of_a_time_replays_the_history(client, model):
    _set(client, "champion", 1)
    time.sleep(0.01)
    between = client.get("/models/TextClassifier/history").json["transitions"][-1]["created_at"]
    time.sleep(0.01)
    _set(client, "champion", 2)
    past = client.get(f"/models/TextClassifier/versions/@champion?at={between}")
    assert past.status_code == 200 and past.json["version"] == 1
    assert client.get("/models/TextClassifier/versions/@champion").json["version"] == 2
    expect_error(client.get("/models/TextClassifier/versions/@champion?at=2000-01-01T00:00:00Z"), 404, "not_found")


def test_aliases_do_not_loosen_the_stage_rules(client, model, app):
    from registry.domain import auth

    with app.app_context():
        _, writer = auth.create_token(auth.SYSTEM, "ci", "writer")
        _, reader = auth.create_token(auth.SYSTEM, "viewer", "reader")
    as_writer = {"Authorization": f"Bearer {writer}"}
    assert _set(client, "champion", 1).status_code == 200
    # Writers may move aliases; readers may not.
    moved = client.put("/models/TextClassifier/aliases/champion", json={"version": 2}, headers=as_writer)
    assert moved.status_code == 200 and moved.json["previous_version"] == 1
    history = client.get("/models/TextClassifier/history").json["transitions"]
    assert history[-1]["actor"] == "ci"
    expect_error(client.put("/models/TextClassifier/aliases/champion", json={"version": 1},
                            headers={"Authorization": f"Bearer {reader}"}), 403, "forbidden")
    # A writer still cannot promote to Production, whatever the alias names.
    staged = client.post("/models/TextClassifier/versions/@champion/transitions", json={"stage": "Staging"},
                         headers=as_writer)
    assert staged.status_code == 201 and staged.json["version"]["version"] == 2
    expect_error(client.post("/models/TextClassifier/versions/@champion/transitions", json={"stage": "Production"},
                             headers=as_writer), 403, "forbidden")
    assert client.get("/models/TextClassifier/versions/2").json["stage"] == "Staging"


@pytest.mark.parametrize("alias,version,status", [
    ("latest", 1, 400), ("v1", 1, 400), ("V12", 1, 400), ("1abc", 1, 400), ("a" * 65, 1, 400),
    ("champion", 9, 404), ("champion", 0, 400),
])
def test_bad_aliases_and_targets(client, model, alias, version, status):
    response = _set(client, alias, version)
    expect_error(response, status, "validation_error" if status == 400 else "not_found")
    assert client.get("/models/TextClassifier").json["aliases"] == {}
