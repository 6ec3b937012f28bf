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

_AUDIT_AND_TOKENS = """
CREATE TABLE audit_record (
    id BIGINT PRIMARY KEY,
    action VARCHAR(32) NOT NULL,
    model VARCHAR(128),
    version INTEGER,
    from_stage VARCHAR(16),
    to_stage VARCHAR(16),
    actor VARCHAR(256) NOT NULL,
    comment TEXT NOT NULL,
    cause TEXT,
    subject VARCHAR(128),
    created_at TIMESTAMP NOT NULL,
    prev_hash VARCHAR(64) NOT NULL,
    hash VARCHAR(64) NOT NULL
);
CREATE INDEX audit_record_model ON audit_record (model, version, id);
CREATE INDEX audit_record_actor ON audit_record (actor, id);
CREATE INDEX audit_record_created_at ON audit_record (created_at);
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY,
    last_id BIGINT NOT NULL,
    last_hash VARCHAR(64) NOT NULL
);
CREATE TABLE api_token (
    id {serial},
    name VARCHAR(128) NOT NULL,
    role VARCHAR(16) NOT NULL CHECK (role IN ('reader', 'writer', 'maintainer', 'admin')),
    models TEXT NOT NULL,
    selector VARCHAR(32) NOT NULL UNIQUE,
    secret_hash VARCHAR(64) NOT NULL,
    created_by VARCHAR(256) NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP
);
-- A name is reusable once its token is revoked.
CREATE UNIQUE INDEX api_token_active_name ON api_token (name) WHERE revoked_at IS NULL;
CREATE TABLE idempotency_record (
    id {serial},
    token_id INTEGER NOT NULL REFERENCES api_token (id) ON DELETE CASCADE,
    key VARCHAR(255) NOT NULL,
    request_hash VARCHAR(64) NOT NULL,
    status INTEGER,
    body TEXT,
    location VARCHAR(2048),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (token_id, key)
);
"""

# Triggers are single statements with bodies containing ';', so they are
# listed whole rather than split.
_APPEND_ONLY = {
    "postgres": [
        """CREATE FUNCTION audit_record_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               RAISE EXCEPTION 'audit_record is append-only: %% is not allowed', TG_OP;  -- %% escapes psycopg2's placeholder
           END;
           $$""",
        """CREATE TRIGGER audit_record_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_record
           FOR EACH ROW EXECUTE FUNCTION audit_record_is_append_only()""",
        """CREATE TRIGGER audit_record_no_truncate BEFORE TRUNCATE ON audit_record
           FOR EACH STATEMENT EXECUTE FUNCTION audit_record_is_append_only()""",
    ],
    "sqlite": [
        """CREATE TRIGGER audit_record_no_update BEFORE UPDATE ON audit_record
           BEGIN SELECT RAISE(ABORT, 'audit_record is append-only: UPDATE is not allowed'); END""",
        """CREATE TRIGGER audit_record_no_delete BEFORE DELETE ON audit_record
           BEGIN SELECT RAISE(ABORT, 'audit_record is append-only: DELETE is not allowed'); END""",
    ],
}


def _audit_and_tokens():
    """Move the stage history into the hash-chained audit log; add tokens and idempotency keys."""
    from .domain.audit import GENESIS
    from .domain.audit import record_hash
    from .models import AuditRecord

    _run_sql(_AUDIT_AND_TOKENS)
    previous, last_id = GENESIS, 0
    rows = database.execute_sql(
        "SELECT model, version, from_stage, to_stage, actor, comment, cause, created_at"
        " FROM stage_transition ORDER BY id"
    ).fetchall()
    for model, version, from_stage, to_stage, actor, comment, cause, created_at in rows:
        record = AuditRecord(
            id=last_id + 1, action="register" if from_stage is None else "transition", model=model,
            version=version, from_stage=from_stage, to_stage=to_stage, actor=actor, comment=comment,
            cause=cause, subject=None, created_at=AuditRecord.created_at.python_value(created_at),
            prev_hash=previous,
        )
        record.hash = record_hash(record)
        record.save(force_insert=True)
        previous, last_id = record.hash, record.id
    database.execute_sql("DROP TABLE stage_transition")
    database.execute_sql(
        "INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, %s, %s)".replace("%s", database.param),
        (last_id, previous),
    )
    for statement in _APPEND_ONLY["postgres" if is_postgres() else "sqlite"]:
        database.execute_sql(statement)


_TRACKING = """
CREATE TABLE experiment (
    id {serial},
    name VARCHAR(256) NOT NULL UNIQUE,
    tags TEXT NOT NULL,
    created_by VARCHAR(256) NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
ALTER TABLE run ADD COLUMN experiment_id INTEGER REFERENCES experiment (id);
ALTER TABLE run ADD COLUMN status VARCHAR(16) NOT NULL DEFAULT 'RUNNING'
    CHECK (status IN ('RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'));
ALTER TABLE run ADD COLUMN status_reason TEXT;
ALTER TABLE run ADD COLUMN start_time TIMESTAMP;
ALTER TABLE run ADD COLUMN end_time TIMESTAMP;
ALTER TABLE run ADD COLUMN created_by VARCHAR(256);
CREATE INDEX run_experiment_start ON run (experiment_id, start_time, run_id);
CREATE TABLE run_param (
    run_id VARCHAR(32) NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
    key VARCHAR(250) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX run_param_key_value ON run_param (key, value);
CREATE TABLE run_tag (
    run_id VARCHAR(32) NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
    key VARCHAR(250) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
-- Every logged point. NaN is stored as value 0 with is_nan set: SQLite turns
-- a NaN REAL into NULL.
CREATE TABLE run_metric (
    id {bigserial},
    run_id VARCHAR(32) NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
    key VARCHAR(250) NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    is_nan BOOLEAN NOT NULL,
    step BIGINT NOT NULL,
    timestamp BIGINT NOT NULL
);
-- A point identical in every field is stored once (as in MLflow): clients re-log.
CREATE UNIQUE INDEX run_metric_history ON run_metric (run_id, key, step, timestamp, value, is_nan);
-- The latest point of each metric (highest step, then timestamp, then value),
-- kept in step with run_metric: what runs show and what search orders by.
CREATE TABLE run_latest_metric (
    run_id VARCHAR(32) NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
    key VARCHAR(250) NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    is_nan BOOLEAN NOT NULL,
    step BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX run_latest_metric_order ON run_latest_metric (key, value, run_id);
-- MLflow 3's logged models: each one is a folder of its run's files.
CREATE TABLE logged_model (
    model_id VARCHAR(40) PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiment (id),
    run_id VARCHAR(32) NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
    name VARCHAR(256) NOT NULL,
    artifact_path VARCHAR(1024) NOT NULL,
    model_type VARCHAR(256),
    status VARCHAR(16) NOT NULL,
    params TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_by VARCHAR(256) NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (run_id, artifact_path)
);
CREATE TABLE model_alias (
    model_id INTEGER NOT NULL REFERENCES registered_model (id) ON DELETE CASCADE,
    alias VARCHAR(64) NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (model_id, alias)
)
"""


def _tracking():
    """Experiments (every run in one, Default is id 0), run status, params, metrics, tags; model aliases."""
    _run_sql(_TRACKING)
    now = utcnow()
    insert = "INSERT INTO experiment (id, name, tags, created_by, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s)"
    names = [row[0] for row in database.execute_sql(
        "SELECT DISTINCT experiment FROM run WHERE experiment IS NOT NULL AND experiment <> 'Default' ORDER BY experiment"
    ).fetchall()]
    for number, name in enumerate(["Default", *names]):
        database.execute_sql(insert.replace("%s", database.param), (number, name, "{}", "system", now, now))
    if is_postgres():  # ids were given explicitly; the next one must follow them
        database.execute_sql("SELECT setval('experiment_id_seq', GREATEST(MAX(id), 1), MAX(id) >= 1) FROM experiment")
    database.execute_sql(
        "UPDATE run SET experiment_id = COALESCE((SELECT e.id FROM experiment e WHERE e.name = run.experiment), 0),"
        " start_time = created_at"
    )
    database.execute_sql("ALTER TABLE run DROP COLUMN experiment")


_WEBHOOKS = """
CREATE TABLE webhook (
    id {serial},
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    models TEXT NOT NULL,
    -- Encrypted with a key derived from the server's signing key (secret_box.py):
    -- a database dump alone does not reveal it.
    secret TEXT NOT NULL,
    description TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    -- Events are records after this one: a new webhook gets no history.
    after_record BIGINT NOT NULL,
    created_by VARCHAR(256) NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE webhook_delivery (
    id {bigserial},
    webhook_id INTEGER NOT NULL REFERENCES webhook (id) ON DELETE CASCADE,
    record_id BIGINT,
    event VARCHAR(64) NOT NULL,
    model VARCHAR(128),
    payload TEXT NOT NULL,
    status VARCHAR(16) NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    UNIQUE (webhook_id, record_id)
);
CREATE INDEX webhook_delivery_due ON webhook_delivery (status, next_attempt_at);
CREATE INDEX webhook_delivery_order ON webhook_delivery (webhook_id, model, status, id);
CREATE TABLE webhook_attempt (
    id {bigserial},
    delivery_id BIGINT NOT NULL REFERENCES webhook_delivery (id) ON DELETE CASCADE,
    attempted_at TIMESTAMP NOT NULL,
    status_code INTEGER,
    latency_ms DOUBLE PRECISION NOT NULL,
    error TEXT
);
CREATE INDEX webhook_attempt_delivery ON webhook_attempt (delivery_id, id);
-- A follower of the audit log: how far it has read, and which process leads it.
CREATE TABLE outbox_follower (
    name VARCHAR(32) PRIMARY KEY,
    cursor BIGINT NOT NULL,
    holder VARCHAR(64),
    lease_until TIMESTAMP
)
"""


def _webhooks():
    """Webhooks, their deliveries and attempts, and the follower that fans the audit log out to them."""
    _run_sql(_WEBHOOKS)
    head = database.execute_sql("SELECT COALESCE(MAX(id), 0) FROM audit_record").fetchone()[0]
    database.execute_sql("INSERT INTO outbox_follower (name, cursor) VALUES ('webhooks', %s)"
                         .replace("%s", database.param), (head,))


_BLOBS = """
CREATE TABLE blob (
    digest VARCHAR(64) PRIMARY KEY,
    key VARCHAR(128) NOT NULL UNIQUE,
    size BIGINT NOT NULL,
    claimed_at TIMESTAMP NOT NULL
);
CREATE INDEX blob_claimed_at ON blob (claimed_at);
CREATE TABLE blob_upload (
    key VARCHAR(128) PRIMARY KEY,
    started_at TIMESTAMP NOT NULL
);
-- gc asks "does any file name this digest?"
CREATE INDEX run_file_sha256 ON run_file (sha256);
CREATE INDEX version_file_sha256 ON version_file (sha256)
"""


_TOKEN_ROLES_BEFORE = "CHECK (role IN ('reader', 'writer', 'maintainer', 'admin'))"
_TOKEN_ROLES_AFTER = "CHECK (role IN ('reader', 'writer', 'maintainer', 'admin', 'metrics'))"


def _metrics_role():
    """Tokens may have the metrics role (scrape /metrics, nothing else): a looser CHECK on api_token.role."""
    if is_postgres():
        database.execute_sql(f"ALTER TABLE api_token DROP CONSTRAINT api_token_role_check, "
                             f"ADD CONSTRAINT api_token_role_check {_TOKEN_ROLES_AFTER}")
        return
    # SQLite cannot alter a CHECK; rebuilding the table would cascade-delete what references it.
    # Its documentation allows editing the stored definition when every existing row satisfies
    # the new constraint, as it does when a constraint only accepts one more value.
    (version,) = database.execute_sql("PRAGMA schema_version").fetchone()
    database.execute_sql("PRAGMA writable_schema = ON")
    database.execute_sql("UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = 'api_token'",
                         (_TOKEN_ROLES_BEFORE, _TOKEN_ROLES_AFTER))
    database.execute_sql(f"PRAGMA schema_version = {version + 1}")
    database.execute_sql("PRAGMA writable_schema = OFF")


def _blobs():
    """Blobs keyed by upload, mapped from their digest here; earlier blobs keep their digest keys.

    Also: the metrics role for tokens.
    """
    from .storage.keys import legacy_blob_key

    _metrics_role()
    _run_sql(_BLOBS)
    now = utcnow()
    rows = database.execute_sql(
        "SELECT sha256, MAX(size) FROM (SELECT sha256, size FROM run_file"
        " UNION ALL SELECT sha256, size FROM version_file) AS files GROUP BY sha256").fetchall()
    insert = "INSERT INTO blob (digest, key, size, claimed_at) VALUES (%s, %s, %s, %s)".replace("%s", database.param)
    for digest, size in rows:
        database.execute_sql(insert, (digest, legacy_blob_key(digest), size, now))


# What a version lookup answers changes with these rows (registry/domain/freshness.py): a change
# counts on the model's row, or on the run's for its params and final metrics. Triggers, so that no
# write path can forget to count; the writers already hold that row's lock (lock_model, and
# log_batch's run lock), so counting takes no lock in a new order.
_GENERATIONS = """
ALTER TABLE registered_model ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE run ADD COLUMN generation BIGINT NOT NULL DEFAULT 0
"""
_COUNTED_CHANGES = [  # (table, the row counted: parent table, its key, the changed row's expression for it)
    ("model_version", "registered_model", "id", "{row}.model_id"),
    ("model_alias", "registered_model", "id", "{row}.model_id"),
    ("version_file", "registered_model", "id", "(SELECT model_id FROM model_version WHERE id = {row}.version_id)"),
    ("run_param", "run", "run_id", "{row}.run_id"),
    ("run_latest_metric", "run", "run_id", "{row}.run_id"),
]
# A batch of metrics changes one run's row many times in one transaction; one count is enough
# (readers only see it committed), and on PostgreSQL each further UPDATE of the row cost a new
# row version: a hundred metrics took 12% longer. So the run counted last in this transaction
# is remembered in a transaction-local setting, and not counted again.
_PG_COUNT_RUN_ONCE = """
    IF current_setting('registry.counted_run', true) IS DISTINCT FROM {expression} THEN
        {count};
        PERFORM set_config('registry.counted_run', {expression}, true);
    END IF"""


def _count(parent, key, expression, row):
    return f"UPDATE {parent} SET generation = generation + 1 WHERE {key} = {expression.format(row=row)}"


def _pg_count(parent, key, expression, row):
    if parent != "run":
        return _count(parent, key, expression, row)
    return _PG_COUNT_RUN_ONCE.format(expression=expression.format(row=row), count=_count(parent, key, expression, row))


def _generations():
    """A change counter on each model and run, moved by triggers on the rows a version lookup reads."""
    _run_sql(_GENERATIONS)
    for table, parent, key, expression in _COUNTED_CHANGES:
        if is_postgres():
            database.execute_sql(
                f"""CREATE FUNCTION {table}_counts_change() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        IF TG_OP = 'DELETE' THEN {_pg_count(parent, key, expression, "OLD")};
                        ELSE {_pg_count(parent, key, expression, "NEW")};
                        END IF;
                        RETURN NULL;
                    END;
                    $$""")
            database.execute_sql(f"CREATE TRIGGER {table}_counts_change AFTER INSERT OR UPDATE OR DELETE ON {table}"
                                 f" FOR EACH ROW EXECUTE FUNCTION {table}_counts_change()")
            continue
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            database.execute_sql(f"CREATE TRIGGER {table}_{event.lower()}_counts_change AFTER {event} ON {table}"
                                 f" BEGIN {_count(parent, key, expression, row)}; END")


MIGRATIONS = [
    (1, "initial schema", _INITIAL),
    (2, "hash-chained audit log, API tokens, idempotency keys", _audit_and_tokens),
    (3, "experiments, run status, params, metrics and tags, logged models; model aliases", _tracking),
    (4, "webhooks, deliveries, attempts; the audit log's outbox follower", _webhooks),
    (5, "blobs keyed by upload, digest to key in the database; the metrics token role", _blobs),
    (6, "change counters on models and runs, kept by triggers, for cached version lookups", _generations),
]


def _dialect():
    if is_postgres():
        return {"serial": "SERIAL PRIMARY KEY", "bigserial": "BIGSERIAL PRIMARY KEY"}
    auto = "INTEGER PRIMARY KEY AUTOINCREMENT"
    return {"serial": auto, "bigserial": auto}


def _statements(sql):
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def _run_sql(sql):
    for statement in _statements(sql.format(**_dialect())):
        database.execute_sql(statement)


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
        for number, name, step in MIGRATIONS:
            if number in done:
                continue
            logger.info("applying migration %s: %s", number, name)
            if callable(step):
                step()
            else:
                _run_sql(step)
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
