"""The aws-chunked framing of streamed PUTs: the announced length is exactly what is sent, the trailer last."""
import base64
import hashlib

import pytest

from registry.storage import aws_chunked

CHUNK = 1024


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
def test_the_announced_length_is_the_length_of_the_frames(size):
    data = bytes(range(256)) * (size // 256 + 1)
    chunks = [data[start:start + n] for start, n in zip(
        range(0, size, CHUNK), aws_chunked.chunk_lengths(size, CHUNK), strict=False)]
    assert b"".join(chunks) == data[:size] and all(chunks)
    body = b"".join(aws_chunked.frames(chunks, lambda: hashlib.sha256(data[:size]).digest()))
    headers = aws_chunked.headers(size, CHUNK)
    assert int(headers["Content-Length"]) == len(body)
    assert headers["x-amz-decoded-content-length"] == str(size)
    assert headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def test_each_chunk_is_framed_and_the_checksum_follows_the_empty_last_chunk():
    asked = []

    def sha256():
        asked.append(True)
        return bytes(range(32))

    body = b"".join(aws_chunked.frames([b"abc", b"de"], sha256))
    checksum = base64.b64encode(bytes(range(32)))
    assert body == b"3\r\nabc\r\n2\r\nde\r\n0\r\nx-amz-checksum-sha256:" + checksum + b"\r\n\r\n"
    assert asked == [True]


def test_the_checksum_is_asked_for_only_after_the_last_chunk_was_taken():
    taken = []

    def chunks():
        for chunk in (b"a", b"b"):
            taken.append(chunk)
            yield chunk

    frames = aws_chunked.frames(chunks(), lambda: bytes(32) if taken == [b"a", b"b"] else pytest.fail("too early"))
    assert b"".join(frames).endswith(b"\r\n\r\n")
