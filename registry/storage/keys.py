"""The one place that builds storage keys.

Every driver stores objects under these keys, relative to its root
(a directory for the local driver, a bucket for MinIO):

    blobs/
      <first 2 hex digits>/
        <32 hex digits>            the bytes of one upload, stored where they were
                                   written (nothing is copied afterwards); the
                                   database's blob table maps each sha256 to one
                                   such key, and no other key is ever read
      sha256/<2 hex>/<64 hex>      blobs stored before that table (migration 5),
                                   named by their digest; read the same way
    uploads/
      <32 hex digits>              local disk: an upload in progress, renamed
                                   into blobs/ once complete
    probes/
      <32 hex digits>              a readiness probe's test write, removed at once
    audit-anchors/
      <20-digit record id>.json    the audit chain's hash at that record; written
                                   once, never overwritten (see anchors.py)

A key is named by the database only once its upload was complete and
hashed, so a key it names always holds exactly the bytes its digest promises.
Objects no row names (uploads cut off, duplicates, bytes of deleted models)
are what ``registry gc`` removes.
"""
import re
import uuid

_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


def legacy_blob_key(digest):
    """Key of a blob stored before migration 5, under its sha256 hex digest."""
    if not _DIGEST_RE.match(digest):
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    return f"blobs/sha256/{digest[:2]}/{digest}"


def new_blob_key():
    """A fresh key for the bytes of one upload."""
    name = uuid.uuid4().hex
    return f"blobs/{name[:2]}/{name}"


BLOB_PREFIX = "blobs/"
UPLOAD_PREFIX = "uploads/"
PROBE_PREFIX = "probes/"


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
