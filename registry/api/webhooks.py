"""/webhooks: admins register URLs for events; deliveries follow the audit log (registry/delivery/)."""
import dataclasses

from flask import current_app
from flask.views import MethodView

from ..delivery import sender
from ..domain import webhooks
from .parsing import Blueprint
from .security import principal
from .security import requires
from .webhook_schemas import DeliveryListQuerySchema
from .webhook_schemas import DeliveryListSchema
from .webhook_schemas import DeliverySchema
from .webhook_schemas import WebhookCreatedSchema
from .webhook_schemas import WebhookCreateSchema
from .webhook_schemas import WebhookListSchema
from .webhook_schemas import WebhookSchema
from .webhook_schemas import WebhookUpdateSchema

blp = Blueprint("webhooks", __name__, description="Signed webhooks for model events (admin role).")

_ID = {"in": "path", "name": "webhook_id", "description": "Webhook id.",
       "schema": {"type": "integer", "minimum": 1, "maximum": webhooks.MAX_ID}}
_DELIVERY = {"in": "path", "name": "delivery_id", "description": "Delivery id.",
             "schema": {"type": "integer", "minimum": 1, "maximum": webhooks.MAX_ID}}


def _box():
    return current_app.extensions["registry_secret_box"]


def _allow_private():
    return current_app.config["WEBHOOK_ALLOW_PRIVATE"]


@blp.route("/webhooks")
class Webhooks(MethodView):
    @requires("admin")
    @blp.response(200, WebhookListSchema)
    def get(self):
        """Every webhook within the caller's reach; never their secrets."""
        return {"webhooks": webhooks.list_webhooks(principal())}

    @requires("admin")
    @blp.arguments(WebhookCreateSchema)
    @blp.response(201, WebhookCreatedSchema)
    def post(self, body):
        """Create a webhook; the response is the only time its secret is shown."""
        hook, secret = webhooks.create_webhook(principal(), _box(), body["url"], body["events"], body["models"],
                                               body["secret"], body["description"], _allow_private())
        return dict(dataclasses.asdict(hook), secret=secret)


@blp.route("/webhooks/<int:webhook_id>", parameters=[_ID])
class WebhookDetail(MethodView):
    @requires("admin")
    @blp.response(200, WebhookSchema)
    def get(self, webhook_id):
        """One webhook."""
        return webhooks.get_webhook(principal(), webhook_id)

    @requires("admin")
    @blp.arguments(WebhookUpdateSchema, required=False)
    @blp.response(200, WebhookSchema)
    def patch(self, body, webhook_id):
        """Change the given fields."""
        return webhooks.update_webhook(principal(), _box(), webhook_id, allow_private=_allow_private(), **body)

    @requires("admin")
    @blp.response(204)
    def delete(self, webhook_id):
        """Delete the webhook and its deliveries."""
        webhooks.delete_webhook(principal(), webhook_id)


@blp.route("/webhooks/<int:webhook_id>/test", parameters=[_ID])
class WebhookTest(MethodView):
    @requires("admin")
    @blp.response(200, DeliverySchema)
    def post(self, webhook_id):
        """Send a signed `ping` now and return how it went."""
        allow = _allow_private()
        return webhooks.ping(principal(), _box(), webhook_id,
                             lambda *args: sender.send(*args, allow_private=allow))


@blp.route("/webhooks/<int:webhook_id>/deliveries", parameters=[_ID])
class Deliveries(MethodView):
    @requires("admin")
    @blp.arguments(DeliveryListQuerySchema, location="query")
    @blp.response(200, DeliveryListSchema)
    def get(self, query, webhook_id):
        """Deliveries newest first, each with every attempt: status code, latency, error; and the next retry."""
        found, following = webhooks.list_deliveries(principal(), webhook_id, query.get("status"), query["limit"],
                                                    query.get("before"))
        return {"deliveries": found, "next_before": following}


@blp.route("/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver", parameters=[_ID, _DELIVERY])
class Redeliver(MethodView):
    @requires("admin")
    @blp.response(200, DeliverySchema)
    def post(self, webhook_id, delivery_id):
        """Queue a delivery again now, with a fresh retry window (e.g. one marked failed)."""
        return webhooks.redeliver(principal(), webhook_id, delivery_id)
