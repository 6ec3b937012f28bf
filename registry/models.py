"""peewee tables. The schema itself is created by registry/migrations.py."""
import datetime
import json

from peewee import AutoField
from peewee import BigAutoField
from peewee import BigIntegerField
from peewee import BooleanField
from peewee import CharField
from peewee import CompositeKey
from peewee import DateTimeField
from peewee import DoubleField
from peewee import ForeignKeyField
from peewee import IntegerField
from peewee import Model
from peewee import TextField

from .db import database


def utcnow():
    # Stored naive, always UTC; the API renders it as RFC 3339 with a Z.
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def rfc3339(value):
    """A stored (naive UTC) time as RFC 3339 with microseconds: its one text form."""
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


class TagsField(TextField):
    """A {str: str} dict stored as canonical JSON text (portable across databases)."""

    def db_value(self, value):
        return json.dumps(value or {}, sort_keys=True, separators=(",", ":"))

    def python_value(self, value):
        return json.loads(value) if value else {}


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class Experiment(BaseModel):
    id = AutoField()  # Default is 0, as in MLflow
    name = CharField(max_length=256, unique=True)
    tags = TagsField(default=dict)
    created_by = CharField(max_length=256)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


# registered_model and run also have a ``generation`` column, counted up only by triggers
# (migration 6) and read only by domain/freshness.py. It is not a field here, so that a
# save() can never write back a count read before someone else's change.


class Run(BaseModel):
    run_id = CharField(max_length=32, primary_key=True)
    name = CharField(max_length=256, null=True)
    experiment = ForeignKeyField(Experiment, column_name="experiment_id", backref="runs")
    experiment_id: int
    status = CharField(max_length=16, default="RUNNING")
    status_reason = TextField(null=True)
    start_time = DateTimeField(null=True)
    end_time = DateTimeField(null=True)
    created_by = CharField(max_length=256, null=True)
    created_at = DateTimeField(default=utcnow)


class _RunKeyValue(BaseModel):
    """One value per key of a run (its params, its tags)."""

    run = ForeignKeyField(Run, column_name="run_id", on_delete="CASCADE")
    run_id: str
    key = CharField(max_length=250)
    value = TextField()

    class Meta:
        primary_key = CompositeKey("run", "key")


class RunParam(_RunKeyValue):
    pass


class RunTag(_RunKeyValue):
    pass


class RunMetric(BaseModel):
    id = BigAutoField()
    run = ForeignKeyField(Run, column_name="run_id", on_delete="CASCADE")
    run_id: str
    key = CharField(max_length=250)
    value = DoubleField()
    is_nan = BooleanField()
    step = BigIntegerField()
    timestamp = BigIntegerField()  # milliseconds since the epoch, as MLflow sends it


class RunLatestMetric(BaseModel):
    run = ForeignKeyField(Run, column_name="run_id", on_delete="CASCADE")
    run_id: str
    key = CharField(max_length=250)
    value = DoubleField()
    is_nan = BooleanField()
    step = BigIntegerField()
    timestamp = BigIntegerField()

    class Meta:
        primary_key = CompositeKey("run", "key")


class RunFile(BaseModel):
    run = ForeignKeyField(Run, column_name="run_id", backref="files", on_delete="CASCADE")
    path = CharField(max_length=1024)
    sha256 = CharField(max_length=64)
    size = BigIntegerField()
    created_at = DateTimeField(default=utcnow)


class Blob(BaseModel):
    """Where the bytes with one sha256 are stored: the key of the upload that first brought them.

    Rows and run/version files are written in one transaction, so a key is
    only ever named once its bytes are complete; gc removes rows that no file
    names and no upload claimed within its grace period.
    """

    digest = CharField(max_length=64, primary_key=True)
    key = CharField(max_length=128, unique=True)
    size = BigIntegerField()
    # Last time an upload brought these bytes (first or deduplicated).
    claimed_at = DateTimeField(default=utcnow)


class BlobUpload(BaseModel):
    """An upload writing to ``key``, from before its first byte until its file is linked (or it fails).

    gc never removes the key of an upload that started within its grace period.
    """

    key = CharField(max_length=128, primary_key=True)
    started_at = DateTimeField(default=utcnow)


class RegisteredModel(BaseModel):
    name = CharField(max_length=128, unique=True)
    description = TextField(default="")
    tags = TagsField(default=dict)
    # Highest version number ever handed out under this name; bumped under
    # the model's row lock so numbers have no gaps and are never reused.
    last_version = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class ModelVersion(BaseModel):
    model = ForeignKeyField(RegisteredModel, backref="versions", on_delete="CASCADE")
    version = IntegerField()
    stage = CharField(max_length=16)
    source = CharField(max_length=2048)
    run_id = CharField(max_length=32, null=True)
    description = TextField(default="")
    tags = TagsField(default=dict)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class LoggedModel(BaseModel):
    """An MLflow 3 logged model: the folder ``artifact_path`` of its run."""

    model_id = CharField(max_length=40, primary_key=True)
    experiment = ForeignKeyField(Experiment, column_name="experiment_id")
    experiment_id: int
    run = ForeignKeyField(Run, column_name="run_id", on_delete="CASCADE")
    run_id: str
    name = CharField(max_length=256)
    artifact_path = CharField(max_length=1024)
    model_type = CharField(max_length=256, null=True)
    status = CharField(max_length=16)
    params = TagsField(default=dict)
    tags = TagsField(default=dict)
    created_by = CharField(max_length=256)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class VersionAlias(BaseModel):
    model = ForeignKeyField(RegisteredModel, backref="aliases", on_delete="CASCADE")
    model_id: int
    name = CharField(max_length=64, column_name="alias")  # not "alias": peewee's Model.alias() is a method
    version = IntegerField()

    class Meta:
        table_name = "model_alias"
        primary_key = CompositeKey("model", "name")


class VersionFile(BaseModel):
    version = ForeignKeyField(ModelVersion, backref="files", on_delete="CASCADE")
    version_id: int
    path = CharField(max_length=1024)
    sha256 = CharField(max_length=64)
    size = BigIntegerField()


class AuditRecord(BaseModel):
    """One entry of the append-only, hash-chained audit log.

    Keyed by model name, not by a foreign key, so it outlives the model.
    ``hash`` covers every field and ``prev_hash``, so editing, deleting or
    reordering rows breaks the chain (see registry/domain/audit.py).
    """

    id = BigIntegerField(primary_key=True)
    action = CharField(max_length=32)  # see audit.ACTIONS
    model = CharField(max_length=128, null=True)
    version = IntegerField(null=True)
    from_stage = CharField(max_length=16, null=True)
    to_stage = CharField(max_length=16, null=True)
    actor = CharField(max_length=256)
    comment = TextField(default="")
    cause = TextField(null=True)
    subject = CharField(max_length=128, null=True)  # the token a token_* record is about
    created_at = DateTimeField(default=utcnow)
    prev_hash = CharField(max_length=64)
    hash = CharField(max_length=64)


class AuditHead(BaseModel):
    """The single row naming the newest record: locking it serialises appends,
    and it makes deleting the newest records detectable."""

    id = IntegerField(primary_key=True)
    last_id = BigIntegerField()
    last_hash = CharField(max_length=64)


class ApiToken(BaseModel):
    id = AutoField()
    name = CharField(max_length=128)
    role = CharField(max_length=16)
    models = TextField(default="[]")  # JSON list of name patterns; [] = every model
    selector = CharField(max_length=32, unique=True)
    secret_hash = CharField(max_length=64)
    created_by = CharField(max_length=256)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)

    @property
    def model_patterns(self):
        return json.loads(self.models or "[]")


class IdempotencyRecord(BaseModel):
    token = ForeignKeyField(ApiToken, on_delete="CASCADE")
    key = CharField(max_length=255)
    request_hash = CharField(max_length=64)
    status = IntegerField(null=True)  # null while the first request is running
    body = TextField(null=True)
    location = CharField(max_length=2048, null=True)
    created_at = DateTimeField(default=utcnow)



class Webhook(BaseModel):
    id = AutoField()
    url = TextField()
    events = TextField()  # JSON list
    models = TextField()  # JSON list of name patterns; empty: every model
    secret = TextField()  # encrypted (registry/secret_box.py)
    description = TextField()
    active = BooleanField()
    after_record = BigIntegerField()
    created_by = CharField(max_length=256)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class WebhookDelivery(BaseModel):
    id = BigAutoField()
    webhook = ForeignKeyField(Webhook, on_delete="CASCADE")
    webhook_id: int
    record_id = BigIntegerField(null=True)  # the event id; None for a ping
    event = CharField(max_length=64)
    # Not "model": peewee's ModelAlias.model is the aliased class (outbox.due aliases this table).
    model_name = CharField(max_length=128, null=True, column_name="model")
    payload = TextField()
    status = CharField(max_length=16)
    attempts = IntegerField()
    next_attempt_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    delivered_at = DateTimeField(null=True)


class WebhookAttempt(BaseModel):
    id = BigAutoField()
    delivery = ForeignKeyField(WebhookDelivery, on_delete="CASCADE")
    delivery_id: int
    attempted_at = DateTimeField()
    status_code = IntegerField(null=True)
    latency_ms = DoubleField()
    error = TextField(null=True)


class OutboxFollower(BaseModel):
    name = CharField(max_length=32, primary_key=True)
    cursor = BigIntegerField()
    holder = CharField(max_length=64, null=True)
    lease_until = DateTimeField(null=True)
