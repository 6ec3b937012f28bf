"""The upload reader (digest and size of what passed, hashed on its own thread; cap; misuse) and its chunk worker."""
import hashlib
import io
import os
import threading

import pytest

from registry.domain.errors import RegistryError
from registry.storage.base import CHUNK_SIZE
from registry.storage.base import ChunkWorker
from registry.storage.base import HashingReader


def test_whole_parts_come_back_with_the_digest_of_everything_read():
    data = bytes(range(256)) * (3 * CHUNK_SIZE // 256 + 7)
    with HashingReader(io.BytesIO(data), None, len(data)) as reader:
        parts = [reader.read(2 * CHUNK_SIZE + 5) for _ in range(3)]
    assert [len(p) for p in parts] == [2 * CHUNK_SIZE + 5, len(data) - 2 * CHUNK_SIZE - 5, 0]
    assert b"".join(parts) == data
    assert reader.digest == hashlib.sha256(data).hexdigest() and reader.size == len(data)


def test_a_body_over_the_cap_or_short_of_its_length_is_refused():
    with pytest.raises(RegistryError) as caught, HashingReader(io.BytesIO(b"x" * 10), 9) as reader:
        reader.read(100)
    assert caught.value.code == "payload_too_large"
    with pytest.raises(RegistryError) as caught, HashingReader(io.BytesIO(b"x" * 10), None, 11) as reader:
        reader.read(100)
    assert caught.value.code == "validation_error" and "10 of the 11 bytes" in caught.value.message


def test_reading_outside_the_with_block_fails_instead_of_hanging():
    reader = HashingReader(io.BytesIO(b"x"), None)
    with pytest.raises(RuntimeError, match="outside its with block"):
        reader.read()


def test_the_chunk_worker_hands_over_every_chunk_in_order_and_what_waits_in_one_call():
    batches, started, release = [], threading.Event(), threading.Event()

    def consume(batch):
        started.set()
        release.wait(5)  # holds the thread while the next chunks queue up
        batches.append(batch)

    with ChunkWorker(consume, lambda: batches.append("finished")) as worker:
        worker.put(0)
        assert started.wait(5)
        for n in range(1, 1 + ChunkWorker.QUEUED):
            worker.put(n)
        release.set()
        for n in range(1 + ChunkWorker.QUEUED, 20):
            worker.put(n)
    assert batches[-1] == "finished"
    assert [n for batch in batches[:-1] for n in batch] == list(range(20))
    # The chunks queued while the first call ran came in one later call, not one call each.
    assert batches[0] == [0] and batches[1] == list(range(1, 1 + ChunkWorker.QUEUED))


def test_a_failure_of_the_chunk_worker_reaches_the_putting_thread():
    def consume(batch):
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"), ChunkWorker(consume) as worker:
        for n in range(50):  # never blocks forever: the worker keeps draining after the error
            worker.put(n)


def test_finish_gives_the_digest_of_everything_read_before_the_with_block_ends():
    data = os.urandom(3 * CHUNK_SIZE + 5)
    read = data[:2 * CHUNK_SIZE + 5]
    with HashingReader(io.BytesIO(data), None) as reader:
        assert reader.read(len(read)) == read
        assert reader.finish() == hashlib.sha256(read).digest()
        assert reader.finish() == hashlib.sha256(read).digest()  # asking twice is harmless
        with pytest.raises(RuntimeError, match="outside its with block"):
            reader.read(1)  # reading ends with finish: a later chunk could not be in the digest
    assert reader.digest == hashlib.sha256(read).hexdigest()


def test_close_raises_the_chunk_workers_failure():
    def consume(batch):
        raise OSError("disk on fire")

    worker = ChunkWorker(consume).__enter__()
    worker.put(1)
    with pytest.raises(OSError, match="disk on fire"):
        worker.close()
