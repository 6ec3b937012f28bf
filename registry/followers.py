"""Work that follows the audit log (the system of record) instead of running inside use cases.

Each server worker runs one follower thread. It reads the audit head every
few seconds and, once ``AUDIT_ANCHOR_EVERY`` records have been appended
since the latest anchor, anchors the head (anchors.py). Several workers or
instances may anchor the same record; the write-once key makes that
harmless. A dependency outage only delays the next anchor.
"""
import logging
import threading
import time

from .db import database
from .domain import anchors
from .domain.auth import SYSTEM
from .models import AuditHead

logger = logging.getLogger(__name__)

POLL_SECONDS = 2.0


def start(app) -> threading.Thread:
    """Start the follower thread of this process for ``app``; it stops with the process."""
    thread = threading.Thread(target=_follow, args=(app,), name="audit-follower", daemon=True)
    thread.start()
    return thread


def _follow(app):
    storage = app.extensions["registry_storage"]
    every = app.config["AUDIT_ANCHOR_EVERY"]
    anchored = None  # record id of the latest anchor, once read
    while True:  # a daemon thread: it ends with the worker process
        time.sleep(POLL_SECONDS)
        try:
            if anchored is None:
                latest = anchors.latest(storage)
                anchored = latest.record_id if latest else 0
            with database.connection_context():
                head = AuditHead.get(AuditHead.id == 1)
                if head.last_id - anchored >= every:
                    anchor = anchors.anchor_head(SYSTEM, storage)
                    anchored = anchor.record_id if anchor else anchored
                    logger.info("anchored audit record %d", anchored)
        except Exception as exc:  # retried on the next tick; never kills the worker
            logger.warning("audit follower: %s", exc)
