"""marshmallow schemas for every request and response; the OpenAPI document is built from them."""
import datetime
import math

from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate

from ..domain.audit import ACTIONS as AUDIT_ACTIONS
from ..domain.audit import MODEL_ACTIONS
from ..domain.auth import MODEL_PATTERN_PATTERN
from ..domain.auth import TOKEN_NAME_PATTERN
from ..domain.auth import TOKEN_ROLES
from ..domain.gc import DEFAULT_GRACE_SECONDS
from ..domain.lifecycle import STAGES
from ..domain.names import MODEL_NAME_PATTERN
from ..domain.names import SOURCE_PATTERN
from ..domain.names import STAGE_PATTERN
from ..domain.names import TEXT_PATTERN
from ..models import rfc3339

_MAX_TEXT = 5000
_MAX_TAGS = 100


def _storable(value):
    # NUL cannot be stored in PostgreSQL text, and lone surrogates cannot be
    # encoded as UTF-8 by any database: refuse them here, as a 400.
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError("Must be valid Unicode (no lone surrogates).") from exc


class Text(fields.String):
    """A string the databases can store; its length and pattern are documented."""

    def __init__(self, max_length=_MAX_TEXT, pattern=None, **kwargs):
        validators = [validate.Length(max=max_length), _storable]
        if pattern:
            validators.append(validate.Regexp(pattern))
        metadata = dict(kwargs.pop("metadata", {}))
        metadata.setdefault("pattern", pattern or TEXT_PATTERN)
        super().__init__(validate=validators, metadata=metadata, **kwargs)


def _at_most_tags(value):
    if len(value) > _MAX_TAGS:
        raise ValidationError(f"At most {_MAX_TAGS} tags.")


class Timestamp(fields.DateTime):
    """RFC 3339 UTC, e.g. 2026-11-28T09:30:00.123456Z (stored naive UTC)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else rfc3339(value)


class UtcTime(fields.AwareDateTime):
    """An RFC 3339 time with a zone, loaded as the naive UTC the database stores."""

    def __init__(self, **kwargs):
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        aware = super()._deserialize(value, attr, data, **kwargs)
        try:
            return aware.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+14:00
            raise ValidationError("Outside the range of UTC times.") from exc


class MetricValue(fields.Field):
    """A metric value: a JSON number, or "NaN", "Infinity" or "-Infinity" (JSON has no literal for those)."""

    _SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

    def __init__(self, **kwargs):
        metadata = {"oneOf": [{"type": "number"}, {"type": "string", "enum": list(self._SPECIAL)}]}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if value not in self._SPECIAL:
                raise ValidationError('Must be a number, "NaN", "Infinity" or "-Infinity".')
            return self._SPECIAL[value]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError('Must be a number, "NaN", "Infinity" or "-Infinity".')
        return float(value)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value


def _tags(**kwargs):
    # Stored as escaped JSON text, so any key and value is storable.
    return fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.Length(max=_MAX_TEXT)),
        validate=_at_most_tags,
        metadata={"description": f"Free-form string labels, at most {_MAX_TAGS}.",
                  "maxProperties": _MAX_TAGS},
        **kwargs,
    )


def _description(**kwargs):
    return Text(**kwargs)


# --- errors and operations ------------------------------------------------

class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "Stable machine-readable code."})
    message = fields.String(required=True, metadata={"description": "What went wrong and what to do."})
    details = fields.Dict(metadata={"description": "Structured context, e.g. invalid fields."})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class HealthSchema(Schema):
    status = fields.String(required=True)


class ReadinessSchema(Schema):
    status = fields.String(required=True, metadata={"description": "ok or unavailable"})
    checks = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


# --- runs -----------------------------------------------------------------

class FileSchema(Schema):
    path = fields.String(required=True)
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)


class FileListSchema(Schema):
    files = fields.List(fields.Nested(FileSchema), required=True)


# --- models ---------------------------------------------------------------

class ModelCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Regexp(MODEL_NAME_PATTERN))
    description = _description(load_default="")
    tags = _tags(load_default=dict)


class ModelUpdateSchema(Schema):
    description = _description()
    tags = _tags()


class ModelSchema(Schema):
    name = fields.String(required=True)
    description = fields.String(required=True)
    tags = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    latest_version = fields.Integer(allow_none=True, required=True)
    production_version = fields.Integer(allow_none=True, required=True)
    aliases = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                          metadata={"description": "alias -> version number"})


class PageQuerySchema(Schema):
    limit = fields.Integer(validate=validate.Range(min=1, max=1000))
    page_token = Text(max_length=1024, metadata={"description": "next_page_token from the previous page."})


class ModelListQuerySchema(PageQuerySchema):
    q = Text(max_length=128, metadata={"description": "Only models whose name contains this (case-insensitive)."})


class ModelListSchema(Schema):
    models = fields.List(fields.Nested(ModelSchema), required=True)
    next_page_token = fields.String(allow_none=True, required=True)


# --- versions -------------------------------------------------------------

class VersionCreateSchema(Schema):
    source = Text(
        required=True,
        max_length=2048,
        pattern=SOURCE_PATTERN,
        metadata={"description": "runs:/<run_id>/<path> or models:/<name>/<version|stage|latest|@alias>"},
    )
    description = _description(load_default="")
    tags = _tags(load_default=dict)


class VersionUpdateSchema(Schema):
    description = _description()
    tags = _tags()


class LineageSchema(Schema):
    run_id = fields.String(required=True)
    run_name = fields.String(allow_none=True, required=True)
    experiment_id = fields.Integer(required=True)
    experiment = fields.String(required=True)
    status = fields.String(required=True)
    params = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    metrics = fields.Dict(keys=fields.String(), values=MetricValue(), required=True,
                          metadata={"description": "The final (latest) value of each metric."})


class VersionSchema(Schema):
    name = fields.String(required=True)
    version = fields.Integer(required=True)
    stage = fields.String(required=True, validate=validate.OneOf(STAGES))
    status = fields.String(required=True, validate=validate.OneOf(["READY"]))
    source = fields.String(required=True)
    run_id = fields.String(allow_none=True, required=True)
    description = fields.String(required=True)
    tags = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    files = fields.List(fields.Nested(FileSchema), required=True)
    aliases = fields.List(fields.String(), required=True)
    lineage = fields.Nested(LineageSchema, allow_none=True, required=True,
                            metadata={"description": "The run the version came from; null when it has none."})


class AliasSetSchema(Schema):
    version = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=2**31 - 1))
    comment = _description(load_default="")


class AliasDeleteQuerySchema(Schema):
    comment = Text(max_length=1000, metadata={"description": "Recorded in the audit log."})


class AliasSchema(Schema):
    model = fields.String(required=True)
    alias = fields.String(required=True)
    version = fields.Integer(allow_none=True, required=True)
    previous_version = fields.Integer(allow_none=True, required=True)
    record_id = fields.Integer(required=True, metadata={"description": "The audit record of this move."})


class VersionListQuerySchema(Schema):
    stage = Text(max_length=16, pattern=STAGE_PATTERN,
                 metadata={"description": "Only versions in this stage (any letter case)."})


class VersionListSchema(Schema):
    versions = fields.List(fields.Nested(VersionSchema), required=True)


# --- lifecycle ------------------------------------------------------------

class TransitionRequestSchema(Schema):
    stage = Text(max_length=16, pattern=STAGE_PATTERN, required=True,
                 metadata={"description": "Target stage, any letter case."})
    comment = _description(load_default="")


class TransitionSchema(Schema):
    id = fields.Integer(required=True)
    model = fields.String(required=True)
    version = fields.Integer(required=True)
    from_stage = fields.String(allow_none=True, required=True)
    to_stage = fields.String(required=True)
    actor = fields.String(required=True)
    comment = fields.String(required=True)
    cause = fields.String(allow_none=True, required=True)
    created_at = Timestamp(required=True)


class TransitionResultSchema(Schema):
    version = fields.Nested(VersionSchema, required=True)
    transitions = fields.List(fields.Nested(TransitionSchema), required=True)


class ModelRecordSchema(TransitionSchema):
    action = fields.String(required=True, validate=validate.OneOf(MODEL_ACTIONS))
    to_stage = fields.String(allow_none=True, required=True)
    subject = fields.String(allow_none=True, required=True, metadata={"description": "The alias an alias_* record is about."})


class HistorySchema(Schema):
    transitions = fields.List(fields.Nested(ModelRecordSchema), required=True,
                              metadata={"description": "Registrations, stage moves and alias moves, oldest first."})


class StrictBoolean(fields.Boolean):
    """true or false only: not 1, "yes" or "true" (JSON has booleans)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class GcRequestSchema(Schema):
    dry_run = StrictBoolean(load_default=False, metadata={"description": "Report; remove nothing."})
    grace_seconds = fields.Integer(
        strict=True, load_default=DEFAULT_GRACE_SECONDS, validate=validate.Range(min=0, max=10 * 365 * 86400),
        metadata={"description": "Spare blobs claimed, and uploads started, more recently than this."},
    )


class GcReportSchema(Schema):
    dry_run = fields.Boolean(required=True)
    grace_seconds = fields.Integer(required=True)
    blobs = fields.Integer(required=True, metadata={"description": "Blobs no run or version file names."})
    blob_bytes = fields.Integer(required=True)
    leftovers = fields.Integer(required=True, metadata={
        "description": "Objects no blob names: uploads cut off or refused, duplicates, staging files."})
    leftover_bytes = fields.Integer(required=True)
    multipart_uploads = fields.Integer(required=True, metadata={
        "description": "MinIO multipart uploads of killed requests, aborted (0 in a dry run)."})
    bytes_freed = fields.Integer(required=True)


class FileDownloadQuerySchema(Schema):
    redirect = fields.Integer(
        load_default=1, validate=validate.OneOf([0, 1]),
        metadata={"description": "0: stream the bytes through this service even when it is set to redirect "
                                 "downloads to storage (REGISTRY_DOWNLOAD_REDIRECT=1)."},
    )


class VersionAtQuerySchema(Schema):
    at = UtcTime(
        metadata={"description": "Resolve the ref as of this RFC 3339 time, e.g. which version "
                                 "was in Production then. The version is returned as it is now."},
    )


# --- tokens ---------------------------------------------------------------

class TokenCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Regexp(TOKEN_NAME_PATTERN))
    role = fields.String(required=True, validate=validate.OneOf(TOKEN_ROLES))
    models = fields.List(
        fields.String(validate=validate.Regexp(MODEL_PATTERN_PATTERN)),
        load_default=list, validate=validate.Length(max=50),
        metadata={"description": "Model name patterns (fnmatch: * ? [...]); empty means every model."},
    )
    expires_in_days = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1, max=3650))


class TokenSchema(Schema):
    name = fields.String(required=True)
    role = fields.String(required=True)
    models = fields.List(fields.String(), required=True)
    created_by = fields.String(required=True)
    created_at = Timestamp(required=True)
    expires_at = Timestamp(allow_none=True, required=True)
    revoked_at = Timestamp(allow_none=True, required=True)


class TokenCreatedSchema(TokenSchema):
    token = fields.String(required=True, metadata={"description": "Shown once; store it now."})


class TokenListSchema(Schema):
    tokens = fields.List(fields.Nested(TokenSchema), required=True)


# --- audit ----------------------------------------------------------------

class AuditRecordSchema(TransitionSchema):
    action = fields.String(required=True, validate=validate.OneOf(AUDIT_ACTIONS))
    model = fields.String(allow_none=True, required=True)
    version = fields.Integer(allow_none=True, required=True)
    to_stage = fields.String(allow_none=True, required=True)
    subject = fields.String(allow_none=True, required=True, metadata={"description": "The token a token_* record is about."})
    prev_hash = fields.String(required=True)
    hash = fields.String(required=True)


class AuditQuerySchema(Schema):
    model = fields.String(validate=validate.Regexp(MODEL_NAME_PATTERN))
    actor = Text(max_length=256)
    action = fields.String(validate=validate.OneOf(AUDIT_ACTIONS))
    since = UtcTime(metadata={"description": "Records at or after this time."})
    until = UtcTime(metadata={"description": "Records before this time."})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    page_token = fields.String(validate=validate.Regexp(r"^[0-9]{1,18}$"))


class AuditListSchema(Schema):
    records = fields.List(fields.Nested(AuditRecordSchema), required=True)
    next_page_token = fields.String(allow_none=True, required=True)


class AuditBreakSchema(Schema):
    id = fields.Integer(required=True, allow_none=True)  # NULL: a row inserted by hand on SQLite
    reason = fields.String(required=True)


class AuditVerifySchema(Schema):
    ok = fields.Boolean(required=True)
    records = fields.Integer(required=True, metadata={"description": "Records checked before stopping."})
    head_hash = fields.String(allow_none=True, required=True,
                              metadata={"description": "Hash of the newest record."})
    first_bad = fields.Nested(AuditBreakSchema, allow_none=True, required=True)
    anchored = fields.Integer(allow_none=True, required=True, metadata={
        "description": "The record whose hash the latest anchor in blob storage holds, and the chain matched; "
                       "null if there is no anchor yet or the chain is broken."})
