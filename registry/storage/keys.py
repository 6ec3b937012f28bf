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
    audit-anchors/
      <20-digit record id>.json    the audit chain's hash at that record; written
                                   once, never overwritten (see anchors.py)

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


ANCHOR_PREFIX = "audit-anchors/"
_ANCHOR_RE = re.compile(r"^audit-anchors/(\d{20})\.json$")


def anchor_key(record_id):
    """Key of the anchor of audit record ``record_id``; keys sort by id."""
    return f"{ANCHOR_PREFIX}{record_id:020d}.json"


def anchor_record_id(key):
    """The record id an anchor key names, or None for any other key."""
    match = _ANCHOR_RE.match(key)
    return int(match.group(1)) if match else None
