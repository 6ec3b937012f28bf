"""The database: a proxy bound at app start, built from a URL, closed after each request."""
import contextlib
import hashlib
import logging
import threading
import time
from urllib.parse import unquote
from urllib.parse import urlsplit

from peewee import DatabaseProxy
from peewee import PostgresqlDatabase
from playhouse.pool import PooledPostgresqlDatabase
from playhouse.pool import PooledSqliteDatabase

from .config import ConfigError

logger = logging.getLogger(__name__)

database = DatabaseProxy()

_FORMAT = "sqlite:///path/to.db or postgresql://user:pass@host:5432/dbname"
SQLITE_BUSY_TIMEOUT_MS = 30000


def database_from_url(url, timeout=2):
    """Build a peewee database from a URL; raises ConfigError if it is malformed.

    On PostgreSQL, ``timeout`` seconds bound connecting and every statement
    (on the server), and every round trip (on the client, see pg_deadline).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError("DATABASE_URL", f"malformed URL ({exc}); expected {_FORMAT}") from exc
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if parts.netloc or not path:
            raise ConfigError("DATABASE_URL", f"use three slashes and a file path; expected {_FORMAT}")
        # Pooled: opening a connection and setting its pragmas cost more than
        # a whole version lookup. Each gunicorn thread holds at most one.
        return PooledSqliteDatabase(
            path,
            max_connections=None,
            check_same_thread=False,  # a connection moves between threads only through the pool
            # busy_timeout first: switching to WAL needs the lock another
            # process (a concurrent `db upgrade`) may hold, and must wait for it.
            pragmas={
                "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
                "journal_mode": "wal",
                "foreign_keys": 1,
                "synchronous": "normal",
                # Run search's LIKE is case-sensitive, as in MLflow and PostgreSQL.
                "case_sensitive_like": 1,
            },
        )
    if parts.scheme in ("postgres", "postgresql"):
        dbname = parts.path.lstrip("/")
        if not parts.hostname or not dbname:
            raise ConfigError("DATABASE_URL", f"needs a host and a database name; expected {_FORMAT}")
        from . import pg_deadline

        # The server cancels a slow statement first; the client deadline
        # (one second later) is for a server too frozen to do even that.
        pg_deadline.install(timeout + 1)
        return PooledPostgresqlDatabase(
            unquote(dbname),
            user=unquote(parts.username or "") or None,
            password=unquote(parts.password or "") or None,
            host=parts.hostname,
            port=port or 5432,
            connect_timeout=max(2, round(timeout)),
            options=f"-c statement_timeout={int(timeout * 1000)}",
            keepalives=1,
            keepalives_idle=max(1, round(timeout)),
            keepalives_interval=1,
            keepalives_count=3,
            max_connections=32,
            stale_timeout=300,
            timeout=timeout,  # waiting for a free pooled connection
        )
    raise ConfigError("DATABASE_URL", f"unsupported scheme {parts.scheme!r}; expected {_FORMAT}")


def is_postgres():
    return isinstance(database.obj, PostgresqlDatabase)


class FifoLock:
    """A lock granted in the order it was asked for (threading.Lock promises no order).

    ``acquire`` with a timeout gives up its place in line.
    """

    def __init__(self):
        self._changed = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._abandoned: set[int] = set()

    def acquire(self, timeout: float | None = None) -> bool:
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            deadline = None if timeout is None else time.monotonic() + timeout
            while ticket != self._serving:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    self._abandoned.add(ticket)
                    return False
                self._changed.wait(remaining)
            return True

    def release(self) -> None:
        with self._changed:
            self._serving += 1
            while self._serving in self._abandoned:
                self._abandoned.discard(self._serving)
                self._serving += 1
            self._changed.notify_all()


# SQLite lets one writer in at a time, and makes the others poll with growing
# sleeps (up to 100 ms each): under contention a late writer often wins and an
# early one waits for seconds. Writers of this process queue here instead, in
# order, so SQLite's own lock is free when each one asks for it. (`registry
# serve` also shares one lock across its workers: see share_writer_lock.)
_sqlite_writers = FifoLock()
_shared_writers = None
_holding = threading.local()


def share_writer_lock() -> None:
    """Called once before gunicorn forks its workers: they then queue on one lock for SQLite writes."""
    global _shared_writers
    import multiprocessing

    _shared_writers = multiprocessing.Lock()


def postgres_turn(name: str) -> None:
    """Inside a PostgreSQL transaction: wait until the writers of ``name`` that came first have committed.

    A row lock is not granted in order: when its holder commits, a newcomer
    can take the row ahead of the transactions already waiting (measured, 16
    writers of one model: p99 5-6x p50). Advisory locks queue in the lock
    manager, where a newcomer waits behind every earlier waiter. Held until
    commit; two names that share a key merely take turns.
    """
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (key,))


@contextlib.contextmanager
def sqlite_writer_turn(timeout: float | None = None):
    """Wait for this writer's turn (False if ``timeout`` passed first); nested calls pass straight through."""
    if getattr(_holding, "depth", 0):
        _holding.depth += 1
        try:
            yield True
        finally:
            _holding.depth -= 1
        return
    if not _sqlite_writers.acquire(timeout):
        yield False
        return
    shared = _shared_writers
    try:
        if shared is not None and not shared.acquire(True, None if timeout is None else max(timeout, 0.001)):
            shared = None
            yield False
            return
        _holding.depth = 1
        try:
            yield True
        finally:
            _holding.depth = 0
            if shared is not None:
                shared.release()
    finally:
        _sqlite_writers.release()


@contextlib.contextmanager
def write_transaction():
    """A transaction that serialises writers.

    On SQLite, BEGIN IMMEDIATE takes the write lock up front, so two writers
    never both read "version 3 is the latest" and race; writers take their
    turn in order first (FifoLock). On PostgreSQL, callers take their turn
    (postgres_turn, in order) and row locks (SELECT ... FOR UPDATE) inside a
    plain transaction.
    """
    if is_postgres():
        with database.atomic() as transaction:
            yield transaction
        return
    with sqlite_writer_turn(), database.atomic(lock_type="IMMEDIATE") as transaction:
        yield transaction


def release() -> None:
    """After a request: this thread's connection goes back to the pool (it is checked before reuse)."""
    if not database.is_closed():
        database.close()


def init_app(app, db):
    database.initialize(db)
    app.teardown_request(lambda exc: release())
