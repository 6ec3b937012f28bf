"""marshmallow schemas for every request and response; the OpenAPI document is built from them."""
import datetime

from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from .lifecycle import STAGES
from .names import MODEL_NAME_RE

_MAX_TEXT = 5000
_MAX_TAGS = 100


class Timestamp(fields.DateTime):
    """RFC 3339 UTC, e.g. 2026-11-28T09:30:00.123456Z (stored naive UTC)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if isinstance(value, str):  # SQLite can hand back text for computed columns
            value = datetime.datetime.fromisoformat(value)
        return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _tags(**kwargs):
    return fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=256)),
        values=fields.String(validate=validate.Length(max=_MAX_TEXT)),
        validate=validate.Length(max=_MAX_TAGS),
        metadata={"description": f"Free-form string labels, at most {_MAX_TAGS}."},
        **kwargs,
    )


def _description(**kwargs):
    return fields.String(validate=validate.Length(max=_MAX_TEXT), **kwargs)


class _AtLeastOne(Schema):
    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Give at least one of: " + ", ".join(sorted(self.fields)) + ".")


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


class RunCreateSchema(Schema):
    name = fields.String(allow_none=True, validate=validate.Length(max=256))
    experiment = fields.String(allow_none=True, validate=validate.Length(max=256))


class RunSchema(Schema):
    run_id = fields.String(required=True)
    name = fields.String(allow_none=True, required=True)
    experiment = fields.String(allow_none=True, required=True)
    created_at = Timestamp(required=True)


class RunDetailSchema(RunSchema):
    files = fields.List(fields.Nested(FileSchema), attribute="file_list", required=True)


# --- models ---------------------------------------------------------------

class ModelCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Regexp(MODEL_NAME_RE))
    description = _description(load_default="")
    tags = _tags(load_default=dict)


class ModelUpdateSchema(_AtLeastOne):
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


class ModelListQuerySchema(Schema):
    q = fields.String(validate=validate.Length(max=128), metadata={"description": "Substring of the name."})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    page_token = fields.String(validate=validate.Length(max=1024))


class ModelListSchema(Schema):
    models = fields.List(fields.Nested(ModelSchema), required=True)
    next_page_token = fields.String(allow_none=True, required=True)


# --- versions -------------------------------------------------------------

class VersionCreateSchema(Schema):
    source = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2048),
        metadata={"description": "runs:/<run_id>/<path> or models:/<name>/<version|stage|latest>"},
    )
    description = _description(load_default="")
    tags = _tags(load_default=dict)


class VersionUpdateSchema(_AtLeastOne):
    description = _description()
    tags = _tags()


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
    files = fields.List(fields.Nested(FileSchema), attribute="file_list", required=True)


class VersionListQuerySchema(Schema):
    stage = fields.String(metadata={"description": "Only versions in this stage (any letter case)."})


class VersionListSchema(Schema):
    versions = fields.List(fields.Nested(VersionSchema), required=True)


# --- lifecycle ------------------------------------------------------------

class TransitionRequestSchema(Schema):
    stage = fields.String(required=True, metadata={"description": "Target stage, any letter case."})
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


class HistorySchema(Schema):
    transitions = fields.List(fields.Nested(TransitionSchema), required=True)
