"""/models/<name>/versions: register, inspect, and move versions through the lifecycle."""
from flask import url_for
from flask.views import MethodView

from ..domain import audit
from ..domain import freshness
from ..domain import service
from . import params
from .fast_reads import fast_read
from .idempotency import idempotent
from .parsing import Blueprint
from .schemas import HistorySchema
from .schemas import TransitionRequestSchema
from .schemas import TransitionResultSchema
from .schemas import VersionAtQuerySchema
from .schemas import VersionCreateSchema
from .schemas import VersionListQuerySchema
from .schemas import VersionListSchema
from .schemas import VersionSchema
from .schemas import VersionUpdateSchema
from .security import principal
from .security import requires

blp = Blueprint("versions", __name__, description="Model versions, their lifecycle and history.")


@blp.route("/models/<name>/versions", parameters=params.MODEL)
class Versions(MethodView):
    @requires("reader")
    @blp.arguments(VersionListQuerySchema, location="query")
    @blp.response(200, VersionListSchema)
    def get(self, query, name):
        """Versions, newest first."""
        return {"versions": service.list_versions(principal(), name, query.get("stage"))}

    @idempotent
    @requires("writer")
    @blp.doc(parameters=[params.IDEMPOTENCY_KEY])
    @blp.arguments(VersionCreateSchema)
    @blp.response(201, VersionSchema, headers={"Location": {"schema": {"type": "string"}}})
    def post(self, body, name):
        """Register a version from runs:/<run_id>/<path> or models:/<name>/<ref>; creates the model if needed."""
        version = service.register_version(principal(), name, body["source"], body["description"], body["tags"])
        location = url_for("versions.VersionDetail", name=name, ref=str(version.version))
        return version, 201, {"Location": location}


@blp.route("/models/<name>/versions/<ref>", parameters=params.VERSION)
class VersionDetail(MethodView):
    @fast_read(service.get_version, VersionSchema, freshness.VERSION)  # what deployment jobs poll; see fast_reads.py
    @requires("reader")
    @blp.arguments(VersionAtQuerySchema, location="query")
    @blp.response(200, VersionSchema)
    def get(self, query, name, ref):
        """One version; with ?at=, the version the ref named at that time."""
        if query.get("at") is not None:
            return service.get_version_at(principal(), name, ref, query["at"])
        return service.get_version(principal(), name, ref)

    @requires("writer")
    @blp.arguments(VersionUpdateSchema, required=False)
    @blp.response(200, VersionSchema)
    def patch(self, body, name, ref):
        """Change the description and/or replace the tags; files never change."""
        return service.update_version(principal(), name, ref, body.get("description"), body.get("tags"))


@blp.route("/models/<name>/versions/<ref>/transitions", parameters=params.VERSION)
class Transitions(MethodView):
    @idempotent
    @requires("reader")  # the use case checks writer or maintainer, depending on the move
    @blp.doc(parameters=[params.IDEMPOTENCY_KEY])
    @blp.arguments(TransitionRequestSchema)
    @blp.response(201, TransitionResultSchema)
    def post(self, body, name, ref):
        """Move the version to another stage; promoting archives the previous Production version."""
        version, records = service.transition(principal(), name, ref, body["stage"], body["comment"])
        return {"version": version, "transitions": records}


@blp.route("/models/<name>/versions/<ref>/history", parameters=params.VERSION)
class VersionHistory(MethodView):
    @requires("reader")
    @blp.response(200, HistorySchema)
    def get(self, name, ref):
        """The version's audit records, oldest first."""
        return {"transitions": audit.history(principal(), name, ref)}


@blp.route("/models/<name>/history", parameters=params.MODEL)
class ModelHistory(MethodView):
    @requires("reader")
    @blp.response(200, HistorySchema)
    def get(self, name):
        """Every audit record of the model, oldest first (kept after the model is deleted)."""
        return {"transitions": audit.history(principal(), name)}
