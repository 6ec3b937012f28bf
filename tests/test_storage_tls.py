"""minio+https: the driver speaks TLS and verifies the server's certificate (a real MinIO with TLS)."""
import subprocess

import pytest

from registry import create_app
from registry.domain.errors import StorageUnavailable
from tests.conftest import admin_token
from tests.servers import MinioServer

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def tls_minio(tmp_path_factory):
    certs = tmp_path_factory.mktemp("certs")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(certs / "private.key"),
         "-out", str(certs / "public.crt")],
        check=True, capture_output=True, timeout=60,
    )
    server = MinioServer(certs_dir=str(certs)).start()
    yield server, str(certs / "public.crt")
    server.destroy()


def test_minio_https_stores_and_serves_over_tls(tmp_path, tls_minio, monkeypatch):
    server, ca_file = tls_minio
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    app = create_app({"DATA_DIR": str(tmp_path), "STORAGE_URL": server.url(scheme="minio+https")})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_token(str(tmp_path))}"
    run_id = client.post("/runs").json["run_id"]
    assert client.put(f"/runs/{run_id}/artifacts/w.bin", data=b"over tls").status_code == 201
    assert client.post("/models/M/versions", json={"source": f"runs:/{run_id}"}).status_code == 201
    assert client.get("/models/M/versions/1/files/w.bin").data == b"over tls"
    assert client.get("/readyz").json["checks"]["storage"] == "ok"


def test_minio_https_refuses_a_certificate_it_cannot_verify(tmp_path, tls_minio, monkeypatch):
    server, _ = tls_minio
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # certifi's bundle does not know our CA
    with pytest.raises(StorageUnavailable, match="is not answering"):
        create_app({"DATA_DIR": str(tmp_path), "STORAGE_URL": server.url(scheme="minio+https")})


def test_plain_minio_url_does_not_talk_to_a_tls_server(tmp_path, tls_minio):
    server, _ = tls_minio
    with pytest.raises(StorageUnavailable):
        create_app({"DATA_DIR": str(tmp_path), "STORAGE_URL": server.url(scheme="minio")})
