"""/runs: training jobs create runs and upload their files."""
from flask import current_app
from flask import request
from flask.views import MethodView

from ..domain import runs
from ..schemas import FileListSchema
from ..schemas import FileSchema
from ..schemas import RunCreateSchema
from ..schemas import RunDetailSchema
from ..schemas import RunSchema
from . import params
from .idempotency import idempotent
from .parsing import Blueprint
from .security import principal
from .security import requires

blp = Blueprint("runs", __name__, description="Runs and the files they log.")

# Not required: an empty body is an empty file.
_RAW_BODY = {
    "required": False,
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


@blp.route("/runs")
class Runs(MethodView):
    @idempotent
    @requires("writer")
    @blp.doc(parameters=[params.IDEMPOTENCY_KEY])
    @blp.arguments(RunCreateSchema, required=False)
    @blp.response(201, RunSchema)
    def post(self, body):
        """Create a run."""
        return runs.create_run(principal(), name=body.get("name"), experiment=body.get("experiment"))


@blp.route("/runs/<run_id>", parameters=params.RUN)
class RunDetail(MethodView):
    @requires("reader")
    @blp.response(200, RunDetailSchema)
    def get(self, run_id):
        """A run with its files."""
        return runs.get_run(principal(), run_id)


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
