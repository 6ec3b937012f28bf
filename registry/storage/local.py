"""Local-disk driver: the embedded default, keys are files under a root directory."""
import contextlib
import ctypes
import errno
import logging
import os
import time

from ..domain.errors import StorageFull
from ..domain.errors import StorageUnavailable
from .base import CHUNK_SIZE
from .base import ChunkWorker
from .base import HashingReader
from .base import StagedBlob
from .base import Storage
from .base import StoredObject
from .keys import new_blob_key
from .keys import new_upload_key

logger = logging.getLogger(__name__)

# Readiness reports the directory full below this much free space.
MIN_FREE_BYTES = 1024 * 1024


# Linux's sync_file_range(2) flags.
_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4


def _sync_file_range():
    """libc's sync_file_range, or None where there is none (then every window is fdatasync'ed)."""
    try:
        function = ctypes.CDLL("libc.so.6", use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return function


class _SyncedWrites:
    """Writes a file that is on the disk when ``finish`` returns, keeping the disk busy during the
    upload rather than in one long fsync at the end.

    Each SYNC_BYTES window is handed to the disk as soon as it is written (sync_file_range WRITE,
    which does not wait), and the window before it is waited for, so at most two windows are
    unwritten and the final fsync has little left. fdatasync per window blocked receiving while the
    disk caught up; this overlaps the two.
    """

    SYNC_BYTES = 32 * CHUNK_SIZE
    _range = staticmethod(_sync_file_range())

    def __init__(self, file):
        # Written with writev on the descriptor: the file object's buffer is never used.
        self._fd, self._written, self._window = file.fileno(), 0, 0

    def write(self, chunks):
        """Append ``chunks``, as a rule in one system call: each call gives up the GIL and must take
        it back from the receiving thread, which took up to 5 ms a time with a call per chunk."""
        total = sum(len(chunk) for chunk in chunks)
        done = os.writev(self._fd, chunks)
        if done < total:  # a short write (rare on a file): the rest, in as many calls as it takes
            rest = memoryview(b"".join(chunks))[done:]
            while rest:
                rest = rest[os.write(self._fd, rest):]
        self._written += total
        if self._written - self._window >= self.SYNC_BYTES:
            self._sync_window(self._window, self._written)
            self._window = self._written

    def _sync_window(self, start, end):
        if self._range is not None:
            earlier = max(0, start - self.SYNC_BYTES)
            # A length of 0 would mean "to the end of the file": the first window has none before it.
            if (self._range(self._fd, start, end - start, _WRITE) == 0
                    and (start == earlier or self._range(self._fd, earlier, start - earlier,
                                                         _WAIT_BEFORE | _WRITE | _WAIT_AFTER) == 0)):
                return
        os.fdatasync(self._fd)

    def finish(self):
        os.fsync(self._fd)


class LocalStorage(Storage):
    def __init__(self, root):
        self.root = os.path.abspath(root)

    def _path(self, key):
        return os.path.join(self.root, *key.split("/"))

    def ensure_ready(self):
        try:
            os.makedirs(self._path("uploads"), exist_ok=True)
            os.makedirs(self._path("blobs"), exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"cannot create blob directory {self.root}: {exc.strerror}") from exc

    def describe(self):
        return f"local directory {self.root}"

    def check(self):
        if not os.access(self._path("blobs"), os.W_OK):
            raise StorageUnavailable(f"blob directory {self.root} is missing or not writable")
        stats = os.statvfs(self.root)
        if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
            raise StorageFull(f"blob directory {self.root} has less than 1 MiB free")

    def stage(self, stream, max_size=None, expected_size=None, key=None):
        upload = self._path(new_upload_key())
        key = key or new_blob_key()
        try:
            with (HashingReader(stream, max_size, expected_size) as reader, self._writing(),
                  open(upload, "wb") as out):
                writes = _SyncedWrites(out)
                with ChunkWorker(writes.write, writes.finish, name="blob-writer") as writer:
                    while chunk := reader.read(CHUNK_SIZE):
                        writer.put(chunk)
            with self._writing():
                os.makedirs(os.path.dirname(self._path(key)), exist_ok=True)
                # A rename, not a copy; blobs/ only ever holds complete files.
                os.replace(upload, self._path(key))
        except BaseException:
            _remove(upload)
            raise
        return StagedBlob(key=key, digest=reader.digest, size=reader.size)

    @contextlib.contextmanager
    def _writing(self):
        try:
            yield
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(f"blob directory {self.root} is full") from exc
            raise StorageUnavailable(f"cannot write to blob directory {self.root}: {exc.strerror}") from exc

    def discard(self, staged):
        _remove(self._path(staged.key))

    def remove(self, key):
        try:
            os.remove(self._path(key))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageUnavailable(f"cannot remove {key} from {self.root}: {exc.strerror}") from exc

    def objects(self, prefix):
        found = []
        for folder, _, files in os.walk(self._path(prefix.rstrip("/"))):
            rel = os.path.relpath(folder, self.root).replace(os.sep, "/")
            for name in files:
                try:
                    stat = os.stat(os.path.join(folder, name))
                except FileNotFoundError:  # removed meanwhile
                    continue
                found.append(StoredObject(key=f"{rel}/{name}", size=stat.st_size, modified=stat.st_mtime))
        return sorted(found, key=lambda obj: obj.key)

    def open(self, key, offset=0, length=None):
        try:
            handle = open(self._path(key), "rb")
        except FileNotFoundError as exc:
            raise StorageUnavailable(f"blob {key} is missing from {self.root}") from exc
        handle.seek(offset)
        return _read_file(handle, length)

    def remove_stale_uploads(self, older_than):
        # A staging file's mtime moves while its upload writes to it.
        cutoff = time.time() - older_than
        removed = 0
        for key in self.upload_keys():
            path = self._path(key)
            try:
                stale = os.stat(path).st_mtime < cutoff
            except FileNotFoundError:  # committed or discarded meanwhile
                continue
            if stale:
                _remove(path)
                removed += 1
        return removed

    def put_once(self, key, data):
        path = self._path(key)
        with self._writing():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            except FileExistsError:
                return False
            with os.fdopen(descriptor, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        return True

    def read_small(self, key):
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageUnavailable(f"cannot read {key} from {self.root}: {exc.strerror}") from exc

    def keys(self, prefix):
        folder = self._path(prefix.rstrip("/"))
        try:
            return sorted(prefix + name for name in os.listdir(folder))
        except FileNotFoundError:
            return []

    def upload_keys(self):
        return self.keys("uploads/")


def _read_file(handle, length):
    remaining = length
    try:
        while remaining is None or remaining > 0:
            size = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
            chunk = handle.read(size)
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("could not remove %s: %s", path, exc)
