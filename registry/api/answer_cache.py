"""Rendered answers of fast reads, kept by one worker and served again while their fingerprint holds.

Each entry is what one URL answered (status, headers, body bytes), the basis
it was built from, and a fingerprint read *before* the use case ran. An entry
is served only after the fingerprint, read again for this request, is equal:
nothing it was built from has changed since (registry/domain/freshness.py).
The first answer for a URL has no fingerprint yet (there was no basis to read
it for): the next request reads one, runs the use case, and keeps that.
"""
import threading
from dataclasses import dataclass

# Per worker; an entry also costs about this much beside its body.
MAX_BYTES = 16 * 1024 * 1024
_ENTRY_OVERHEAD = 512


@dataclass(frozen=True)
class Answer:
    basis: tuple
    fingerprint: tuple | None  # None: not validated yet, never served
    status: str
    headers: tuple
    body: bytes

    @property
    def size(self) -> int:
        return len(self.body) + _ENTRY_OVERHEAD


class AnswerCache:
    """Oldest entries go first once the bodies exceed ``max_bytes``."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._entries: dict = {}
        self._bytes = 0
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def get(self, key) -> Answer | None:
        return self._entries.get(key)

    def put(self, key, answer: Answer) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            if answer.size > self._max_bytes:
                return
            self._entries[key] = answer
            self._bytes += answer.size
            while self._bytes > self._max_bytes:
                self._bytes -= self._entries.pop(next(iter(self._entries))).size

    def __len__(self) -> int:
        return len(self._entries)
