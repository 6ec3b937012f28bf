"""/runs: training jobs create runs and upload their files."""
import time

from flask import current_app
from flask import request
from flask.views import MethodView

from ..domain import run_data
from ..domain import run_search
from ..domain import runs
from ..domain.values import MetricPoint
from . import params
from .idempotency import idempotent
from .parsing import Blueprint
from .schemas import FileListSchema
from .schemas import FileSchema
from .security import principal
from .security import requires
from .tracking_schemas import MetricHistorySchema
from .tracking_schemas import RunCreateSchema
from .tracking_schemas import RunDetailSchema
from .tracking_schemas import RunListSchema
from .tracking_schemas import RunLogSchema
from .tracking_schemas import RunSchema
from .tracking_schemas import RunSearchQuerySchema
from .tracking_schemas import RunUpdateSchema

blp = Blueprint("runs", __name__, description="Runs and the files they log.")

# Not required: an empty body is an empty file.
_RAW_BODY = {
    "required": False,
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


@blp.route("/runs")
class Runs(MethodView):
    @requires("reader")
    @blp.arguments(RunSearchQuerySchema, location="query")
    @blp.response(200, RunListSchema)
    def get(self, query):
        """Search runs: MLflow's filter syntax and order_by; newest first after the given order."""
        found, token = run_search.search_runs(
            principal(), experiments=query.get("experiment"), filter=query.get("filter"),
            order_by=query.get("order_by"), limit=query.get("limit", current_app.config["PAGE_SIZE"]),
            page_token=query.get("page_token"))
        return {"runs": found, "next_page_token": token}

    @idempotent
    @requires("writer")
    @blp.doc(parameters=[params.IDEMPOTENCY_KEY])
    @blp.arguments(RunCreateSchema, required=False)
    @blp.response(201, RunSchema)
    def post(self, body):
        """Create a run (RUNNING) in an experiment: the one named (created if missing), else Default."""
        return runs.create_run(principal(), name=body.get("name"), experiment=body.get("experiment"),
                               tags=body["tags"])


@blp.route("/runs/<run_id>", parameters=params.RUN)
class RunDetail(MethodView):
    @requires("reader")
    @blp.response(200, RunDetailSchema)
    def get(self, run_id):
        """A run with its params, tags, latest metrics and files."""
        return runs.get_run(principal(), run_id)

    @requires("writer")
    @blp.arguments(RunUpdateSchema, required=False)
    @blp.response(200, RunSchema)
    def patch(self, body, run_id):
        """End a run (status FINISHED, FAILED or KILLED, with a status_reason) or rename it."""
        return runs.update_run(principal(), run_id, status=body.get("status"),
                               status_reason=body.get("status_reason"), name=body.get("name"))


@blp.route("/runs/<run_id>/log", parameters=params.RUN)
class RunLog(MethodView):
    @requires("writer")
    @blp.arguments(RunLogSchema, required=False)
    @blp.response(200, RunSchema)
    def post(self, body, run_id):
        """Log up to 1000 metrics, 100 params and 100 tags at once, all or none. Params are write-once."""
        now = int(time.time() * 1000)
        metrics = tuple(MetricPoint(m["key"], m["value"], m["step"], m.get("timestamp", now)) for m in body["metrics"])
        batch = run_data.Batch(metrics=metrics, params=tuple((p["key"], p["value"]) for p in body["params"]),
                               tags=tuple((t["key"], t["value"]) for t in body["tags"]))
        run_data.log_batch(principal(), run_id, batch)
        return runs.get_run(principal(), run_id)


@blp.route("/runs/<run_id>/metrics/<path:key>", parameters=params.RUN_METRIC)
class MetricHistory(MethodView):
    @requires("reader")
    @blp.response(200, MetricHistorySchema)
    def get(self, run_id, key):
        """Every point of one metric, ordered by step, then timestamp."""
        return {"key": key, "points": run_data.metric_history(principal(), run_id, key)}


@blp.route("/runs/<run_id>/artifacts", parameters=params.RUN)
class RunArtifacts(MethodView):
    @requires("reader")
    @blp.response(200, FileListSchema)
    def get(self, run_id):
        """The run's files, sorted by path."""
        return {"files": runs.run_files(principal(), run_id)}


@blp.route("/runs/<run_id>/artifacts/<path:path>", parameters=params.RUN_FILE)
class RunArtifact(MethodView):
    @requires("writer")
    @blp.doc(requestBody=_RAW_BODY)
    @blp.response(201, FileSchema, description="Stored.")
    @blp.alt_response(200, schema=FileSchema, description="The same bytes were already stored at this path.")
    def put(self, run_id, path):
        """Upload one file (raw body, streamed). Identical re-uploads are safe."""
        limit = current_app.config["MAX_UPLOAD_BYTES"]
        request.max_content_length = limit
        artifact, created = runs.upload_artifact(
            principal(), current_app.extensions["registry_storage"], run_id, path, request.stream, limit,
            expected_size=request.content_length,
        )
        return artifact, 201 if created else 200
