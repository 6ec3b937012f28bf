"""Anchors: the audit chain's hash at a record, kept outside the database.

The hash chain shows an edited, inserted or deleted record, but someone who
can rewrite the audit table can also delete its newest records and rewind
the head row, or recompute every hash. An anchor, written once to blob
storage (under ``keys.anchor_key``; never overwritten), holds the hash of
record N; verification then requires the chain to reach record N with that
very hash. What it cannot stop: someone who can also delete objects in blob
storage (see the README's audit section).
"""
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..models import AuditHead
from ..storage.keys import ANCHOR_PREFIX
from ..storage.keys import anchor_key
from ..storage.keys import anchor_record_id
from .errors import RegistryError

if TYPE_CHECKING:  # auth imports audit, which imports this module
    from .auth import Principal

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Anchor:
    record_id: int
    hash: str


def anchor_head(principal: "Principal", storage) -> Anchor | None:
    """Anchor the newest committed audit record; None while the log is empty.

    Anchoring a record twice is harmless: the same record always has the
    same hash, so the second write finds the same bytes there.
    """
    if principal.role != "admin" or principal.models:
        raise RegistryError("forbidden", "Anchoring the audit log needs an admin token that is not limited to models.")
    head = AuditHead.get(AuditHead.id == 1)
    if head.last_id == 0:
        return None
    anchor = Anchor(record_id=head.last_id, hash=head.last_hash)
    if not storage.put_once(anchor_key(anchor.record_id), _encode(anchor)):
        existing = _decode(storage.read_small(anchor_key(anchor.record_id)))
        if existing != anchor:
            # The chain was rewritten after this record was anchored: leave
            # the anchor as evidence; verify reports the mismatch.
            logger.warning("audit record %d is anchored with another hash", anchor.record_id)
    return anchor


def latest(storage) -> Anchor | None:
    """The anchor with the highest record id, or None if there is none."""
    ids = [record_id for record_id in map(anchor_record_id, storage.keys(ANCHOR_PREFIX)) if record_id is not None]
    if not ids:
        return None
    try:
        return _decode(storage.read_small(anchor_key(max(ids))))
    except (ValueError, KeyError, TypeError):
        # An anchor that does not parse matches no chain: verify reports it.
        return Anchor(record_id=max(ids), hash="unreadable")


def _encode(anchor):
    return json.dumps({"record": anchor.record_id, "hash": anchor.hash}, sort_keys=True).encode()


def _decode(data):
    if data is None:
        return None
    fields = json.loads(data)
    return Anchor(record_id=int(fields["record"]), hash=str(fields["hash"]))
