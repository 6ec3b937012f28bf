"""Which bytes of a file a download sends: Range, If-Range and If-None-Match rules (RFC 9110).

Pure: takes parsed header values, returns numbers, raises RegistryError. The
view only translates headers in and out.
"""
from dataclasses import dataclass

from .domain.errors import RegistryError


@dataclass(frozen=True)
class Span:
    """Bytes ``start`` up to (not including) ``stop`` of a file of ``size`` bytes."""

    start: int
    stop: int
    size: int
    partial: bool

    @property
    def length(self) -> int:
        return self.stop - self.start

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{self.size}"


def not_modified(digest: str, if_none_match) -> bool:
    """True if ``If-None-Match`` (a werkzeug ETags, possibly empty) names this file's ETag."""
    return bool(if_none_match) and if_none_match.contains_weak(digest)


def span(size: int, digest: str, requested, if_range) -> Span:
    """The bytes to send for a werkzeug ``Range`` (or None) and ``IfRange``.

    A single satisfiable byte range gives a partial span. Multiple ranges,
    other units and a stale If-Range get the whole file, as RFC 9110 allows.
    Raises range_not_satisfiable when the range starts past the end.
    """
    whole = Span(0, size, size, partial=False)
    if requested is None or requested.units != "bytes" or len(requested.ranges) != 1:
        return whole
    if (if_range.etag is not None or if_range.date is not None) and if_range.etag != digest:
        return whole
    start, stop = requested.ranges[0]
    if start < 0:  # bytes=-n: the last n bytes, or all of them
        start, stop = max(size + start, 0), size
    else:
        stop = size if stop is None else min(stop, size)
    if start >= size:
        raise RegistryError(
            "range_not_satisfiable",
            f"The file is {size} bytes long; the requested range starts past its end.",
            {"size": size},
        )
    return Span(start, stop, size, partial=True)
