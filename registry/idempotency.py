"""Idempotency keys: a retried POST returns the first answer instead of acting twice.

Keys are scoped to the token that sent them and remembered for 24 hours. The
first request inserts a pending row (the unique key makes concurrent twins
collide there); its twins wait for the answer and replay it.
"""
import datetime
import hashlib
import re
import time

from peewee import IntegrityError

from .db import database
from .errors import RegistryError
from .models import IdempotencyRecord, utcnow

WINDOW = datetime.timedelta(hours=24)
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_KEY_RE = re.compile(KEY_PATTERN)
RUN = "run"
REPLAY = "replay"


def check_key(key):
    """Raise validation_error unless ``key`` is 1-255 visible ASCII characters."""
    if not _KEY_RE.match(key):
        raise RegistryError(
            "validation_error",
            "Idempotency-Key must be 1-255 visible ASCII characters (a UUID is a good choice).",
            {"Idempotency-Key": ["Invalid idempotency key."]},
        )


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """The sha256 that tells a retry (same request) from a reuse of its key (another request)."""
    digest = hashlib.sha256()
    for part in (method, path, query):
        digest.update(part.encode("utf-8") + b"\n")
    digest.update(body)
    return digest.hexdigest()


def begin(token_id, key, request_hash, wait_seconds=30.0):
    """Claim ``key`` for this request: return (RUN, record) or (REPLAY, record).

    Raises idempotency_key_reused (same key, different request) and
    idempotency_key_in_progress (the first request is still running after
    ``wait_seconds``).
    """
    # Expired keys of this token go first, so the table does not grow forever.
    (IdempotencyRecord.delete()
     .where((IdempotencyRecord.token == token_id) & (IdempotencyRecord.created_at < utcnow() - WINDOW))
     .execute())
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with database.atomic():
                return RUN, IdempotencyRecord.create(token=token_id, key=key, request_hash=request_hash)
        except IntegrityError:
            pass
        record = IdempotencyRecord.get_or_none(
            (IdempotencyRecord.token == token_id) & (IdempotencyRecord.key == key))
        if record is None:
            continue  # the first request failed and let go of the key
        if record.created_at < utcnow() - WINDOW:
            IdempotencyRecord.delete().where(IdempotencyRecord.id == record.id).execute()
            continue
        if record.request_hash != request_hash:
            raise RegistryError(
                "idempotency_key_reused",
                "This Idempotency-Key was used for a different request in the last 24 hours; "
                "use a new key for a new request.",
            )
        if record.status is not None:
            return REPLAY, record
        if time.monotonic() > deadline:
            raise RegistryError(
                "idempotency_key_in_progress",
                "A request with this Idempotency-Key is still running; retry shortly.",
                headers={"Retry-After": "5"},
            )
        time.sleep(0.05)


def finish(record, status, body, location=None):
    """Remember the answer so that repeats replay it."""
    (IdempotencyRecord.update(status=status, body=body, location=location)
     .where(IdempotencyRecord.id == record.id).execute())


def abandon(record):
    """Forget the key (the request failed with a server error): a retry runs again."""
    IdempotencyRecord.delete().where(IdempotencyRecord.id == record.id).execute()
