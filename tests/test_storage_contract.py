"""One contract, two drivers: local disk and a real MinIO server."""
import hashlib
import io
import os
import re
import time

import pytest

from registry.domain.errors import RegistryError
from registry.storage import storage_from_url


@pytest.fixture(params=["local", "minio"])
def store(request, tmp_path):
    if request.param == "local":
        driver = storage_from_url(f"file://{tmp_path}/blobs")
    else:
        driver = storage_from_url(request.getfixturevalue("minio").url())
    driver.ensure_ready()
    return driver


def _put(store, data):
    return store.stage(io.BytesIO(data))


def _read(store, key, offset=0, length=None):
    return b"".join(store.open(key, offset=offset, length=length))


def test_stage_hashes_and_stores_under_a_fresh_blob_key(store):
    data = os.urandom(3 * 1024 * 1024 + 17)
    staged = _put(store, data)
    assert staged.digest == hashlib.sha256(data).hexdigest()
    assert staged.size == len(data)
    assert re.fullmatch(r"blobs/([0-9a-f]{2})/\1[0-9a-f]{30}", staged.key)
    assert _read(store, staged.key) == data
    assert store.blob_keys() == [staged.key]
    assert [(o.key, o.size) for o in store.objects("blobs/")] == [(staged.key, len(data))]
    assert abs(store.objects("blobs/")[0].modified - time.time()) < 60
    assert store.upload_keys() == []


def test_each_upload_gets_its_own_key_and_discard_removes_one(store):
    first = _put(store, b"same bytes")
    second = _put(store, b"same bytes")
    assert first.digest == second.digest and first.key != second.key
    assert store.blob_keys() == sorted([first.key, second.key])
    store.discard(second)
    store.remove(second.key)  # removing what is gone is not an error
    assert store.blob_keys() == [first.key]
    assert _read(store, first.key) == b"same bytes"


class _Broken(io.RawIOBase):
    """A client that disconnects after sending some bytes."""

    def __init__(self, good):
        self.good = good

    def read(self, n=-1):
        if self.good:
            chunk, self.good = self.good[:n], self.good[n:]
            return chunk
        raise OSError("client went away")


def test_interrupted_upload_leaves_nothing(store):
    with pytest.raises((OSError, RegistryError)):
        store.stage(_Broken(b"x" * (2 * 1024 * 1024)))
    assert store.upload_keys() == []
    assert store.blob_keys() == []


def test_upload_over_the_limit_is_refused_and_leaves_nothing(store):
    with pytest.raises(RegistryError) as caught:
        store.stage(io.BytesIO(b"y" * 5000), max_size=4096)
    assert caught.value.code == "payload_too_large"
    assert store.upload_keys() == []
    assert store.blob_keys() == []


def test_stream_shorter_than_announced_is_refused_and_leaves_nothing(store):
    with pytest.raises(RegistryError) as caught:
        store.stage(io.BytesIO(b"z" * 100), expected_size=1000)
    assert caught.value.code == "validation_error"
    assert "100 of the 1000" in caught.value.message
    assert store.upload_keys() == []
    assert store.blob_keys() == []


@pytest.mark.parametrize("offset,length", [(0, 10), (5, 1), (999, 1), (0, None), (500, None), (123, 400)])
def test_ranges(store, offset, length):
    data = bytes(range(256)) * 4
    staged = _put(store, data)
    expected = data[offset:] if length is None else data[offset:offset + length]
    assert _read(store, staged.key, offset, length) == expected


def test_empty_blob(store):
    staged = _put(store, b"")
    assert staged.digest == hashlib.sha256(b"").hexdigest()
    assert _read(store, staged.key) == b""
    assert _read(store, staged.key, 0, 0) == b""


def test_check_passes_on_a_ready_store(store):
    store.check()


def test_describe_never_shows_credentials(minio):
    driver = storage_from_url(minio.url("describe-check"))
    assert "secret" not in driver.describe()
    assert "describe-check" in driver.describe()
