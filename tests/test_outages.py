"""Dependencies going down: 503 with a clear message, then recovery without a restart."""
import pytest

from registry import create_app
from registry.db import database
from tests.conftest import admin_token
from tests.conftest import expect_error

# Each test starts its own server processes.
pytestmark = pytest.mark.servers


def _close_pool():
    if not database.is_closed():
        database.close()
    getattr(database.obj, "close_all", lambda: None)()


def test_minio_outage_gives_503_and_recovers(tmp_path, own_minio):
    app = create_app({"DATA_DIR": str(tmp_path), "STORAGE_URL": own_minio.url("outage")})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_token(str(tmp_path))}"
    run_id = client.post("/runs").json["run_id"]
    assert client.put(f"/runs/{run_id}/artifacts/w.bin", data=b"weights").status_code == 201
    client.post("/models/M/versions", json={"source": f"runs:/{run_id}"})

    own_minio.stop()
    download = client.get("/models/M/versions/1/files/w.bin")
    assert download.status_code == 503
    assert download.json["error"]["code"] == "storage_unavailable"
    assert "not answering" in download.json["error"]["message"]
    assert "registry-test-secret" not in download.get_data(as_text=True)
    expect_error(client.get("/models/M/versions/1/archive"), 503, "storage_unavailable")
    upload = client.put(f"/runs/{run_id}/artifacts/other.bin", data=b"more")
    expect_error(upload, 503, "storage_unavailable")
    ready = client.get("/readyz")
    expect_error(ready, 503, "storage_unavailable")
    assert ready.json["error"]["details"]["checks"]["database"] == "ok"
    assert ready.json["error"]["details"]["checks"]["storage"].startswith("unavailable")
    # Metadata does not need storage.
    assert client.get("/models/M/versions/1").status_code == 200

    own_minio.start()
    assert client.get("/readyz").status_code == 200
    recovered = client.get("/models/M/versions/1/files/w.bin")
    assert recovered.status_code == 200 and recovered.data == b"weights"
    assert client.put(f"/runs/{run_id}/artifacts/other.bin", data=b"more").status_code == 201


def test_postgres_outage_gives_503_and_recovers(tmp_path, own_postgres):
    app = create_app({"DATA_DIR": str(tmp_path), "DATABASE_URL": own_postgres.url("postgres")})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_token(str(tmp_path))}"
    try:
        assert client.post("/models", json={"name": "M"}).status_code == 201

        own_postgres.stop()
        down = client.get("/models/M")
        assert down.status_code == 503
        assert down.json["error"]["code"] == "database_unavailable"
        expect_error(client.post("/models", json={"name": "N"}), 503, "database_unavailable")
        expect_error(client.get("/models/M/versions/1"), 503, "database_unavailable")  # a fast read
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json["error"]["code"] == "database_unavailable"
        assert client.get("/healthz").status_code == 200

        own_postgres.start()
        assert client.get("/readyz").status_code == 200
        assert client.get("/models/M").status_code == 200
        assert client.post("/models", json={"name": "N"}).status_code == 201
    finally:
        _close_pool()
