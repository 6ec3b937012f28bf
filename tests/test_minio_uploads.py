"""Uploads of known length to MinIO: one streamed PUT whose SHA-256 MinIO checks against the digest we record."""
import base64
import hashlib
import io
import os
import time

import pytest

from registry.domain.errors import StorageUnavailable
from registry.storage import storage_from_url
from registry.storage.base import HashingReader
from tests.servers import freeze
from tests.servers import thaw

MiB = 1024 * 1024


def _checksum_minio_keeps(driver, key):
    """The full-object SHA-256 MinIO stored with ``key`` (None if it keeps none, as after a multipart upload)."""
    response = driver.client._url_open("HEAD", driver.client._get_region(driver.bucket), bucket_name=driver.bucket,
                                       object_name=key, headers={"x-amz-checksum-mode": "ENABLED"})
    checksum = response.headers.get("x-amz-checksum-sha256")
    kind = response.headers.get("x-amz-checksum-type")
    return checksum if kind in (None, "FULL_OBJECT") else None


@pytest.fixture
def driver(minio):
    store = storage_from_url(minio.url())
    store.ensure_ready()
    return store


@pytest.mark.parametrize("size", [0, 1, MiB, 3 * MiB + 17])
def test_an_upload_of_known_length_is_stored_with_the_sha256_minio_checked(driver, size):
    data = os.urandom(size)
    staged = driver.stage(io.BytesIO(data), expected_size=size)
    digest = hashlib.sha256(data)
    assert staged.digest == digest.hexdigest() and staged.size == size
    assert b"".join(driver.open(staged.key)) == data
    assert _checksum_minio_keeps(driver, staged.key) == base64.b64encode(digest.digest()).decode()
    assert driver.upload_keys() == [] and driver.keys("probes/") == []


def test_bytes_that_do_not_hash_to_the_recorded_digest_are_refused_and_nothing_is_kept(driver, monkeypatch):
    # As if bytes were corrupted between this service and MinIO: what MinIO
    # received does not hash to the digest the registry would record.
    monkeypatch.setattr(HashingReader, "finish", lambda self: hashlib.sha256(b"other bytes").digest())
    with pytest.raises(StorageUnavailable, match="XAmzContentChecksumMismatch"):
        driver.stage(io.BytesIO(b"model weights" * 1000), expected_size=13000)
    assert driver.blob_keys() == [] and driver.upload_keys() == []


def test_an_upload_of_unknown_length_goes_in_parts(driver):
    data = os.urandom(17 * MiB)
    staged = driver.stage(io.BytesIO(data))
    assert staged.digest == hashlib.sha256(data).hexdigest()
    assert b"".join(driver.open(staged.key)) == data
    assert _checksum_minio_keeps(driver, staged.key) is None


def test_a_server_that_keeps_a_wrong_trailing_checksum_gets_uploads_in_parts(driver, monkeypatch):
    # A server that ignores the trailer answers the probe's wrong checksum by storing the object.
    monkeypatch.setattr(type(driver), "_probe_put", lambda self, key, body, sha256: "stored")
    assert driver.streams_puts() is False
    data = os.urandom(2 * MiB)
    staged = driver.stage(io.BytesIO(data), expected_size=len(data))
    assert b"".join(driver.open(staged.key)) == data
    assert _checksum_minio_keeps(driver, staged.key) is None


def test_minio_is_asked_again_after_an_outage_and_the_probe_leaves_nothing(own_minio):
    store = storage_from_url(own_minio.url())
    store.ensure_ready()
    own_minio.stop()
    with pytest.raises(StorageUnavailable):
        store.streams_puts()
    own_minio.start()
    assert store.streams_puts() is True
    assert store.keys("probes/") == []


def test_the_first_upload_to_a_frozen_minio_is_an_outage_within_the_probes_own_wait(own_minio):
    # Another worker may have asked MinIO already; this one asks with its first
    # upload, and must not then wait again in parts, nor on removing the probe.
    store = storage_from_url(own_minio.url())  # a 3 s timeout, as by default
    store.ensure_ready()
    freeze([own_minio.process.pid])
    started = time.monotonic()
    try:
        with pytest.raises(StorageUnavailable):
            store.stage(io.BytesIO(b"weights"), expected_size=7)
        took = time.monotonic() - started
    finally:
        thaw([own_minio.process.pid])
    assert took < 5.5, took
    staged = store.stage(io.BytesIO(b"weights"), expected_size=7)  # asked again, now answered
    assert store.streams_puts() is True
    assert b"".join(store.open(staged.key)) == b"weights"


class _FreezesMinio(io.RawIOBase):
    """A body of ``size`` bytes that freezes MinIO (SIGSTOP) once ``before`` of them have been read."""

    def __init__(self, minio, size, before):
        self.minio, self.left, self.before = minio, size, before

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        self.left -= n
        self.before -= n
        if self.before <= 0 and self.minio.process.poll() is None:
            freeze([self.minio.process.pid])
        buffer[:n] = b"f" * n
        return n


def test_minio_frozen_in_the_middle_of_a_large_upload_is_an_outage_within_seconds(own_minio):
    store = storage_from_url(own_minio.url())  # a 3 s timeout, as by default
    store.ensure_ready()
    assert store.streams_puts()
    size = 512 * MiB  # MinIO could take all of it for ~50 s of silent work after the last byte
    started = time.monotonic()
    try:
        with pytest.raises(StorageUnavailable):
            store.stage(_FreezesMinio(own_minio, size, 8 * MiB), expected_size=size)
        took = time.monotonic() - started
    finally:
        thaw([own_minio.process.pid])
    assert took < 8, took
    assert store.blob_keys() == []
