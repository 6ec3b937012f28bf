"""MLflow's model registry endpoints: registered models, versions, stages, aliases, tags.

Every call goes through the same use cases as the native API, so the
lifecycle, one Production, roles, model patterns and the audit log apply.
The model name arrives in the body here; the use cases check access to it.
"""
import re

from flask import Blueprint
from flask import jsonify

from ..authentication import principal
from ..domain import aliases
from ..domain import logged_models
from ..domain import model_edits
from ..domain import service
from ..domain.errors import RegistryError
from . import requests as rq
from . import wire

blp = Blueprint("mlflow_registry", __name__, url_prefix="/api/2.0/mlflow")

_ARTIFACTS_SOURCE = re.compile(r"^mlflow-artifacts:/+[0-9]+/([0-9a-f]{32})/artifacts(?:/(.*?))?/?$")
_LOGGED_MODEL_SOURCE = re.compile(r"^models:/(m-[0-9a-f]{32})/?$")


def _model_json(model):
    return wire.registered_model(model, model_edits.latest_versions(principal(), model.name))


# --- registered models ---------------------------------------------------------

@blp.route("/registered-models/create", methods=["POST"])
def create_registered_model():
    data = rq.body()
    created = service.create_model(principal(), rq.text(data, "name"), rq.text(data, "description", required=False,
                                                                           default=""), rq.key_values(data, "tags"))
    return jsonify(registered_model=_model_json(created))


@blp.route("/registered-models/get", methods=["GET"])
def get_registered_model():
    return jsonify(registered_model=_model_json(service.get_model(principal(), rq.text(rq.body(), "name"))))


@blp.route("/registered-models/update", methods=["PATCH"])
def update_registered_model():
    data = rq.body()
    updated = service.update_model(principal(), rq.text(data, "name"),
                                   description=rq.text(data, "description", required=False))
    return jsonify(registered_model=_model_json(updated))


@blp.route("/registered-models/rename", methods=["POST"])
def rename_registered_model():
    data = rq.body()
    renamed = model_edits.rename_model(principal(), rq.text(data, "name"), rq.text(data, "new_name"))
    return jsonify(registered_model=_model_json(renamed))


@blp.route("/registered-models/delete", methods=["DELETE"])
def delete_registered_model():
    service.delete_model(principal(), rq.text(rq.body(), "name"))
    return jsonify({})


_NAME_FILTER = re.compile(r"^\s*name\s*(=|LIKE|ILIKE)\s*'([^']*)'\s*$", re.IGNORECASE)


@blp.route("/registered-models/search", methods=["GET"])
def search_registered_models():
    data = rq.body()
    matches = _name_matcher(rq.text(data, "filter", required=False))
    models, token = service.list_models(principal(), limit=min(rq.integer(data, "max_results", default=100), 1000),
                                        page_token=rq.text(data, "page_token", required=False))
    result = {"registered_models": [_model_json(m) for m in models if matches(m.name)]}
    if token:
        result["next_page_token"] = token
    return jsonify(result)


def _name_matcher(text):
    """MLflow's model filter: name = '...', name LIKE '...' or name ILIKE '...'."""
    if not text:
        return lambda name: True
    match = _NAME_FILTER.match(text)
    if match is None:
        raise RegistryError("validation_error", f"Unsupported filter {text!r}: use name = '...', name LIKE '...' "
                                                "or name ILIKE '...'.")
    op, value = match.group(1).upper(), match.group(2)
    if op == "=":
        return lambda name: name == value
    pattern = re.compile("^" + "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in value) + "$",
                         re.IGNORECASE if op == "ILIKE" else 0)
    return lambda name: bool(pattern.match(name))


@blp.route("/registered-models/get-latest-versions", methods=["GET", "POST"])
def get_latest_versions():
    data = rq.body()
    found = model_edits.latest_versions(principal(), rq.text(data, "name"), rq.strings(data, "stages") or None)
    return jsonify(model_versions=[wire.model_version(v) for v in found])


@blp.route("/registered-models/set-tag", methods=["POST"])
def set_registered_model_tag():
    data = rq.body()
    model_edits.set_model_tag(principal(), rq.text(data, "name"), rq.text(data, "key"),
                              rq.text(data, "value", required=False, default=""))
    return jsonify({})


@blp.route("/registered-models/delete-tag", methods=["DELETE"])
def delete_registered_model_tag():
    data = rq.body()
    model_edits.set_model_tag(principal(), rq.text(data, "name"), rq.text(data, "key"), None)
    return jsonify({})


@blp.route("/registered-models/alias", methods=["POST"])
def set_alias():
    data = rq.body()
    aliases.set_alias(principal(), rq.text(data, "name"), rq.text(data, "alias"), rq.version_number(data))
    return jsonify({})


@blp.route("/registered-models/alias", methods=["DELETE"])
def delete_alias():
    data = rq.body()
    aliases.delete_alias(principal(), rq.text(data, "name"), rq.text(data, "alias"))
    return jsonify({})


@blp.route("/registered-models/alias", methods=["GET"])
def get_version_by_alias():
    data = rq.body()
    version = service.get_version(principal(), rq.text(data, "name"), "@" + rq.text(data, "alias"))
    return jsonify(model_version=wire.model_version(version))


# --- model versions ----------------------------------------------------------

def native_source(principal_, source: str, model_id: str | None) -> str:
    """The runs:/ or models:/ source an MLflow client's source names.

    MLflow sends the run's artifact folder (mlflow-artifacts:/<exp>/<run>/artifacts/<path>), a
    logged model (models:/m-...), or a runs:/ or models:/<name>/<version> URI as is.
    """
    artifacts = _ARTIFACTS_SOURCE.match(source)
    if artifacts:
        run_id, path = artifacts.groups()
        return f"runs:/{run_id}/{path}" if path else f"runs:/{run_id}"
    logged = _LOGGED_MODEL_SOURCE.match(source)
    if logged:
        return logged_models.get_logged_model(principal_, logged.group(1)).source
    if model_id and not source.startswith(("runs:/", "models:/")):
        return logged_models.get_logged_model(principal_, model_id).source
    return source


@blp.route("/model-versions/create", methods=["POST"])
def create_model_version():
    data = rq.body()
    source = native_source(principal(), rq.text(data, "source"), rq.text(data, "model_id", required=False))
    version = service.register_version(principal(), rq.text(data, "name"), source,
                                       rq.text(data, "description", required=False, default=""),
                                       rq.key_values(data, "tags"))
    return jsonify(model_version=wire.model_version(version))


@blp.route("/model-versions/get", methods=["GET"])
def get_model_version():
    data = rq.body()
    version = service.get_version(principal(), rq.text(data, "name"), rq.version_number(data))
    return jsonify(model_version=wire.model_version(version))


@blp.route("/model-versions/update", methods=["PATCH"])
def update_model_version():
    data = rq.body()
    version = service.update_version(principal(), rq.text(data, "name"), rq.version_number(data),
                                     description=rq.text(data, "description", required=False))
    return jsonify(model_version=wire.model_version(version))


@blp.route("/model-versions/delete", methods=["DELETE"])
def delete_model_version():
    data = rq.body()
    model_edits.delete_version(principal(), rq.text(data, "name"), rq.version_number(data))
    return jsonify({})


@blp.route("/model-versions/transition-stage", methods=["POST"])
def transition_stage():
    data = rq.body()
    # archive_existing_versions is accepted and not needed: promoting to Production
    # always archives the version it replaces, with the cause recorded.
    rq.flag(data, "archive_existing_versions")
    version, _ = service.transition(principal(), rq.text(data, "name"), rq.version_number(data),
                                    rq.text(data, "stage"), rq.text(data, "comment", required=False, default=""))
    return jsonify(model_version=wire.model_version(version))


@blp.route("/model-versions/get-download-uri", methods=["GET"])
def get_download_uri():
    data = rq.body()
    version = service.get_version(principal(), rq.text(data, "name"), rq.version_number(data))
    return jsonify(artifact_uri=wire.version_artifact_uri(version.name, version.version))


_VERSION_FILTER = re.compile(r"^\s*(name|run_id)\s*=\s*'([^']*)'\s*$", re.IGNORECASE)


@blp.route("/model-versions/search", methods=["GET"])
def search_model_versions():
    data = rq.body()
    text = rq.text(data, "filter", required=False) or ""
    wanted = {}
    for clause in filter(None, re.split(r"\s+AND\s+", text, flags=re.IGNORECASE)):
        match = _VERSION_FILTER.match(clause)
        if match is None:
            raise RegistryError("validation_error", f"Unsupported filter {text!r}: use name = '...' and/or "
                                                    "run_id = '...'.")
        wanted[match.group(1).lower()] = match.group(2)
    if "name" not in wanted:
        raise RegistryError("validation_error", "Search model versions with name = '<model>' in the filter.")
    versions = service.list_versions(principal(), wanted["name"])
    if "run_id" in wanted:
        versions = [v for v in versions if v.run_id == wanted["run_id"]]
    limit = min(rq.integer(data, "max_results", default=10000), 200000)
    return jsonify(model_versions=[wire.model_version(v) for v in versions[:limit]])


@blp.route("/model-versions/set-tag", methods=["POST"])
def set_model_version_tag():
    data = rq.body()
    model_edits.set_version_tag(principal(), rq.text(data, "name"), rq.version_number(data), rq.text(data, "key"),
                                rq.text(data, "value", required=False, default=""))
    return jsonify({})


@blp.route("/model-versions/delete-tag", methods=["DELETE"])
def delete_model_version_tag():
    data = rq.body()
    model_edits.set_version_tag(principal(), rq.text(data, "name"), rq.version_number(data), rq.text(data, "key"), None)
    return jsonify({})
