"""Use cases called directly, as the CLI or another API layer would, on both backends."""
import io

import pytest

from registry.domain import audit
from registry.domain import runs
from registry.domain import service
from registry.domain.auth import Principal
from registry.domain.errors import RegistryError

OPERATOR = Principal(name="operator", role="admin")


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app.extensions["registry_storage"]


def _run(storage, files):
    run = runs.create_run(OPERATOR, name="svc")
    for path, data in files.items():
        runs.upload_artifact(OPERATOR, storage, run.run_id, path, io.BytesIO(data), max_size=None)
    return run.run_id


def test_register_and_promote_with_an_actor(ctx):
    run_id = _run(ctx, {"m/w.bin": b"w", "m/c.json": b"c"})
    ci = Principal(name="ci-bot", role="writer")
    release = Principal(name="release-bot", role="maintainer")
    version = service.register_version(ci, "Svc", f"runs:/{run_id}/m")
    assert version.version == 1
    assert [f.path for f in version.files] == ["c.json", "w.bin"]
    service.transition(ci, "Svc", "1", "staging")
    with pytest.raises(RegistryError) as caught:
        service.transition(ci, "Svc", "staging", "production")
    assert caught.value.code == "forbidden" and "maintainer" in caught.value.message
    moved, records = service.transition(release, "Svc", "staging", "PRODUCTION", comment="go")
    assert moved.stage == "Production"
    assert [(r.actor, r.from_stage, r.to_stage, r.comment) for r in records] == [
        ("release-bot", "Staging", "Production", "go")]
    assert [r.actor for r in audit.history(OPERATOR, "Svc")] == ["ci-bot", "ci-bot", "release-bot"]
    assert service.get_model(OPERATOR, "Svc").production_version == 1


def test_upload_returns_created_flag(ctx):
    run = runs.create_run(OPERATOR)
    first, created = runs.upload_artifact(OPERATOR, ctx, run.run_id, "a.bin", io.BytesIO(b"a"), max_size=None)
    again, created_again = runs.upload_artifact(OPERATOR, ctx, run.run_id, "a.bin", io.BytesIO(b"a"), max_size=None)
    assert (created, created_again) == (True, False)
    assert first.sha256 == again.sha256
    with pytest.raises(RegistryError) as caught:
        runs.upload_artifact(OPERATOR, ctx, run.run_id, "a.bin", io.BytesIO(b"b"), max_size=None)
    assert caught.value.code == "artifact_exists"
    assert ctx.upload_keys() == []


def test_resolve_ref_errors(ctx):
    service.create_model(OPERATOR, "Empty")
    with pytest.raises(RegistryError) as caught:
        service.get_version(OPERATOR, "Empty", "latest")
    assert (caught.value.code, caught.value.message) == ("not_found", "Empty has no versions yet.")
    with pytest.raises(RegistryError) as caught:
        service.get_version(OPERATOR, "Empty", "v1")
    assert caught.value.code == "validation_error"


def test_delete_keeps_history(ctx):
    run_id = _run(ctx, {"w": b"w"})
    service.register_version(OPERATOR, "Gone", f"runs:/{run_id}")
    service.delete_model(OPERATOR, "Gone")
    with pytest.raises(RegistryError):
        service.get_model(OPERATOR, "Gone")
    assert [(r.version, r.to_stage) for r in audit.history(OPERATOR, "Gone")] == [(1, "None")]
