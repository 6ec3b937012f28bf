"""The MLflow REST API: MLflow's wire format over the same use cases as the native API.

``MLFLOW_TRACKING_URI=http://host:5000`` with ``MLFLOW_TRACKING_TOKEN`` set to a
registry token makes MLflow client code run unchanged, with this service's
rules: the lifecycle, one Production, roles, the hash-chained audit log.
Errors use MLflow's envelope (errors.py); endpoints not implemented answer
404 ENDPOINT_NOT_FOUND in it.
"""
from flask import Blueprint

from . import artifacts
from . import model_registry
from . import tracking
from .errors import init_blueprint
from .errors import mlflow_error

_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
# Claims every other URL under the MLflow prefixes, so they answer in MLflow's envelope.
_unknown = Blueprint("mlflow_unknown", __name__)


@_unknown.route("/api/2.0/mlflow/<path:rest>", methods=_ALL_METHODS)
@_unknown.route("/api/2.0/mlflow-artifacts/<path:rest>", methods=_ALL_METHODS)
@_unknown.route("/api/3.0/mlflow/<path:rest>", methods=_ALL_METHODS)
@_unknown.route("/ajax-api/2.0/mlflow/<path:rest>", methods=_ALL_METHODS)
def endpoint_not_found(rest):
    return mlflow_error("ENDPOINT_NOT_FOUND", f"This MLflow endpoint is not supported: {rest}. "
                                              "The README lists those that are.", 404)


# One parent for the surface: its error handlers cover every MLflow view.
surface = Blueprint("mlflow", __name__)
init_blueprint(surface)
for _child in (tracking.blp, model_registry.blp, artifacts.blp, _unknown):
    surface.register_blueprint(_child)


def init_app(app) -> None:
    app.register_blueprint(surface)
