"""S3's aws-chunked body with the object's SHA-256 as a trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER).

The request is signed; its body is not, chunk by chunk. Instead the server
hashes what it received and refuses the object (XAmzContentChecksumMismatch)
unless that equals the trailer: the digest the registry computed and records.
So the bytes are hashed once on this side, not twice (once for the digest,
again for SigV4's payload hash), and what the store keeps is checked against
the very digest that names it.
"""
import base64
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator

CONTENT_SHA256 = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
TRAILER = "x-amz-checksum-sha256"
# What the server answers when the body does not hash to the trailer.
MISMATCH_CODES = ("XAmzContentChecksumMismatch", "BadDigest")
_TRAILER_LINE_LENGTH = len(TRAILER) + 1 + 44  # name, ':', base64 of 32 bytes


def chunk_lengths(size: int, chunk_size: int) -> Iterator[int]:
    """The length of each chunk of a ``size``-byte body sent in chunks of ``chunk_size``."""
    whole, rest = divmod(size, chunk_size)
    yield from [chunk_size] * whole
    if rest:
        yield rest


def headers(size: int, chunk_size: int) -> dict[str, str]:
    """The headers (to be signed) of a PUT of ``size`` bytes framed by ``frames`` in chunks of ``chunk_size``."""
    framed = sum(len(f"{n:x}") + 2 + n + 2 for n in chunk_lengths(size, chunk_size))
    return {
        "x-amz-content-sha256": CONTENT_SHA256,
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(size),
        "x-amz-trailer": TRAILER,
        # Each chunk, the empty last chunk, the trailer line and the blank line after it.
        "Content-Length": str(framed + len("0\r\n") + _TRAILER_LINE_LENGTH + len("\r\n\r\n")),
    }


def frames(chunks: Iterable[bytes], sha256: Callable[[], bytes]) -> Iterator[bytes]:
    """The body: each chunk framed, then the trailer with ``sha256()`` (called once every chunk has been taken)."""
    after = b""
    for chunk in chunks:
        # A chunk's closing CRLF goes out with the next one's size line: one small send per chunk.
        yield after + b"%x\r\n" % len(chunk)
        yield chunk
        after = b"\r\n"
    yield after + b"0\r\n" + TRAILER.encode() + b":" + base64.b64encode(sha256()) + b"\r\n\r\n"
