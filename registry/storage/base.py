"""The narrow interface every blob storage driver implements."""
import hashlib
import queue
import re
import threading
from dataclasses import dataclass
from urllib.parse import quote

from ..domain.errors import RegistryError

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class StagedBlob:
    """An upload that has been fully received and hashed, not yet committed."""

    key: str
    digest: str
    size: int


_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def content_disposition(path, kind="attachment"):
    """``kind`` (attachment or inline) named after the last segment of ``path``: a plain ASCII name, and the
    exact one (RFC 6266). Every response that names a file uses this."""
    name = path.rsplit("/", 1)[-1]
    plain = _UNSAFE_IN_FILENAME.sub("_", name)
    return f"{kind}; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


class ChunkWorker:
    """Hands chunks, in order, to ``consume`` on a thread of its own, then calls ``finish`` there.
    ``consume`` gets a list: every chunk waiting when the thread comes for more.

    Receiving a body holds the GIL (gunicorn copies it through several buffers);
    hashing and writing release it. On their own threads they run beside the
    receiving, on another core. At most QUEUED chunks wait. Use it as a context
    manager: leaving waits for the thread; an error of the thread is raised by
    the next ``put`` or on leaving.
    """

    QUEUED = 4

    def __init__(self, consume, finish=None, name="chunk-worker"):
        self._consume, self._finish = consume, finish
        self._queue: queue.Queue = queue.Queue(self.QUEUED)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False

    def __enter__(self):
        self._thread.start()
        return self

    def put(self, chunk):
        if not self._thread.is_alive() and self._error is None:
            # Not entered (or already left): the queue would fill and block forever.
            raise RuntimeError("ChunkWorker.put outside its with block")
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def close(self):
        """Wait until every chunk put has been consumed and ``finish`` has run; raise the thread's error."""
        self._end()
        if self._error is not None:
            raise self._error

    def _end(self):
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def __exit__(self, kind, value, traceback):
        self._end()
        if self._error is not None and kind is None:
            raise self._error

    def _run(self):
        done = False
        while not done:
            batch = [self._queue.get()]
            # What else already waits goes in the same call: each call gives up
            # the GIL and must take it back from the receiving thread.
            while len(batch) <= self.QUEUED:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if None in batch:
                batch, done = batch[:batch.index(None)], True
            if not batch or self._error is not None:
                continue  # keep draining: a put() must never block forever
            try:
                self._consume(batch)
            except BaseException as exc:  # handed to the putting thread
                self._error = exc
        if self._error is None and self._finish is not None:
            try:
                self._finish()
            except BaseException as exc:
                self._error = exc


class HashingReader:
    """Wraps a request stream: hashes (on a thread of its own) and counts what passes, enforces a cap.

    A context manager: ``digest`` is known once it has been left.
    """

    def __init__(self, stream, max_size, expected_size=None):
        self._stream = stream
        self._max_size = max_size
        self._expected_size = expected_size
        self._hash = hashlib.sha256()
        self._hashing = ChunkWorker(self._update, name="upload-hash")
        self.size = 0

    def __enter__(self):
        self._hashing.__enter__()
        return self

    def __exit__(self, kind, value, traceback):
        self._hashing.__exit__(kind, value, traceback)

    def finish(self) -> bytes:
        """Wait for the hashing of everything read; return the SHA-256 (raw bytes). Reading ends here."""
        self._hashing.close()
        return self._hash.digest()

    def _update(self, chunks):
        for chunk in chunks:
            self._hash.update(chunk)

    def read(self, n=-1):
        """Up to ``n`` bytes (a chunk when ``n`` is unset), fewer only at the end of the body."""
        # minio-py asks for a whole part and concatenates short reads (a copy
        # of the part so far for each): join the chunks here, once, instead.
        chunks, wanted = [], CHUNK_SIZE if n is None or n < 0 else n
        while wanted > 0:
            # Never ask the server for more than a chunk at once: gunicorn
            # buffers whatever size is requested.
            chunk = self._stream.read(min(wanted, CHUNK_SIZE))
            self._passed(chunk)
            if not chunk:
                break
            chunks.append(chunk)
            wanted -= len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _passed(self, data):
        self.size += len(data)
        if not data and self._expected_size is not None and self.size != self._expected_size:
            # The client announced more than it sent: a broken connection,
            # not a short file. Storing it would serve a truncated model.
            raise RegistryError(
                "validation_error",
                f"The upload ended after {self.size} of the {self._expected_size} bytes announced "
                "in Content-Length; nothing was stored. Retry the upload.",
            )
        if self._max_size is not None and self.size > self._max_size:
            raise RegistryError(
                "payload_too_large",
                f"Uploads are limited to {self._max_size} bytes (REGISTRY_MAX_UPLOAD_BYTES).",
            )
        if data:
            self._hashing.put(data)

    @property
    def digest(self):
        return self._hash.hexdigest()


@dataclass(frozen=True)
class StoredObject:
    """One object as listed by ``objects``: its key, size and last write (Unix time)."""

    key: str
    size: int
    modified: float


class Storage:
    """Blob storage, keyed by upload.

    ``stage`` streams an upload to a fresh key while hashing it, and returns
    the key with the digest and size. Nothing is copied afterwards: the
    database maps the digest to that key (or, when it already holds those
    bytes, the caller discards the duplicate). Readers open keys the
    database named, so they never see a partial upload.
    """

    # True if clients can fetch blobs from the backend itself (``presigned_url``).
    serves_clients_directly = False

    def stage(self, stream, max_size=None, expected_size=None, key=None):
        """Store ``stream`` under ``key`` (default: a new blob key); return a StagedBlob once every byte is durable.

        Raises RegistryError(payload_too_large) past ``max_size`` bytes,
        validation_error if the stream ends before ``expected_size`` bytes,
        and StorageUnavailable if the backend fails; nothing is left behind.
        """
        raise NotImplementedError

    def discard(self, staged):
        """Remove the key of ``staged`` (a duplicate, or a failed upload's); never raises."""
        raise NotImplementedError

    def remove(self, key):
        """Remove ``key`` (a missing one is no error); raises StorageUnavailable if the backend fails."""
        raise NotImplementedError

    def objects(self, prefix):
        """Every object under ``prefix``, as StoredObject, in key order."""
        raise NotImplementedError

    def open(self, key, offset=0, length=None):
        """Return an iterator of the bytes at ``key`` from ``offset``, ``length`` long.

        Opens eagerly, so a missing blob or an outage raises here, before a
        response is started. Close the iterator (or exhaust it) to release it.
        """
        raise NotImplementedError

    def presigned_url(self, key, expires_seconds, filename):
        """A URL that serves the bytes at ``key`` without credentials for ``expires_seconds``, saved as ``filename``."""
        raise NotImplementedError

    def check(self):
        """Raise StorageUnavailable unless the backend answers, StorageFull if it takes no writes."""
        raise NotImplementedError

    def put_once(self, key, data):
        """Store small ``data`` under ``key`` unless the key exists; never overwrite. Return True if written."""
        raise NotImplementedError

    def read_small(self, key):
        """The bytes of a small object written by ``put_once``, or None if there is none."""
        raise NotImplementedError

    def keys(self, prefix):
        """Sorted keys under ``prefix``."""
        raise NotImplementedError

    def upload_keys(self):
        """What uploads in progress hold (or killed ones left): files, or MinIO's multipart uploads."""
        raise NotImplementedError

    def blob_keys(self):
        """Keys of every stored blob, named by the database or not."""
        return [obj.key for obj in self.objects("blobs/")]

    def remove_stale_uploads(self, older_than):
        """Remove what uploads left behind (killed mid-upload) ``older_than`` seconds ago; return how many.

        Younger leftovers may be uploads still running on another instance.
        """
        raise NotImplementedError

    def abort_stale_multipart(self, older_than):
        """Abort multipart uploads started ``older_than`` seconds ago or earlier; return how many."""
        return 0

    def ensure_ready(self):
        """Prepare the backend at start-up (create directories or the bucket)."""
        raise NotImplementedError

    def describe(self):
        """A human-readable location without credentials, for logs."""
        raise NotImplementedError
