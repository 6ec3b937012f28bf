"""The upload reader: the digest and size of what passed (hashed on its own thread), its cap, and misuse."""
import hashlib
import io

import pytest

from registry.domain.errors import RegistryError
from registry.storage.base import CHUNK_SIZE
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
