"""Garbage collection: remove stored bytes that nothing names, and never bytes that something might.

Removed, once older than the grace period:
  * blobs no run file or version file names (bytes of deleted versions
    that no run holds either);
  * objects under blobs/ that no blob row names: uploads that were cut off,
    refused (409) or duplicates whose process died before removing them;
  * local staging files and MinIO multipart uploads of killed requests.

Never removed: a blob some file names, and the key of an upload that
started within the grace period (``blob_upload`` records it before the
first byte). Uploads and gc agree through the database: an upload maps its
digest and links its file in one transaction, and a deduplicated upload
claims the existing blob again in that transaction, so gc's own
transaction, which re-checks the claim under the row lock, cannot remove a
blob a file is about to name.
"""
import datetime
import logging
from dataclasses import dataclass

from peewee import SQL
from peewee import fn

from ..db import is_postgres
from ..db import write_transaction
from ..models import Blob
from ..models import BlobUpload
from ..models import RunFile
from ..models import VersionFile
from ..models import utcnow
from ..storage.keys import BLOB_PREFIX
from ..storage.keys import PROBE_PREFIX
from ..storage.keys import UPLOAD_PREFIX
from .auth import Principal
from .errors import RegistryError

logger = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 24 * 3600
# Blob rows removed per transaction: short write locks, even on SQLite.
_BATCH = 200


@dataclass(frozen=True)
class GcReport:
    """What a collection removed (or, with dry_run, would remove)."""

    dry_run: bool
    grace_seconds: int
    blobs: int
    blob_bytes: int
    leftovers: int
    leftover_bytes: int
    multipart_uploads: int

    @property
    def bytes_freed(self) -> int:
        return self.blob_bytes + self.leftover_bytes


def collect_garbage(principal: Principal, storage, grace_seconds: int, dry_run: bool = False) -> GcReport:
    """Remove what nothing names and nothing claimed within ``grace_seconds``; report counts and bytes.

    Needs an admin token not limited to some models (it sees every model's
    bytes). Raises forbidden, validation_error (a negative grace) and
    storage_unavailable / database_unavailable.
    """
    principal.require("admin")
    if principal.models:
        raise RegistryError("forbidden", f"Token {principal.name!r} is limited to models "
                                         f"{', '.join(principal.models)}; gc needs an admin token for every model.")
    if grace_seconds < 0:
        raise RegistryError("validation_error", "The grace period cannot be negative.")
    cutoff = utcnow() - datetime.timedelta(seconds=grace_seconds)
    blobs, blob_bytes = (_count_unreferenced(cutoff) if dry_run else _remove_unreferenced(storage, cutoff))
    leftovers = _leftovers(storage, cutoff)
    multipart = 0
    if not dry_run:
        for obj in leftovers:
            storage.remove(obj.key)
        multipart = storage.abort_stale_multipart(grace_seconds)
        BlobUpload.delete().where(BlobUpload.started_at < cutoff).execute()
    report = GcReport(dry_run=dry_run, grace_seconds=grace_seconds, blobs=blobs, blob_bytes=blob_bytes,
                      leftovers=len(leftovers), leftover_bytes=sum(obj.size for obj in leftovers),
                      multipart_uploads=multipart)
    logger.info("gc by %s%s: %d blob(s), %d leftover(s), %d byte(s) freed", principal.name,
                " (dry run)" if dry_run else "", report.blobs, report.leftovers, report.bytes_freed)
    return report


def _unreferenced(cutoff):
    named_by_run = RunFile.select(SQL("1")).where(RunFile.sha256 == Blob.digest)
    named_by_version = VersionFile.select(SQL("1")).where(VersionFile.sha256 == Blob.digest)
    return Blob.select().where((Blob.claimed_at < cutoff) & ~fn.EXISTS(named_by_run)
                               & ~fn.EXISTS(named_by_version))


def _count_unreferenced(cutoff):
    rows = list(_unreferenced(cutoff).select(Blob.size).tuples())
    return len(rows), sum(size for size, in rows)


def _remove_unreferenced(storage, cutoff):
    count = size = 0
    while True:
        with write_transaction():
            batch = _unreferenced(cutoff).order_by(Blob.digest).limit(_BATCH)
            rows = list(batch.for_update() if is_postgres() else batch)
            # Holding the locks, look again with a fresh snapshot (PostgreSQL re-checks a locked row,
            # but not the subqueries): an upload that claimed one of these blobs has committed its file.
            named = _named({row.digest for row in rows})
            doomed = [row for row in rows if row.digest not in named]
            Blob.delete().where(Blob.digest.in_([row.digest for row in doomed])).execute()
        # Once the rows are gone nothing can name these keys again (a new upload maps its own key).
        for row in doomed:
            storage.remove(row.key)
        count += len(doomed)
        size += sum(row.size for row in doomed)
        if len(rows) < _BATCH or not doomed:
            return count, size


def _named(digests):
    by_run = RunFile.select(RunFile.sha256).where(RunFile.sha256.in_(list(digests)))
    by_version = VersionFile.select(VersionFile.sha256).where(VersionFile.sha256.in_(list(digests)))
    return {digest for digest, in by_run.union(by_version).tuples()}


def _leftovers(storage, cutoff):
    """Stored objects that no blob row names and no recent upload is writing."""
    listed = [obj for prefix in (BLOB_PREFIX, UPLOAD_PREFIX, PROBE_PREFIX) for obj in storage.objects(prefix)]
    # After listing, and in this order: an upload's key leaves blob_upload and enters blob in one
    # transaction, so every listed key of a live upload is in at least one of the two reads.
    running = {key for key, in BlobUpload.select(BlobUpload.key).where(BlobUpload.started_at >= cutoff).tuples()}
    named = {key for key, in Blob.select(Blob.key).tuples()}
    oldest = cutoff.replace(tzinfo=datetime.timezone.utc).timestamp()
    return [obj for obj in listed
            if obj.key not in named and obj.key not in running
            and (obj.key.startswith(BLOB_PREFIX) or obj.modified < oldest)]
