"""marshmallow schemas for experiments, runs, params, metrics and run search."""
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from ..domain.experiments import EXPERIMENT_NAME_PATTERN
from ..domain.run_data import KEY_PATTERN
from ..domain.run_data import MAX_KEY_LENGTH
from ..domain.run_data import MAX_METRICS
from ..domain.run_data import MAX_PARAM_VALUE_LENGTH
from ..domain.run_data import MAX_PARAMS
from ..domain.run_data import MAX_TAG_VALUE_LENGTH
from ..domain.run_data import MAX_TAGS
from ..domain.run_filter import FILTER_PATTERN
from ..domain.run_filter import ORDER_BY_PATTERN
from ..domain.run_search import MAX_RESULTS
from ..domain.run_search import PAGE_TOKEN_PATTERN
from ..domain.runs import RUN_STATUSES
from .schemas import FileSchema
from .schemas import MetricValue
from .schemas import PageQuerySchema
from .schemas import Text
from .schemas import Timestamp
from .schemas import _tags


def _strings(**kwargs):
    return fields.Dict(keys=fields.String(), values=fields.String(), required=True, **kwargs)


# --- experiments ----------------------------------------------------------

class ExperimentCreateSchema(Schema):
    name = Text(max_length=256, pattern=EXPERIMENT_NAME_PATTERN, required=True)
    tags = _tags(load_default=dict)


class ExperimentSchema(Schema):
    experiment_id = fields.Integer(required=True, metadata={"description": "Default is 0."})
    name = fields.String(required=True)
    tags = _strings()
    created_by = fields.String(required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class ExperimentListQuerySchema(PageQuerySchema):
    pass


class ExperimentListSchema(Schema):
    experiments = fields.List(fields.Nested(ExperimentSchema), required=True)
    next_page_token = fields.String(allow_none=True, required=True)


# --- runs -----------------------------------------------------------------

class RunCreateSchema(Schema):
    name = Text(max_length=256, allow_none=True)
    experiment = Text(max_length=256, pattern=EXPERIMENT_NAME_PATTERN, allow_none=True,
                      metadata={"description": "Experiment name; created if missing. Default when omitted."})
    # Stored as rows like logged tags, so the same key and value rules apply.
    tags = fields.Dict(
        keys=Text(max_length=MAX_KEY_LENGTH, pattern=KEY_PATTERN), values=Text(max_length=MAX_TAG_VALUE_LENGTH),
        load_default=dict, validate=validate.Length(max=MAX_TAGS),
        metadata={"description": f"Tags (at most {MAX_TAGS}); keys follow the rules of POST /runs/{{run_id}}/log.",
                  "maxProperties": MAX_TAGS,
                  "propertyNames": {"pattern": KEY_PATTERN, "maxLength": MAX_KEY_LENGTH}},
    )


class RunUpdateSchema(Schema):
    status = fields.String(validate=validate.OneOf(RUN_STATUSES),
                           metadata={"description": "FINISHED, FAILED or KILLED end the run (end_time is set)."})
    status_reason = Text(allow_none=True, metadata={"description": "Why, e.g. why the run failed."})
    name = Text(max_length=256)


class MetricPointSchema(Schema):
    value = MetricValue(required=True)
    step = fields.Integer(required=True)
    timestamp = fields.Integer(required=True, metadata={"description": "Milliseconds since the epoch."})


class RunSchema(Schema):
    run_id = fields.String(required=True)
    name = fields.String(allow_none=True, required=True)
    experiment_id = fields.Integer(required=True)
    experiment = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(RUN_STATUSES))
    status_reason = fields.String(allow_none=True, required=True)
    start_time = Timestamp(allow_none=True, required=True)
    end_time = Timestamp(allow_none=True, required=True)
    created_by = fields.String(allow_none=True, required=True)
    created_at = Timestamp(required=True)
    params = _strings()
    tags = _strings()
    metrics = fields.Dict(keys=fields.String(), values=fields.Nested(MetricPointSchema), required=True,
                          metadata={"description": "The latest point of each metric (highest step, then time)."})


class RunDetailSchema(RunSchema):
    files = fields.List(fields.Nested(FileSchema), required=True)


_KEY = {"max_length": MAX_KEY_LENGTH, "pattern": KEY_PATTERN, "required": True}


class LoggedMetricSchema(Schema):
    key = Text(**_KEY)
    value = MetricValue(required=True)
    step = fields.Integer(strict=True, load_default=0, validate=validate.Range(min=-(2**63), max=2**63 - 1))
    timestamp = fields.Integer(strict=True, validate=validate.Range(min=0, max=2**63 - 1),
                               metadata={"description": "Milliseconds since the epoch; now when omitted."})


class LoggedParamSchema(Schema):
    key = Text(**_KEY)
    value = Text(max_length=MAX_PARAM_VALUE_LENGTH, required=True)


class LoggedTagSchema(Schema):
    key = Text(**_KEY)
    value = Text(max_length=MAX_TAG_VALUE_LENGTH, required=True)


class RunLogSchema(Schema):
    metrics = fields.List(fields.Nested(LoggedMetricSchema), load_default=list,
                          metadata={"maxItems": MAX_METRICS})
    params = fields.List(fields.Nested(LoggedParamSchema), load_default=list, metadata={"maxItems": MAX_PARAMS})
    tags = fields.List(fields.Nested(LoggedTagSchema), load_default=list, metadata={"maxItems": MAX_TAGS})


class MetricHistorySchema(Schema):
    key = fields.String(required=True)
    points = fields.List(fields.Nested(MetricPointSchema), required=True,
                         metadata={"description": "Ordered by step, then timestamp."})


class RunSearchQuerySchema(Schema):
    experiment = fields.List(Text(max_length=256, pattern=EXPERIMENT_NAME_PATTERN),
                             metadata={"description": "Experiment names (repeat for several); every one if omitted."})
    # Documented with the pattern, validated by the parser: its errors point at the offending token.
    filter = Text(max_length=4096, metadata={
        "pattern": FILTER_PATTERN,
        "description": "MLflow search syntax, e.g. metrics.val_accuracy > 0.9 AND params.model = 'bert'."})
    order_by = fields.List(Text(max_length=512, pattern=ORDER_BY_PATTERN), metadata={
        "description": "e.g. metrics.val_accuracy DESC (repeat for ties); newest first after those."})
    limit = fields.Integer(validate=validate.Range(min=1, max=MAX_RESULTS))
    page_token = Text(max_length=9, pattern=PAGE_TOKEN_PATTERN,
                      metadata={"description": "next_page_token from the previous page."})


class RunListSchema(Schema):
    runs = fields.List(fields.Nested(RunSchema), required=True)
    next_page_token = fields.String(allow_none=True, required=True)
