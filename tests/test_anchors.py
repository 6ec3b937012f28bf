"""Anchors in blob storage: verify catches a truncated or wholly rewritten chain that the chain alone cannot."""
import subprocess
import sys
import time

import pytest

from registry.domain import anchors
from registry.domain import audit
from registry.domain.auth import Principal
from registry.domain.errors import RegistryError
from registry.models import AuditHead
from registry.models import AuditRecord
from registry.storage.keys import anchor_key
from tests.servers import RegistryServer
from tests.servers import without_registry_settings
from tests.test_audit import _sql
from tests.test_audit import _unprotected
from tests.test_audit import _verify
from tests.test_audit import activity  # noqa: F401 (fixture)


def _cli(backend_env, *args):
    return subprocess.run([sys.executable, "-m", "registry.cli", "audit", *args],
                          env=dict(without_registry_settings(), **backend_env),
                          capture_output=True, text=True, timeout=60)


def _rewind_to(app, record_id):
    """Delete every record after ``record_id`` and point the head at it, as a database admin could."""
    _unprotected(app)
    with app.app_context():
        kept = AuditRecord.get_by_id(record_id)
    _sql(app, "DELETE FROM audit_record WHERE id > %s", (record_id,))
    _sql(app, "UPDATE audit_head SET last_id = %s, last_hash = %s", (kept.id, kept.hash))


def test_anchor_then_truncate_is_caught_by_the_anchor_only(app, client, activity, backend_env):  # noqa: F811
    anchored = _cli(backend_env, "anchor")
    assert anchored.returncode == 0, anchored.stderr
    assert anchored.stdout.startswith("anchored record 9: ")
    report = _verify(client)
    assert report["ok"] is True and report["anchored"] == 9
    assert "matches the anchor of record 9" in _cli(backend_env, "verify").stdout

    _rewind_to(app, 7)
    with app.app_context():
        assert audit.verify()["ok"] is True  # the chain alone cannot tell
    report = _verify(client)
    assert report == {"ok": False, "records": 7, "head_hash": None, "anchored": None, "first_bad": {
        "id": 8, "reason": "the newest records are missing: record 9 was anchored outside the database"}}
    result = _cli(backend_env, "verify")
    assert result.returncode == 1 and "TAMPERED: record 8" in result.stderr


def test_a_chain_rewritten_with_recomputed_hashes_is_caught_at_the_anchor(app, client, activity):  # noqa: F811
    with app.app_context():
        anchors.anchor_head(Principal("ops", "admin"), app.extensions["registry_storage"])
    # Rewrite record 3's actor and recompute every hash after it, head included.
    _unprotected(app)
    with app.app_context():
        previous = AuditRecord.get_by_id(2).hash
        for record in AuditRecord.select().where(AuditRecord.id >= 3).order_by(AuditRecord.id):
            record.prev_hash = previous
            if record.id == 3:
                record.actor = "mallory"
            record.hash = audit.record_hash(record)
            record.save()
            previous = record.hash
        AuditHead.update(last_hash=previous).execute()
        assert audit.verify()["ok"] is True  # self-consistent again
    assert _verify(client) == {"ok": False, "records": 8, "head_hash": None, "anchored": None, "first_bad": {
        "id": 9, "reason": "its hash differs from the one anchored outside the database: the chain was rewritten"}}


def test_an_anchor_is_never_overwritten(app, activity):  # noqa: F811
    storage = app.extensions["registry_storage"]
    with app.app_context():
        first = anchors.anchor_head(Principal("ops", "admin"), storage)
        again = anchors.anchor_head(Principal("ops", "admin"), storage)
    assert first == again and first.record_id == 9
    original = storage.read_small(anchor_key(9))
    assert storage.put_once(anchor_key(9), b'{"record": 9, "hash": "forged"}') is False
    assert storage.read_small(anchor_key(9)) == original
    with app.app_context():
        assert anchors.latest(storage) == first


def test_an_unreadable_anchor_fails_verification(app, client, activity):  # noqa: F811
    app.extensions["registry_storage"].put_once(anchor_key(5), b"not json")
    report = _verify(client)
    assert report["ok"] is False and report["first_bad"]["id"] == 5


@pytest.mark.parametrize("principal", [Principal("scoped", "admin", ("M*",)), Principal("w", "maintainer")])
def test_only_an_unlimited_admin_anchors(app, activity, principal):  # noqa: F811
    with app.app_context(), pytest.raises(RegistryError) as refused:
        anchors.anchor_head(principal, app.extensions["registry_storage"])
    assert refused.value.code == "forbidden"


@pytest.mark.servers
def test_the_server_anchors_every_n_records_on_its_own(tmp_path):
    server = RegistryServer({"REGISTRY_DATA_DIR": str(tmp_path), "REGISTRY_AUDIT_ANCHOR_EVERY": "3"},
                            workers=2, threads=2).start()
    try:
        for index in range(4):  # first start wrote record 1 (the admin token); these are 2..5
            created = server.http.post(f"{server.base_url}/tokens", json={"name": f"t{index}", "role": "reader"},
                                       timeout=10)
            assert created.status_code == 201
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            report = server.http.get(f"{server.base_url}/audit/verify", timeout=10).json()
            if report["anchored"]:
                break
            time.sleep(0.5)
        assert report["ok"] is True and report["anchored"] >= 3
        assert "anchored audit record" in server.output()
    finally:
        server.stop()
