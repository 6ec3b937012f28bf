"""Liveness and readiness probes."""
import logging

from flask import Response
from flask import current_app
from flask.views import MethodView

from .. import metrics
from ..authentication import metrics_scrape
from ..db import database
from ..domain.errors import RegistryError
from ..domain.errors import StorageFull
from .parsing import Blueprint
from .schemas import HealthSchema
from .schemas import ReadinessSchema
from .security import principal
from .security import public

logger = logging.getLogger(__name__)

blp = Blueprint("operations", __name__, description="Probes for orchestrators and load balancers.")


@blp.route("/healthz")
class Health(MethodView):
    @public
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    def get(self):
        """The process is up (checks nothing else)."""
        return {"status": "ok"}


@blp.route("/metrics")
class Metrics(MethodView):
    @metrics_scrape
    @blp.doc(responses={"200": {"description": "Prometheus text exposition format.",
                                "content": {"text/plain": {"schema": {"type": "string"}}}}},
             description="Needs a token with the metrics role, or an admin token for every model. With "
                         "REGISTRY_METRICS_PORT set, served only on that port, without a token.")
    def get(self):
        """Request counts, latency, bytes, dependency errors; models, versions per stage, stage moves, audit chain."""
        return Response(metrics.render(current_app._get_current_object(), principal()),
                        content_type=metrics.CONTENT_TYPE)


@blp.route("/readyz")
class Readiness(MethodView):
    @public
    @blp.doc(security=[])
    @blp.response(200, ReadinessSchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self):
        """The database and blob storage both answer, and storage takes writes; 503 names the one that does not."""
        checks = {"database": _check_database(), "storage": _check_storage()}
        down = [name for name, state in checks.items() if state != "ok"]
        if down:
            raise RegistryError(
                f"{down[0]}_unavailable",
                "Not ready: " + "; ".join(f"{name}: {checks[name]}" for name in down),
                {"checks": checks},
            )
        return {"status": "ok", "checks": checks}


def _check_database():
    try:
        database.execute_sql("SELECT 1")
    except Exception as exc:  # any failure means "not ready", and is reported
        logger.warning("readiness: database: %s", exc)
        return "unavailable"
    return "ok"


def _check_storage():
    try:
        current_app.extensions["registry_storage"].check()
    except StorageFull as exc:
        return f"not writable ({exc.message})"
    except RegistryError as exc:
        return f"unavailable ({exc.message})"
    return "ok"
