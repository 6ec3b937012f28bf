"""MLflow's artifact proxy (/api/2.0/mlflow-artifacts/artifacts), over the run and version files.

Two trees live under it:

    <experiment_id>/<run_id>/artifacts/<path>   a run's files: list, upload (write-once), download
    registered/<model>/<version>/<path>         a registered version's files: list, download

Uploads and downloads stream; nothing holds a whole file in memory.
"""
import re

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request

from ..authentication import principal
from ..domain import blobs
from ..domain import runs
from ..domain import service
from ..domain.errors import RegistryError
from ..domain.names import check_artifact_path
from . import requests as rq
from .wire import VERSIONS_ROOT

blp = Blueprint("mlflow_artifacts", __name__, url_prefix="/api/2.0/mlflow-artifacts")

_RUN_TREE = re.compile(r"^([0-9]{1,9})/([0-9a-f]{32})/artifacts(?:/(.*))?$")
_VERSION_TREE = re.compile(rf"^{VERSIONS_ROOT}/([^/]+)/([0-9]{{1,10}})(?:/(.*))?$")


def _storage():
    return current_app.extensions["registry_storage"]


def _files(location):
    """(files as (path, size, sha256), the path inside them, the run id or None) for an artifact location."""
    run = _RUN_TREE.match(location)
    if run:
        experiment_id, run_id, inner = run.groups()
        found = runs.get_run(principal(), run_id)
        if str(found.experiment_id) != experiment_id:
            raise RegistryError("not_found", f"Run {run_id} is not in experiment {experiment_id}.")
        return found.files, inner or "", run_id
    version = _VERSION_TREE.match(location)
    if version:
        name, number, inner = version.groups()
        return service.get_version(principal(), name, number).files, inner or "", None
    raise RegistryError("not_found", f"No artifacts at {location!r}: paths are <experiment>/<run>/artifacts/... "
                                     f"or {VERSIONS_ROOT}/<model>/<version>/...")


@blp.route("/artifacts", methods=["GET"])
def list_artifacts():
    location = (rq.text(rq.body(), "path", required=False) or "").strip("/")
    files, inner, _ = _files(location)
    prefix = inner + "/" if inner else ""
    children: dict = {}
    for f in files:
        if not f.path.startswith(prefix):
            continue
        head, _, rest = f.path[len(prefix):].partition("/")
        children[head] = {"path": head, "is_dir": True} if rest else {"path": head, "is_dir": False,
                                                                      "file_size": str(f.size)}
    return jsonify(files=[children[k] for k in sorted(children)])


@blp.route("/artifacts/<path:location>", methods=["GET"])
def download_artifact(location):
    files, inner, _ = _files(location)
    check_artifact_path(inner)
    for f in files:
        if f.path == inner:
            body = blobs.open_file(_storage(), f.sha256, offset=0, length=f.size)
            return Response(body, headers={"Content-Length": str(f.size), "ETag": f'"{f.sha256}"'},
                            mimetype="application/octet-stream", direct_passthrough=True)
    raise RegistryError("not_found", f"No file {inner!r} at {location!r}.")


@blp.route("/artifacts/<path:location>", methods=["PUT"])
def upload_artifact(location):
    run = _RUN_TREE.match(location)
    if run is None or not run.group(3):
        raise RegistryError("validation_error", "Uploads go to <experiment>/<run>/artifacts/<path>; registered "
                                                "versions are read-only.")
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    request.max_content_length = limit
    runs.upload_artifact(principal(), _storage(), run.group(2), run.group(3), request.stream, limit,
                         expected_size=request.content_length)
    return jsonify({})
