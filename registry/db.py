"""The database: a proxy bound at app start, built from a URL, closed after each request."""
import logging
from urllib.parse import unquote
from urllib.parse import urlsplit

from peewee import DatabaseProxy
from peewee import PostgresqlDatabase
from peewee import SqliteDatabase
from playhouse.pool import PooledPostgresqlDatabase

from .config import ConfigError

logger = logging.getLogger(__name__)

database = DatabaseProxy()

_FORMAT = "sqlite:///path/to.db or postgresql://user:pass@host:5432/dbname"
SQLITE_BUSY_TIMEOUT_MS = 30000


def database_from_url(url):
    """Build a peewee database from a URL; raises ConfigError if it is malformed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError("DATABASE_URL", f"malformed URL ({exc}); expected {_FORMAT}")
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if parts.netloc or not path:
            raise ConfigError("DATABASE_URL", f"use three slashes and a file path; expected {_FORMAT}")
        return SqliteDatabase(
            path,
            pragmas={
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
                "synchronous": "normal",
            },
        )
    if parts.scheme in ("postgres", "postgresql"):
        dbname = parts.path.lstrip("/")
        if not parts.hostname or not dbname:
            raise ConfigError("DATABASE_URL", f"needs a host and a database name; expected {_FORMAT}")
        return PooledPostgresqlDatabase(
            unquote(dbname),
            user=unquote(parts.username or "") or None,
            password=unquote(parts.password or "") or None,
            host=parts.hostname,
            port=port or 5432,
            connect_timeout=5,
            max_connections=32,
            stale_timeout=300,
            timeout=10,
        )
    raise ConfigError("DATABASE_URL", f"unsupported scheme {parts.scheme!r}; expected {_FORMAT}")


def is_postgres():
    return isinstance(database.obj, PostgresqlDatabase)


def write_transaction():
    """A transaction that serialises writers.

    On SQLite, BEGIN IMMEDIATE takes the write lock up front, so two writers
    never both read "version 3 is the latest" and race. On PostgreSQL, callers
    take row locks (SELECT ... FOR UPDATE) inside a plain transaction.
    """
    if is_postgres():
        return database.atomic()
    return database.atomic(lock_type="IMMEDIATE")


def init_app(app, db):
    database.initialize(db)

    @app.teardown_request
    def _close_database(exc):
        # Pooled: returns the connection to the pool (it is checked before reuse).
        if not database.is_closed():
            database.close()
