"""Numbered schema migrations, applied in order, once, under a lock.

Each migration is frozen SQL (not generated from models.py), so a fresh
database and an upgraded one end up with the same schema. Several workers
may start at once: PostgreSQL serialises them with an advisory lock, SQLite
with BEGIN IMMEDIATE; the second one finds nothing left to do.
"""
import logging

from .db import database
from .db import is_postgres
from .db import write_transaction
from .models import utcnow

logger = logging.getLogger(__name__)

# Arbitrary constant identifying "registry schema migrations" among advisory locks.
_ADVISORY_LOCK_ID = 7_361_042_918

_INITIAL = """
CREATE TABLE run (
    run_id VARCHAR(32) PRIMARY KEY,
    name VARCHAR(256),
    experiment VARCHAR(256),
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE run_file (
    id {serial},
    run_id VARCHAR(32) NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
    path VARCHAR(1024) NOT NULL,
    sha256 VARCHAR(64) NOT NULL,
    size BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (run_id, path)
);
CREATE TABLE registered_model (
    id {serial},
    name VARCHAR(128) NOT NULL UNIQUE,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    last_version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE model_version (
    id {serial},
    model_id INTEGER NOT NULL REFERENCES registered_model (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    stage VARCHAR(16) NOT NULL
        CHECK (stage IN ('None', 'Staging', 'Production', 'Archived')),
    source VARCHAR(2048) NOT NULL,
    run_id VARCHAR(32),
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (model_id, version)
);
-- The database, not only the code, guarantees one Production version per model.
CREATE UNIQUE INDEX model_version_one_production
    ON model_version (model_id) WHERE stage = 'Production';
CREATE INDEX model_version_stage ON model_version (model_id, stage, version);
CREATE TABLE version_file (
    id {serial},
    version_id INTEGER NOT NULL REFERENCES model_version (id) ON DELETE CASCADE,
    path VARCHAR(1024) NOT NULL,
    sha256 VARCHAR(64) NOT NULL,
    size BIGINT NOT NULL,
    UNIQUE (version_id, path)
);
CREATE TABLE stage_transition (
    id {bigserial},
    model VARCHAR(128) NOT NULL,
    version INTEGER NOT NULL,
    from_stage VARCHAR(16),
    to_stage VARCHAR(16) NOT NULL,
    actor VARCHAR(256) NOT NULL,
    comment TEXT NOT NULL,
    cause TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX stage_transition_model ON stage_transition (model, version, id);
"""

MIGRATIONS = [
    (1, "initial schema", _INITIAL),
]


def _dialect():
    if is_postgres():
        return {"serial": "SERIAL PRIMARY KEY", "bigserial": "BIGSERIAL PRIMARY KEY"}
    auto = "INTEGER PRIMARY KEY AUTOINCREMENT"
    return {"serial": auto, "bigserial": auto}


def _statements(sql):
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def upgrade():
    """Apply pending migrations; return the numbers applied. Safe to run concurrently."""
    applied_now = []
    with write_transaction():
        if is_postgres():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_ID,))
        database.execute_sql(
            "CREATE TABLE IF NOT EXISTS schema_migration ("
            " version INTEGER PRIMARY KEY, name VARCHAR(128) NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
        done = {row[0] for row in database.execute_sql("SELECT version FROM schema_migration")}
        for number, name, sql in MIGRATIONS:
            if number in done:
                continue
            logger.info("applying migration %s: %s", number, name)
            for statement in _statements(sql.format(**_dialect())):
                database.execute_sql(statement)
            database.execute_sql(
                "INSERT INTO schema_migration (version, name, applied_at) VALUES (%s, %s, %s)"
                .replace("%s", database.param),
                (number, name, utcnow()),
            )
            applied_now.append(number)
    return applied_now


def current_version():
    """The highest applied migration, or 0 for an empty database."""
    if not database.table_exists("schema_migration"):
        return 0
    row = database.execute_sql("SELECT MAX(version) FROM schema_migration").fetchone()
    return row[0] or 0
