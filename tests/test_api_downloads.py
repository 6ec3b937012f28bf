"""Downloads: headers, ranges, conditional requests and the tar archive."""
import hashlib
import io
import tarfile

import pytest

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
    assert response.headers["Content-Disposition"] == 'attachment; filename="TextClassifier-v1.tar"'
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
