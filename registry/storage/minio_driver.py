"""MinIO (or any S3-compatible) driver. The only module that imports minio.

Every call goes through ``_calling`` so that a network failure, a 5xx or an
authentication problem becomes StorageUnavailable (503) instead of a
traceback, and responses are always closed and released.
"""
import contextlib
import datetime
import hashlib
import io
import logging
import os
from urllib.parse import quote
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.credentials import Credentials
from minio.error import MinioException
from minio.error import S3Error
from minio.signer import sign_v4_s3
from minio.time import to_amz_date
from minio.time import utcnow

from ..domain.errors import StorageFull
from ..domain.errors import StorageUnavailable
from . import aws_chunked
from .base import CHUNK_SIZE
from .base import HashingReader
from .base import StagedBlob
from .base import Storage
from .base import StoredObject
from .base import content_disposition
from .keys import BLOB_PREFIX
from .keys import UPLOAD_PREFIX
from .keys import new_blob_key
from .keys import new_probe_key

logger = logging.getLogger(__name__)
# urllib3 warns on each retry it makes; an outage is reported once, by this
# driver, as StorageUnavailable (at start-up: the one-line error).
logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

MiB = 1024 * 1024
# A body of known length up to S3's limit for one PUT goes up as one streamed
# PUT, its SHA-256 as a trailer the server checks (see aws_chunked), once the
# server showed that it refuses a wrong one. Such a PUT holds no part in
# memory and hashes the bytes once, not twice: on 256 MiB through the service
# the worker's CPU went from 0.9 to 0.5 s, its peak RSS growth from 37 to 11 MiB.
SINGLE_PUT_MAX_BYTES = 5 * 1024 * MiB
# minio-py holds a part (and copies of it) in memory, so parts are the unit
# of memory per upload. With no Content-Length, 16 MiB parts still allow
# 160 GB within S3's 10,000 parts; with one, parts grow only as needed from
# S3's minimum.
UNKNOWN_LENGTH_PART_SIZE = 16 * MiB
MIN_PART_SIZE = 5 * MiB
MAX_PARTS = 10_000
# Parts sent side by side: while parts are hashed (for the signature) and
# sent, the next is received and hashed (for its digest); all of these release
# the GIL. Measured on two cores, 256 MiB: one 8 MiB part at a time 147 MB/s,
# three 5 MiB parts in flight 220-260 MB/s. Each costs a part of memory, so
# the number in flight is what fits this budget (at least one).
PARTS_IN_FLIGHT_BYTES = 24 * MiB
MAX_PARTS_IN_FLIGHT = 3


def _parts_in_flight(part_size):
    return max(1, min(MAX_PARTS_IN_FLIGHT, PARTS_IN_FLIGHT_BYTES // part_size))


def _part_size(expected_size):
    if expected_size is None:
        return UNKNOWN_LENGTH_PART_SIZE
    needed = -(-expected_size // (MAX_PARTS - 1))
    return max(MIN_PART_SIZE, -(-needed // MiB) * MiB)
_MISSING = ("NoSuchKey", "NoSuchObject", "NotFound")
# MinIO's answer (507) when a write would take its drives past their fill threshold.
_FULL = ("XMinioStorageFull", "StorageFull")
_NO_SPACE = "no space left on device"
_INCOMPLETE_BODY = "IncompleteBody"
# After a write was refused for lack of space, readiness writes this much to see
# whether MinIO takes writes again (it still stores tiny objects when full).
PROBE_BYTES = MiB


# A server-side operation on N bytes (committing a blob is a copy, storing a
# part is a write) may stay silent while it works: allow it this rate.
SLOWEST_SERVER_BYTES_PER_SECOND = 10 * MiB


def _silent_work(timeout, size):
    """How long to wait for the server's next bytes when it may be working on ``size`` bytes."""
    return timeout + -(-size // SLOWEST_SERVER_BYTES_PER_SECOND)


def _http_client(secure, timeout):
    # ``timeout`` bounds connecting and each wait for the next bytes (so a
    # frozen server fails fast with 503, and a stream stalls at most that
    # long between chunks). A read that timed out is not retried: it would
    # only multiply the wait.
    options = dict(
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        maxsize=32,
        # After the last retry of a 5xx, minio-py reads MinIO's own error code
        # from the answer (e.g. XMinioStorageFull), rather than a MaxRetryError.
        retries=urllib3.Retry(total=2, connect=1, read=0, backoff_factor=0.2,
                              status_forcelist=[500, 502, 503, 504], raise_on_status=False),
    )
    if secure:
        # SSL_CERT_FILE (OpenSSL's own variable) names a private CA's bundle.
        options.update(cert_reqs="CERT_REQUIRED", ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where())
    return urllib3.PoolManager(**options)


class MinioStorage(Storage):
    serves_clients_directly = True

    def __init__(self, endpoint, access_key, secret_key, bucket, secure=False, timeout=3):
        self.endpoint = endpoint
        self.bucket = bucket
        self.secure = secure
        self.timeout = timeout
        self._credentials = Credentials(access_key, secret_key)
        self._clients = {}
        self.client = self._client_for(0)
        # Whether uploads may go as one streamed PUT: None until the server was asked.
        self._streams_puts = None
        # Set when MinIO refuses a write for lack of space, cleared by the next
        # write it takes: until then readiness probes with a test write.
        self.full = False

    def _client_for(self, size):
        """A client whose timeout allows the server ``size`` bytes of silent work (one per timeout)."""
        return self._client_and_pool(size)[0]

    def _client_and_pool(self, size):
        timeout = _silent_work(self.timeout, size)
        if timeout not in self._clients:
            pool = _http_client(self.secure, timeout)
            self._clients[timeout] = (Minio(
                endpoint=self.endpoint,
                access_key=self._credentials.access_key,
                secret_key=self._credentials.secret_key,
                secure=self.secure,
                http_client=pool,
            ), pool)
        return self._clients[timeout]

    def describe(self):
        scheme = "https" if self.secure else "http"
        return f"MinIO bucket {self.bucket!r} at {scheme}://{self.endpoint}"

    @contextlib.contextmanager
    def _calling(self, action, whole_body_sent=False):
        try:
            yield
        except S3Error as exc:
            # A full MinIO answers XMinioStorageFull, or 500 InternalError naming
            # ENOSPC where its own bookkeeping hits the disk, or IncompleteBody when
            # it stopped reading a body it could not store (which, for a body sent
            # whole from memory, can mean nothing else).
            if (exc.code in _FULL or _NO_SPACE in (exc.message or "")
                    or whole_body_sent and exc.code == _INCOMPLETE_BODY):
                self.full = True
                raise StorageFull(f"{self.describe()} is full (it refused to {action}: {exc.code})") from exc
            raise StorageUnavailable(f"{self.describe()} refused to {action}: {exc.code}") from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            # ValueError: minio-py reports some protocol surprises that way.
            raise StorageUnavailable(
                f"{self.describe()} is not answering ({action} failed: {type(exc).__name__})"
            ) from exc

    def ensure_ready(self):
        with self._calling("check the bucket"):
            if not self.client.bucket_exists(bucket_name=self.bucket):
                logger.info("creating bucket %s", self.bucket)
                try:
                    self.client.make_bucket(bucket_name=self.bucket)
                except S3Error as exc:
                    # Another worker created it first.
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

    def streams_puts(self):
        """Whether an upload of known length may go as one streamed PUT (asked of the server once).

        Raises StorageUnavailable if the server did not answer (and it is asked
        again next time): an upload in parts would only wait as long again.
        """
        if self._streams_puts is None:
            self._streams_puts = self._verifies_trailing_checksums()
        return self._streams_puts

    def _verifies_trailing_checksums(self):
        """Whether the server refuses a streamed PUT whose trailing SHA-256 is wrong and stores one whose is right."""
        key, body = new_probe_key(), b"does this server check trailing checksums?"
        try:
            with self._calling("answer whether it checks trailing checksums"):
                wrong = self._probe_put(key, body, bytes(32))
                right = (self._probe_put(key, body, hashlib.sha256(body).digest())
                         if wrong in aws_chunked.MISMATCH_CODES else None)
        except (StorageUnavailable, StorageFull) as exc:
            if not _timed_out(exc):  # a frozen server would hold the remove as long again
                self._remove(key)
            raise
        self._remove(key)
        if right == "stored":
            return True
        logger.warning("%s answered a streamed PUT with a wrong checksum: %s, and with a right one: %s; "
                       "uploads go in parts, hashed twice", self.describe(), wrong, right or "not tried")
        return False

    def _probe_put(self, key, body, sha256):
        """How the server answers a streamed PUT of ``body`` with the trailer ``sha256``: "stored" or its error code."""
        try:
            self._put_streamed(key, [body], len(body), lambda: sha256)
        except S3Error as exc:
            if exc.code in _FULL or _NO_SPACE in (exc.message or ""):
                raise  # a full server, not an answer about checksums
            return exc.code
        return "stored"

    def check(self):
        with self._calling("check the bucket"):
            if not self.client.bucket_exists(bucket_name=self.bucket):
                raise StorageUnavailable(f"{self.describe()}: the bucket does not exist")
        if self.full:
            self._test_write()

    def _test_write(self):
        """Store and remove a small object; raises StorageFull or StorageUnavailable, else clears ``full``."""
        key = new_probe_key()
        with self._calling("store a test write", whole_body_sent=True):
            self.client.put_object(bucket_name=self.bucket, object_name=key,
                                   data=io.BytesIO(bytes(PROBE_BYTES)), length=PROBE_BYTES)
        self._remove(key)
        self.full = False

    def stage(self, stream, max_size=None, expected_size=None, key=None):
        # Written once, where it stays: no copy after the upload.
        key = key or new_blob_key()
        streamed = (expected_size is not None and expected_size <= SINGLE_PUT_MAX_BYTES
                    and self.streams_puts())
        try:
            with HashingReader(stream, max_size, expected_size) as reader, self._calling("store an upload"):
                if streamed:
                    chunks = (reader.read(n) for n in aws_chunked.chunk_lengths(expected_size, CHUNK_SIZE))
                    self._put_streamed(key, chunks, expected_size, reader.finish)
                else:
                    self._put_parts(key, reader, expected_size)
        except StorageUnavailable as exc:
            if _timed_out(exc):
                # A frozen server would hold the cleanup as long again before the
                # 503. An upload it never finished left nothing but, on the part
                # path, a multipart upload: start-up and `registry gc` remove those.
                raise
            self._remove(key)
            if _cut_off(exc) or getattr(exc.__cause__, "code", None) == _INCOMPLETE_BODY:
                # A full MinIO may answer 507 before reading the body and close
                # the connection, or say the body was incomplete: both read as
                # an outage here, and a test write raises StorageFull if that is
                # what happened.
                with contextlib.suppress(StorageUnavailable):
                    self._test_write()
            raise
        except BaseException:
            self._remove(key)
            raise
        self.full = False
        return StagedBlob(key=key, digest=reader.digest, size=reader.size)

    def _put_parts(self, key, reader, expected_size):
        part_size = _part_size(expected_size)
        self._client_for(part_size).put_object(
            bucket_name=self.bucket,
            object_name=key,
            data=reader,
            length=-1 if expected_size is None else expected_size,
            part_size=part_size,
            num_parallel_uploads=_parts_in_flight(part_size),
        )

    def _put_streamed(self, key, chunks, size, sha256):
        """One PUT of ``size`` bytes (``chunks``), ``sha256()`` as its trailer; raises S3Error if refused.

        An error of ``chunks`` (the client's body) is raised as it is, not as
        a failure of the connection to the server.
        """
        client, pool = self._client_and_pool(0)
        url = urlsplit(f"{'https' if self.secure else 'http'}://{self.endpoint}/{self.bucket}/{quote(key)}")
        date = utcnow()
        headers = {"Host": url.netloc, "x-amz-date": to_amz_date(date), **aws_chunked.headers(size, CHUNK_SIZE)}
        headers = sign_v4_s3(method="PUT", url=url, region=client._get_region(self.bucket), headers=headers,
                             credentials=self._credentials, content_sha256=aws_chunked.CONTENT_SHA256, date=date)

        def body():
            try:
                yield from aws_chunked.frames(chunks, sha256)
            except Exception as exc:
                # urllib3 would take an OSError here for the server's connection
                # breaking, and even swallow a broken pipe, then wait for an answer.
                raise _BodyFailed from exc

        failure = None
        try:
            # Never retried: the body cannot be sent twice. Each send waits at
            # most the base timeout (a frozen server is a 503 in seconds); the
            # answer after the last byte may take the server's work on all of them.
            response = pool.urlopen("PUT", url.geturl(), body=body(), headers=headers, retries=False,
                                    timeout=urllib3.Timeout(connect=self.timeout, read=_silent_work(self.timeout, size)))
        except _BodyFailed as exc:
            failure = exc.__cause__
        if failure is not None:
            # Raised out here, it keeps its own context (werkzeug's ClientDisconnected
            # carries the deadline that failed, which decides between 408 and 400).
            raise failure
        if response.status != 200:
            if "xml" in (response.headers.get("content-type") or "") and response.data:
                raise S3Error.fromxml(response)
            raise StorageUnavailable(f"{self.describe()} answered a PUT with HTTP {response.status}")

    def discard(self, staged):
        self._remove(staged.key)

    def _remove(self, key):
        try:
            self.client.remove_object(bucket_name=self.bucket, object_name=key)
        except Exception as exc:  # cleanup must never mask the real outcome
            logger.warning("could not remove %s: %s", key, exc)

    def remove(self, key):
        with self._calling("remove an object"):
            self.client.remove_object(bucket_name=self.bucket, object_name=key)

    def objects(self, prefix):
        with self._calling("list objects"):
            listed = self.client.list_objects(bucket_name=self.bucket, prefix=prefix, recursive=True)
            return sorted((StoredObject(key=obj.object_name, size=obj.size or 0,
                                        modified=obj.last_modified.timestamp() if obj.last_modified else 0.0)
                           for obj in listed), key=lambda obj: obj.key)

    def open(self, key, offset=0, length=None):
        if length == 0:
            return iter(())
        with self._calling("read a blob"):
            response = self.client.get_object(
                bucket_name=self.bucket,
                object_name=key,
                offset=offset,
                length=length or 0,
            )
        return _stream(response)

    def presigned_url(self, key, expires_seconds, filename):
        # Signing is local once the bucket's region is known (one request, then cached).
        with self._calling("sign a download URL"):
            return self.client.presigned_get_object(
                bucket_name=self.bucket,
                object_name=key,
                expires=datetime.timedelta(seconds=expires_seconds),
                response_headers={"response-content-disposition": content_disposition(filename)},
            )

    def remove_stale_uploads(self, older_than):
        cutoff = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=older_than)
        removed = 0
        with self._calling("list leftover uploads"):
            for prefix in ("uploads/", "probes/"):
                for obj in self.client.list_objects(bucket_name=self.bucket, prefix=prefix, recursive=True):
                    if obj.last_modified is not None and obj.last_modified < cutoff:
                        self._remove(obj.object_name)
                        removed += 1
        return removed + self.abort_stale_multipart(older_than)

    def abort_stale_multipart(self, older_than):
        # Multipart uploads of killed requests hold their parts until aborted.
        # minio-py has no public call for these two S3 operations, and MinIO
        # lists uploads by exact key or all of them, not by a shorter prefix.
        cutoff = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=older_than)
        aborted = 0
        marker = None
        with self._calling("abort leftover multipart uploads"):
            while True:
                listed = self.client._list_multipart_uploads(bucket_name=self.bucket, key_marker=marker)
                for upload in listed.uploads:
                    if not upload.object_name.startswith((UPLOAD_PREFIX, BLOB_PREFIX)):
                        continue
                    if upload.initiated_time is not None and upload.initiated_time < cutoff:
                        self.client._abort_multipart_upload(bucket_name=self.bucket, object_name=upload.object_name,
                                                            upload_id=upload.upload_id)
                        aborted += 1
                if not listed.is_truncated or not listed.next_key_marker:
                    return aborted
                marker = listed.next_key_marker

    def put_once(self, key, data):
        try:
            with self._calling("store a write-once object"):
                # Conditional write: MinIO refuses it (412) if the key exists.
                # put_object would send the header as user metadata, so this
                # uses minio-py's plain PutObject call.
                self.client._put_object(bucket_name=self.bucket, object_name=key, data=data,
                                        headers={"If-None-Match": "*", "Content-Type": "application/json"})
        except StorageUnavailable as exc:
            if isinstance(exc.__cause__, S3Error) and exc.__cause__.code == "PreconditionFailed":
                return False
            raise
        return True

    def read_small(self, key):
        try:
            with self._calling("read an object"):
                response = self.client.get_object(bucket_name=self.bucket, object_name=key)
                try:
                    return response.read()
                finally:
                    response.close()
                    response.release_conn()
        except StorageUnavailable as exc:
            if isinstance(exc.__cause__, S3Error) and exc.__cause__.code in _MISSING:
                return None
            raise

    def keys(self, prefix):
        return self._keys(prefix)

    def _keys(self, prefix):
        with self._calling("list objects"):
            objects = self.client.list_objects(bucket_name=self.bucket, prefix=prefix, recursive=True)
            return sorted(obj.object_name for obj in objects)

    def upload_keys(self):
        return self._keys(UPLOAD_PREFIX)


class _BodyFailed(Exception):
    """Reading the client's body failed while it was being sent; the cause is the real error."""


def _timed_out(exc):
    """True if the server stopped answering (a timeout anywhere in what caused ``exc``)."""
    pending, seen = [exc.__cause__], set()
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, (TimeoutError, urllib3.exceptions.TimeoutError)):
            return True
        # urllib3 wraps: MaxRetryError(reason=...), ProtocolError("...", error).
        pending += [getattr(error, "reason", None), error.__cause__, error.__context__,
                    *(arg for arg in error.args if isinstance(arg, BaseException))]
    return False


def _cut_off(exc):
    """True if the connection broke mid-request (as opposed to a timeout or a refusal)."""
    cause = exc.__cause__
    reason = getattr(cause, "reason", cause)
    return isinstance(reason, (urllib3.exceptions.ProtocolError, ConnectionError))


def _stream(response):
    try:
        yield from response.stream(CHUNK_SIZE)
    finally:
        response.close()
        response.release_conn()
