"""Downloads: headers, ranges, conditional requests and the tar archive."""
import hashlib
import io
import tarfile

import pytest
import requests

from tests.conftest import expect_error

DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def model(registry):
    run_id = registry.run({"model/weights.bin": DATA, "model/cfg/config.json": b"{}", "model/empty": b""})
    registry.register("TextClassifier", f"runs:/{run_id}/model")
    registry.move("TextClassifier", 1, "Staging")
    registry.move("TextClassifier", 1, "Production")
    registry.register("TextClassifier", f"runs:/{run_id}/model/cfg")
    return "/models/TextClassifier/versions"


def test_file_list(client, model):
    files = client.get(f"{model}/production/files").json["files"]
    assert [f["path"] for f in files] == ["cfg/config.json", "empty", "weights.bin"]


def test_whole_file(client, model):
    response = client.get(f"{model}/production/files/weights.bin")
    assert response.status_code == 200
    assert response.data == DATA
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.headers["ETag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["X-Model-Version"] == "1"
    assert response.headers["Content-Type"] == "application/octet-stream"


def test_latest_resolves_to_another_version(client, model):
    response = client.get(f"{model}/latest/files/config.json")
    assert response.data == b"{}"
    assert response.headers["X-Model-Version"] == "2"


@pytest.mark.parametrize("header,start,stop", [
    ("bytes=0-99", 0, 100),
    ("bytes=100-", 100, len(DATA)),
    ("bytes=-10", len(DATA) - 10, len(DATA)),
    ("bytes=10200-20000", 10200, len(DATA)),
    ("bytes=-999999", 0, len(DATA)),
    ("bytes=10239-10239", 10239, 10240),
])
def test_ranges(client, model, header, start, stop):
    response = client.get(f"{model}/production/files/weights.bin", headers={"Range": header})
    assert response.status_code == 206
    assert response.data == DATA[start:stop]
    assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(DATA)}"
    assert response.headers["Content-Length"] == str(stop - start)


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000"])
def test_unsatisfiable_range(client, model, header):
    response = client.get(f"{model}/production/files/weights.bin", headers={"Range": header})
    expect_error(response, 416, "range_not_satisfiable")
    assert response.headers["Content-Range"] == f"bytes */{len(DATA)}"
    assert response.json["error"]["code"] == "range_not_satisfiable"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=5-2", "garbage"])
def test_ranges_we_answer_with_the_whole_file(client, model, header):
    response = client.get(f"{model}/production/files/weights.bin", headers={"Range": header})
    assert response.status_code == 200
    assert response.data == DATA


def test_if_none_match_and_if_range(client, model):
    etag = client.get(f"{model}/production/files/weights.bin").headers["ETag"]
    cached = client.get(f"{model}/production/files/weights.bin", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.data == b""
    assert cached.headers["ETag"] == etag
    resumed = client.get(f"{model}/production/files/weights.bin", headers={"Range": "bytes=5-", "If-Range": etag})
    assert resumed.status_code == 206 and resumed.data == DATA[5:]
    stale = client.get(f"{model}/production/files/weights.bin", headers={"Range": "bytes=5-", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.data == DATA
    dated = client.get(f"{model}/production/files/weights.bin",
                       headers={"Range": "bytes=5-", "If-Range": "Sat, 01 Nov 2026 12:00:00 GMT"})
    assert dated.status_code == 200 and dated.data == DATA  # we send no Last-Modified to compare with


@pytest.mark.parametrize("header,status", [
    ('W/"{sha}"', 304),  # RFC 9110: If-None-Match compares weakly
    ('"other", "{sha}"', 304),
    ("*", 304),
    ('"other"', 200),
    ('W/"other"', 200),
    ("", 200),
])
def test_if_none_match_forms(client, model, header, status):
    sha = client.get(f"{model}/production/files/weights.bin").headers["ETag"].strip('"')
    response = client.get(f"{model}/production/files/weights.bin", headers={"If-None-Match": header.format(sha=sha)})
    assert response.status_code == status
    assert response.data == (b"" if status == 304 else DATA)


def test_empty_file(client, model):
    response = client.get(f"{model}/1/files/empty")
    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["Content-Length"] == "0"


def test_missing_file_and_bad_paths(client, model):
    expect_error(client.get(f"{model}/production/files/nope.bin"), 404, "not_found")
    expect_error(client.get(f"{model}/production/files/cfg/../weights.bin"), 400, "validation_error")
    expect_error(client.get(f"{model}/production/files/cfg//config.json"), 400, "validation_error")


def test_archive(client, model):
    response = client.get(f"{model}/production/archive")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="TextClassifier-v1.tar"; filename*=UTF-8\'\'TextClassifier-v1.tar')
    assert response.headers["X-Model-Version"] == "1"
    assert response.headers["Content-Type"] == "application/x-tar"
    assert response.headers["Content-Length"] == str(len(response.data))
    with tarfile.open(fileobj=io.BytesIO(response.data)) as tar:
        assert tar.getnames() == ["cfg/config.json", "empty", "weights.bin"]
        assert tar.extractfile("weights.bin").read() == DATA
        assert tar.extractfile("cfg/config.json").read() == b"{}"


def test_archive_with_long_unicode_paths(client, registry):
    long_path = "deep/" + "/".join(["ünïcødé-" + "x" * 40] * 5) + "/w.bin"
    run_id = registry.run({long_path: b"deep bytes"})
    registry.register("M", f"runs:/{run_id}")
    response = client.get("/models/M/versions/1/archive")
    with tarfile.open(fileobj=io.BytesIO(response.data)) as tar:
        assert tar.getnames() == [long_path]
        assert tar.extractfile(long_path).read() == b"deep bytes"


def test_download_of_unknown_model_or_stage(client, model):
    expect_error(client.get("/models/Nope/versions/production/archive"), 404, "not_found")
    expect_error(client.get(f"{model}/staging/files/weights.bin"), 404, "not_found")


# --- redirects to presigned storage URLs (REGISTRY_DOWNLOAD_REDIRECT=1) -------

# Only MinIO serves clients directly; on local disk the setting is refused (test_redirect_needs_minio).
on_minio = pytest.mark.parametrize("backend", ["postgres-minio"])


@pytest.fixture
def redirecting(app):
    app.config["DOWNLOAD_REDIRECT"] = True
    return app


@on_minio
def test_redirect_to_storage_serves_the_same_bytes(client, model, redirecting):
    response = client.get(f"{model}/production/files/weights.bin")
    assert response.status_code == 302
    assert response.headers["ETag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert response.headers["X-Model-Version"] == "1"
    assert response.headers["Cache-Control"] == "no-store"
    location = response.headers["Location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=300&" in location
    fetched = requests.get(location, timeout=10)  # no credentials: the signature is the grant
    assert fetched.status_code == 200
    assert fetched.content == DATA
    assert fetched.headers["Content-Disposition"] == (
        'attachment; filename="weights.bin"; filename*=UTF-8\'\'weights.bin')
    ranged = requests.get(location, headers={"Range": "bytes=100-199"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == DATA[100:200]


@on_minio
def test_redirect_opt_out_and_conditional_requests_stay_here(client, model, redirecting):
    streamed = client.get(f"{model}/production/files/weights.bin?redirect=0")
    assert streamed.status_code == 200 and streamed.data == DATA
    assert streamed.headers["Content-Disposition"].startswith('attachment; filename="weights.bin"')
    etag = streamed.headers["ETag"]
    assert client.get(f"{model}/production/files/weights.bin",
                      headers={"If-None-Match": etag}).status_code == 304
    # Storage does not know our ETag, so If-Range is answered here.
    resumed = client.get(f"{model}/production/files/weights.bin", headers={"Range": "bytes=10-", "If-Range": etag})
    assert resumed.status_code == 206 and resumed.data == DATA[10:]


@on_minio
def test_redirect_checks_access_first(app, client, model, redirecting):
    from tests.test_auth import as_token
    from tests.test_auth import make_token

    outsider = as_token(app, make_token(client, "reader", models=["Other*"]))
    response = outsider.get(f"{model}/production/files/weights.bin")
    assert response.status_code in (403, 404) and "Location" not in response.headers
    missing = client.get(f"{model}/production/files/nope.bin")
    expect_error(missing, 404, "not_found")


@on_minio
def test_redirect_through_a_real_server_and_client(backend_env, model):
    """requests follows the 302 and drops the token on the way to storage (another host:port)."""
    from tests.conftest import admin_token
    from tests.servers import RegistryServer

    server = RegistryServer(dict(backend_env, REGISTRY_DOWNLOAD_REDIRECT="1", REGISTRY_DOWNLOAD_REDIRECT_SECONDS="60"))
    server.start()
    try:
        headers = {"Authorization": f"Bearer {admin_token(backend_env['REGISTRY_DATA_DIR'])}"}
        url = f"{server.base_url}/models/TextClassifier/versions/production/files/weights.bin"
        followed = requests.get(url, headers=headers, timeout=10)
        assert followed.status_code == 200 and followed.content == DATA
        assert [r.status_code for r in followed.history] == [302]
        assert "X-Amz-Expires=60&" in followed.url
        assert requests.get(url + "?redirect=0", headers=headers, timeout=10).history == []
    finally:
        server.stop()


@pytest.mark.parametrize("value", ["2", "yes", "", "-1"])
def test_redirect_parameter_is_0_or_1(client, model, value):
    expect_error(client.get(f"{model}/production/files/weights.bin?redirect={value}"), 400, "validation_error")


def test_redirect_needs_minio(backend_config, backend):
    from registry import create_app
    from registry.config import ConfigError

    settings = dict(backend_config, TESTING=True, DOWNLOAD_REDIRECT="1")
    if backend == "postgres-minio":
        assert create_app(settings, migrate=False).config["DOWNLOAD_REDIRECT"] is True
        return
    with pytest.raises(ConfigError, match="REGISTRY_DOWNLOAD_REDIRECT: needs MinIO storage"):
        create_app(settings, migrate=False)
