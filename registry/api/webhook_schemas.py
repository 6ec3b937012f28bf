"""Request and response bodies of /webhooks."""
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from ..domain.auth import MODEL_PATTERN_PATTERN
from ..domain.webhook_targets import MAX_URL
from ..domain.webhook_targets import URL_PATTERN
from ..domain.webhooks import EVENTS
from ..domain.webhooks import MAX_DELIVERIES
from ..domain.webhooks import MAX_DESCRIPTION
from ..domain.webhooks import MAX_ID
from ..domain.webhooks import SECRET_PATTERN
from .schemas import StrictBoolean
from .schemas import Timestamp

_URL = {"description": "An http(s) URL. Loopback, link-local and private addresses are refused (also after "
                       "resolution, at each delivery) unless REGISTRY_WEBHOOK_ALLOW_PRIVATE=1."}
_EVENTS = {"description": "Events to send, each once: " + ", ".join(EVENTS) + ".", "uniqueItems": True}
_MODELS = {"description": "Model name patterns (fnmatch); empty means every model."}


class WebhookCreateSchema(Schema):
    url = fields.String(required=True, validate=[validate.Length(min=1, max=MAX_URL), validate.Regexp(URL_PATTERN)],
                        metadata=_URL)
    events = fields.List(fields.String(validate=validate.OneOf(EVENTS)), required=True,
                         validate=validate.Length(min=1, max=len(EVENTS)), metadata=_EVENTS)
    models = fields.List(fields.String(validate=validate.Regexp(MODEL_PATTERN_PATTERN)), load_default=list,
                         validate=validate.Length(max=100), metadata=_MODELS)
    secret = fields.String(load_default=None, validate=validate.Regexp(SECRET_PATTERN),
                           metadata={"description": "The signing secret; generated when not given."})
    description = fields.String(load_default="", validate=validate.Length(max=MAX_DESCRIPTION))


class WebhookUpdateSchema(Schema):
    url = fields.String(validate=[validate.Length(min=1, max=MAX_URL), validate.Regexp(URL_PATTERN)], metadata=_URL)
    events = fields.List(fields.String(validate=validate.OneOf(EVENTS)),
                         validate=validate.Length(min=1, max=len(EVENTS)), metadata=_EVENTS)
    models = fields.List(fields.String(validate=validate.Regexp(MODEL_PATTERN_PATTERN)),
                         validate=validate.Length(max=100), metadata=_MODELS)
    secret = fields.String(validate=validate.Regexp(SECRET_PATTERN),
                           metadata={"description": "A new signing secret, used from the next attempt on."})
    description = fields.String(validate=validate.Length(max=MAX_DESCRIPTION))
    active = StrictBoolean(metadata={"description": "false: queue no new events for it."})


class WebhookSchema(Schema):
    id = fields.Integer(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    models = fields.List(fields.String(), required=True)
    description = fields.String(required=True)
    active = fields.Boolean(required=True)
    created_by = fields.String(required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(required=True, metadata={"description": "Shown once; store it with the receiver."})


class WebhookListSchema(Schema):
    webhooks = fields.List(fields.Nested(WebhookSchema), required=True)


class AttemptSchema(Schema):
    attempted_at = Timestamp(required=True)
    status_code = fields.Integer(allow_none=True, required=True)
    latency_ms = fields.Float(required=True)
    error = fields.String(allow_none=True, required=True)


class DeliverySchema(Schema):
    id = fields.Integer(required=True, metadata={"description": "Sent as X-Registry-Delivery; the same on retries."})
    webhook_id = fields.Integer(required=True)
    event_id = fields.Integer(allow_none=True, required=True,
                              metadata={"description": "The audit record's id (null for a ping)."})
    event = fields.String(required=True)
    model = fields.String(allow_none=True, required=True)
    status = fields.String(required=True, validate=validate.OneOf(("pending", "delivered", "failed")))
    attempts = fields.List(fields.Nested(AttemptSchema), required=True)
    next_attempt_at = Timestamp(allow_none=True, required=True)
    created_at = Timestamp(required=True)
    delivered_at = Timestamp(allow_none=True, required=True)


class DeliveryListQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(("pending", "delivered", "failed")))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_DELIVERIES))
    before = fields.Integer(validate=validate.Range(min=1, max=MAX_ID),
                            metadata={"description": "next_before of the previous page."})


class DeliveryListSchema(Schema):
    deliveries = fields.List(fields.Nested(DeliverySchema), required=True)
    next_before = fields.Integer(allow_none=True, required=True)
