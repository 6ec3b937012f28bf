"""/gc: garbage collection of stored bytes, for admins (the same as `registry gc`)."""
from flask import current_app
from flask.views import MethodView

from ..domain import gc
from .parsing import Blueprint
from .schemas import GcReportSchema
from .schemas import GcRequestSchema
from .security import principal
from .security import requires

blp = Blueprint("maintenance", __name__, description="Storage upkeep for admins.")


@blp.route("/gc")
class GarbageCollection(MethodView):
    @requires("admin")
    @blp.arguments(GcRequestSchema, required=False)
    @blp.response(200, GcReportSchema)
    def post(self, body):
        """Remove stored bytes that no version or run file names, older than the grace period; report them.

        Safe while uploads and registrations run. Needs an admin token that is not limited to some models.
        """
        body = body or {}
        return gc.collect_garbage(principal(), current_app.extensions["registry_storage"],
                                  grace_seconds=body.get("grace_seconds", gc.DEFAULT_GRACE_SECONDS),
                                  dry_run=body.get("dry_run", False))
