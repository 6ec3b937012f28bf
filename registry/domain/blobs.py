"""Where each sha256's bytes are stored: the digest-to-key map every read and upload goes through.

Not use cases: the callers (uploads, downloads, gc) check the principal.
"""
import logging

from ..db import write_transaction
from ..models import Blob
from ..models import BlobUpload
from ..models import utcnow
from ..storage.keys import new_blob_key
from .errors import StorageUnavailable

logger = logging.getLogger(__name__)


def start_upload() -> str:
    """A fresh key for an upload about to start, recorded so that gc spares it while it runs."""
    key = new_blob_key()
    with write_transaction():
        BlobUpload.create(key=key)
    return key


def end_upload(key: str) -> None:
    """Forget an upload that failed or was a duplicate (its object already removed); never raises."""
    try:
        with write_transaction():
            BlobUpload.delete().where(BlobUpload.key == key).execute()
    except Exception as exc:  # gc removes what is left; the caller's outcome must not change
        logger.warning("could not forget upload %s: %s", key, exc)


def claim(staged) -> bool:
    """Map ``staged.digest`` to ``staged.key`` unless a blob already holds those bytes; True if it was mapped.

    Call it in the transaction that links the file, so that the mapping and
    the link commit together. A blob that already holds the bytes is claimed
    again (its ``claimed_at`` moves), which keeps gc from removing it under
    the new link; on PostgreSQL a concurrent gc and this wait on one row.
    """
    now = utcnow()
    BlobUpload.delete().where(BlobUpload.key == staged.key).execute()
    kept = (Blob.insert(digest=staged.digest, key=staged.key, size=staged.size, claimed_at=now)
            .on_conflict(conflict_target=[Blob.digest], update={Blob.claimed_at: now})
            .returning(Blob.key)
            .execute())
    return [row.key for row in kept] == [staged.key]


def open_file(storage, digest: str, offset: int = 0, length: int | None = None):
    """The bytes with this digest, from ``offset``, ``length`` long (see Storage.open)."""
    return storage.open(key_of(digest), offset=offset, length=length)


def key_of(digest: str) -> str:
    """The storage key of the bytes with this digest."""
    return keys_of([digest])[digest]


def keys_of(digests) -> dict[str, str]:
    """Storage keys by digest; StorageUnavailable (503) names any digest no blob holds."""
    wanted = set(digests)
    found = {row.digest: row.key for row in Blob.select(Blob.digest, Blob.key).where(Blob.digest.in_(list(wanted)))}
    missing = wanted - set(found)
    if missing:
        raise StorageUnavailable(f"the database names no stored bytes for sha256 {sorted(missing)[0]}")
    return found
