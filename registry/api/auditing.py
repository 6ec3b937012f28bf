"""/audit: the whole audit log for security reviews, and chain verification."""
from flask import current_app
from flask.views import MethodView

from ..domain import anchors
from ..domain import audit
from .parsing import Blueprint
from .schemas import AuditListSchema
from .schemas import AuditQuerySchema
from .schemas import AuditVerifySchema
from .security import principal
from .security import requires

blp = Blueprint("audit", __name__, description="The hash-chained audit log.")


@blp.route("/audit")
class AuditLog(MethodView):
    @requires("reader")
    @blp.arguments(AuditQuerySchema, location="query")
    @blp.response(200, AuditListSchema)
    def get(self, query):
        """Records oldest first, filtered by model, actor, action and time; paginated."""
        records, after = audit.read_log(
            principal(), model=query.get("model"), actor=query.get("actor"), action=query.get("action"),
            since=query.get("since"), until=query.get("until"),
            limit=query["limit"], after_id=int(query["page_token"]) if "page_token" in query else None,
        )
        return {"records": records, "next_page_token": None if after is None else str(after)}


@blp.route("/audit/verify")
class AuditVerify(MethodView):
    @requires("reader")
    @blp.response(200, AuditVerifySchema)
    def get(self):
        """Recompute the hash chain, compare it with the latest anchor; first_bad names the first record that fails."""
        return audit.verify_log(principal(), anchors.latest(current_app.extensions["registry_storage"]))
