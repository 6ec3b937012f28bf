"""Idempotency keys: a retried POST returns the first answer instead of acting twice.

Keys are scoped to the token that sent them and remembered for 24 hours.
The key is claimed inside the same database transaction as the request's
work, and its answer is written there too, so the two commit together or
not at all:

- a twin of a request still running waits on the claim (a row lock on
  PostgreSQL, the write lock on SQLite) and then replays the answer;
- a request that dies (worker killed, database gone, rollback) takes its
  claim with it, so the retry runs again at once instead of being locked out;
- a crash after the work committed cannot lose the answer, so a retry never
  does the work twice.
"""
import datetime
import hashlib
import re
import time

from peewee import IntegrityError
from peewee import OperationalError

from .db import SQLITE_BUSY_TIMEOUT_MS
from .db import database
from .db import is_postgres
from .db import sqlite_writer_turn
from .domain.errors import RegistryError
from .models import IdempotencyRecord
from .models import utcnow

WINDOW = datetime.timedelta(hours=24)
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_KEY_RE = re.compile(KEY_PATTERN)
RUN = "run"
REPLAY = "replay"
_LOCK_NOT_AVAILABLE = "55P03"


def check_key(key: str) -> None:
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


def in_progress() -> RegistryError:
    return RegistryError(
        "idempotency_key_in_progress",
        "A request with this Idempotency-Key is still running; retry shortly.",
    )


def claim(token_id: int, key: str, request_hash: str, wait_seconds: float):
    """Claim ``key`` for this request: return (RUN, record) or (REPLAY, record).

    Call inside the write transaction that the request's work will run in
    (see ``begin_transaction``). Raises idempotency_key_reused (same key,
    different request) and idempotency_key_in_progress (a twin still holds
    the key after ``wait_seconds``).
    """
    # Expired keys of this token go first, so the table does not grow forever.
    (IdempotencyRecord.delete()
     .where((IdempotencyRecord.token == token_id) & (IdempotencyRecord.created_at < utcnow() - WINDOW))
     .execute())
    try:
        with database.atomic():
            if is_postgres():  # waiting for a twin's uncommitted claim is bounded
                database.execute_sql(f"SET LOCAL lock_timeout = '{int(wait_seconds * 1000)}ms'")
            return RUN, IdempotencyRecord.create(token=token_id, key=key, request_hash=request_hash)
    except IntegrityError:
        pass  # a twin committed first: replay its answer
    except OperationalError as exc:
        if _pgcode(exc) == _LOCK_NOT_AVAILABLE:
            raise in_progress() from exc
        raise
    record = IdempotencyRecord.get((IdempotencyRecord.token == token_id) & (IdempotencyRecord.key == key))
    if record.status is None:
        # Left by a release that committed claims before the work: its owner is gone.
        record.delete_instance()
        return RUN, IdempotencyRecord.create(token=token_id, key=key, request_hash=request_hash)
    if record.request_hash != request_hash:
        raise RegistryError(
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different request in the last 24 hours; "
            "use a new key for a new request.",
        )
    return REPLAY, record


def _pgcode(exc):
    # peewee re-raises the driver's error as its own; the original is its context.
    return getattr(exc.__cause__ or exc.__context__, "pgcode", None)


def begin_transaction(wait_seconds: float):
    """Open (and return) the transaction a keyed request runs in; close it with ``end_transaction``.

    On SQLite it takes the write lock at once, waiting at most ``wait_seconds``
    for a twin (or any writer) to finish; then idempotency_key_in_progress.
    """
    if is_postgres():
        transaction = database.atomic()
        transaction.__enter__()
        return transaction
    started = time.monotonic()
    turn = sqlite_writer_turn(wait_seconds)
    if not turn.__enter__():
        turn.__exit__(None, None, None)
        raise in_progress()
    left = max(wait_seconds - (time.monotonic() - started), 0.001)
    database.execute_sql(f"PRAGMA busy_timeout = {int(left * 1000)}")
    transaction = database.atomic(lock_type="IMMEDIATE")
    try:
        transaction.__enter__()
    except OperationalError as exc:
        turn.__exit__(None, None, None)
        raise in_progress() from exc
    finally:
        database.execute_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    transaction.writer_turn = turn  # type: ignore[attr-defined]  # released by end_transaction
    return transaction


def end_transaction(transaction, commit: bool) -> None:
    """Commit (answer and work together) or roll back (the claim goes too)."""
    try:
        if commit:
            transaction.__exit__(None, None, None)
        else:
            transaction.__exit__(RuntimeError, RuntimeError("rolled back"), None)
    finally:
        turn = getattr(transaction, "writer_turn", None)
        if turn is not None:
            turn.__exit__(None, None, None)


def finish(record, status: int, body: str, location: str | None = None) -> None:
    """Remember the answer, in the request's transaction, so that repeats replay it."""
    record.status, record.body, record.location = status, body, location
    record.save(only=[IdempotencyRecord.status, IdempotencyRecord.body, IdempotencyRecord.location])
