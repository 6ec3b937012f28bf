"""The audit log, newest first, filterable by model and actor, with the chain's verification at the top."""
from flask import current_app
from flask import render_template
from flask import request

from .. import chain_check
from ..authentication import browser_session
from ..authentication import principal
from ..domain import audit
from .blueprint import PAGE_SIZE
from .blueprint import bp


@bp.route("/audit")
@browser_session
def audit_log():
    me = principal()
    model = request.args.get("model", "").strip() or None
    actor = request.args.get("actor", "").strip() or None
    records, before = audit.read_log(me, model=model, actor=actor, limit=PAGE_SIZE, newest_first=True,
                                     before_id=request.args.get("before", type=int))
    report, walked_ago = chain_check.verification(current_app._get_current_object(), me)
    return render_template("audit.html", records=records, before=before, model=model or "", actor=actor or "",
                           report=report, walked_ago=walked_ago)
