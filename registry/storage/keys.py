"""The one place that builds storage keys.

Every driver stores objects under these keys, relative to its root
(a directory for the local driver, a bucket for MinIO):

    blobs/
      sha256/
        <first 2 hex digits>/
          <64 hex digits>          committed content; immutable, stored once
    uploads/
      <32 hex digits>              an upload in progress; never referenced by
                                   the database, removed once committed or failed
    probes/
      <32 hex digits>              a readiness probe's test write, removed at once

An object under blobs/ is only ever written by moving a fully hashed upload
there, so a key always names exactly the bytes its digest promises.
"""
import re
import uuid

_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


def blob_key(digest):
    """Key of the committed blob with this sha256 hex digest."""
    if not _DIGEST_RE.match(digest):
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    return f"blobs/sha256/{digest[:2]}/{digest}"


def new_upload_key():
    """A fresh staging key for one upload."""
    return f"uploads/{uuid.uuid4().hex}"


def new_probe_key():
    """A fresh key for one test write (MinIO's readiness probe after a full disk)."""
    return f"probes/{uuid.uuid4().hex}"
