"""Deliveries kept in the database: fanned out from the audit log, claimed, sent, retried with backoff.

The follower's cursor and the deliveries it creates commit in one
transaction, so an event is queued exactly once per webhook however the
process stops. Sending is at least once: a delivery is claimed (its next
attempt pushed past the send timeout) before it is sent, so another leader
would only resend it if the result was never recorded.
"""
import datetime
import fnmatch
import json
import random

from peewee import JOIN
from peewee import fn

from ..db import write_transaction
from ..models import AuditHead
from ..models import AuditRecord
from ..models import OutboxFollower
from ..models import Webhook
from ..models import WebhookAttempt
from ..models import WebhookDelivery
from ..models import utcnow
from ..statements import Statement
from . import events

FOLLOWER = "webhooks"
BATCH = 500
CLAIM_SECONDS = 60
BACKOFF_BASE = 1.0
BACKOFF_CAP = 3600.0


def _wants(webhook, record):
    if events.EVENT_OF[record.action] not in json.loads(webhook.events):
        return False
    patterns = json.loads(webhook.models)
    return not patterns or any(fnmatch.fnmatchcase(record.model or "", p) for p in patterns)


# Every delivery loop runs these every tick (20 a second), mostly to find nothing: compiled once.
_FOLLOWED_AND_HEAD = Statement(lambda name: OutboxFollower.select(
    OutboxFollower.cursor, AuditHead.select(AuditHead.last_id).where(AuditHead.id == 1))
    .where(OutboxFollower.name == name).tuples())


def _due_query(now, limit):
    earlier = WebhookDelivery.alias()
    blocked = (earlier.select(earlier.id)
               .where((earlier.webhook == WebhookDelivery.webhook) & (earlier.status == "pending")
                      & (earlier.model_name == WebhookDelivery.model_name) & (earlier.id < WebhookDelivery.id)))
    return (WebhookDelivery.select(WebhookDelivery, Webhook)
            .join(Webhook, JOIN.INNER)
            .where((WebhookDelivery.status == "pending") & (WebhookDelivery.next_attempt_at <= now)
                   & ~fn.EXISTS(blocked))
            .order_by(WebhookDelivery.id).limit(limit))


_DUE = Statement(_due_query)
_FOLLOWER = Statement(lambda name: OutboxFollower.select().where(OutboxFollower.name == name))


def follower() -> OutboxFollower:
    """The delivery loops' row: the cursor into the audit log, and who holds the lease until when."""
    return _FOLLOWER.first(FOLLOWER)


def fan_out(public_url: str) -> int:
    """Queue a delivery per (new event, webhook that wants it); advance the cursor. Returns records read."""
    # Most ticks find nothing new: a read, without taking SQLite's write lock.
    cursor, head = _FOLLOWED_AND_HEAD.first(FOLLOWER)
    if head <= cursor:
        return 0
    with write_transaction():
        follower = OutboxFollower.get(OutboxFollower.name == FOLLOWER)
        records = list(AuditRecord.select().where(AuditRecord.id > follower.cursor)
                       .order_by(AuditRecord.id).limit(BATCH))
        if not records:
            return 0
        hooks = list(Webhook.select().where(Webhook.active == True))  # noqa: E712 (peewee expression)
        now = utcnow()
        rows = [{"webhook": hook.id, "record_id": r.id, "event": events.EVENT_OF[r.action], "model_name": r.model,
                 "payload": json.dumps(events.payload(r, public_url)), "status": "pending", "attempts": 0,
                 "next_attempt_at": now, "created_at": now}
                for r in records if r.action in events.EVENT_OF
                for hook in hooks if r.id > hook.after_record and _wants(hook, r)]
        if rows:
            WebhookDelivery.insert_many(rows).execute()
        OutboxFollower.update(cursor=records[-1].id).where(OutboxFollower.name == FOLLOWER).execute()
        return len(records)


def due(limit: int, busy: set) -> list:
    """Pending deliveries whose time has come, each the oldest pending one of its webhook and model
    (so a model's events arrive in order), skipping deliveries in ``busy``."""
    now = WebhookDelivery.next_attempt_at.db_value(utcnow())
    return [d for d in _DUE.rows(now, limit + len(busy)) if d.id not in busy][:limit]


def claim(delivery) -> bool:
    """Take the delivery for one send; False if another sender took it first."""
    with write_transaction():
        taken = (WebhookDelivery.update(next_attempt_at=utcnow() + datetime.timedelta(seconds=CLAIM_SECONDS))
                 .where((WebhookDelivery.id == delivery.id) & (WebhookDelivery.status == "pending")
                        & (WebhookDelivery.next_attempt_at == delivery.next_attempt_at))
                 .execute())
    return taken == 1


def backoff(attempts: int) -> float:
    """Seconds before the next attempt: exponential, capped, with jitter (half fixed, half random)."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempts - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def record(delivery, status_code, latency_ms, error, retry_seconds: int) -> None:
    """Store one attempt and what follows: delivered, a retry after backoff, or failed after ``retry_seconds``."""
    now = utcnow()
    attempts = delivery.attempts + 1
    with write_transaction():
        WebhookAttempt.create(delivery=delivery.id, attempted_at=now, status_code=status_code,
                              latency_ms=latency_ms, error=error)
        if error is None:
            changes = {"status": "delivered", "delivered_at": now, "next_attempt_at": None}
        else:
            following = now + datetime.timedelta(seconds=backoff(attempts))
            expired = following > delivery.created_at + datetime.timedelta(seconds=retry_seconds)
            changes = {"status": "failed", "next_attempt_at": None} if expired else {"next_attempt_at": following}
        (WebhookDelivery.update(attempts=attempts, **changes)
         .where((WebhookDelivery.id == delivery.id) & (WebhookDelivery.status == "pending")).execute())
