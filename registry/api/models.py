"""/models: create, browse, describe and delete registered models."""
from flask import current_app
from flask.views import MethodView

from ..domain import service
from . import params
from .idempotency import idempotent
from .parsing import Blueprint
from .schemas import ModelCreateSchema
from .schemas import ModelListQuerySchema
from .schemas import ModelListSchema
from .schemas import ModelSchema
from .schemas import ModelUpdateSchema
from .security import principal
from .security import requires

blp = Blueprint("models", __name__, description="Registered models.")


@blp.route("/models")
class Models(MethodView):
    @requires("reader")
    @blp.arguments(ModelListQuerySchema, location="query")
    @blp.response(200, ModelListSchema)
    def get(self, query):
        """Models ordered by name; follow next_page_token for more."""
        models, token = service.list_models(
            principal(),
            query=query.get("q"),
            limit=query.get("limit", current_app.config["PAGE_SIZE"]),
            page_token=query.get("page_token"),
        )
        return {"models": models, "next_page_token": token}

    @idempotent
    @requires("writer")
    @blp.doc(parameters=[params.IDEMPOTENCY_KEY])
    @blp.arguments(ModelCreateSchema)
    @blp.response(201, ModelSchema)
    def post(self, body):
        """Create a model (registering a version also creates it)."""
        return service.create_model(principal(), body["name"], body["description"], body["tags"])


@blp.route("/models/<name>", parameters=params.MODEL)
class ModelDetail(MethodView):
    @requires("reader")
    @blp.response(200, ModelSchema)
    def get(self, name):
        """One model."""
        return service.get_model(principal(), name)

    @requires("writer")
    @blp.arguments(ModelUpdateSchema, required=False)
    @blp.response(200, ModelSchema)
    def patch(self, body, name):
        """Change the description and/or replace the tags."""
        return service.update_model(principal(), name, body.get("description"), body.get("tags"))

    @requires("maintainer")
    @blp.response(204)
    def delete(self, name):
        """Delete a model and its versions (its history stays); refused while a version is in Staging or Production."""
        service.delete_model(principal(), name)
