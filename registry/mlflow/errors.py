"""How the MLflow surface renders errors: MLflow's envelope and codes.

    {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "..."}

MLflow's client retries 408, 429 and 5xx for minutes, so an error the
caller must fix is always a 4xx here; only an outage is a 503.
"""
import logging

import peewee
from flask import jsonify
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import ClientDisconnected
from werkzeug.exceptions import HTTPException

from ..domain.errors import RegistryError
from ..request_log import note_error

logger = logging.getLogger(__name__)

# domain code -> (MLflow error_code, HTTP status)
CODES = {
    "validation_error": ("INVALID_PARAMETER_VALUE", 400),
    "unauthorized": ("UNAUTHENTICATED", 401),
    "forbidden": ("PERMISSION_DENIED", 403),
    "not_found": ("RESOURCE_DOES_NOT_EXIST", 404),
    "already_exists": ("RESOURCE_ALREADY_EXISTS", 400),
    "artifact_exists": ("RESOURCE_ALREADY_EXISTS", 400),
    "path_conflict": ("INVALID_PARAMETER_VALUE", 400),
    "param_conflict": ("INVALID_PARAMETER_VALUE", 400),
    "invalid_transition": ("INVALID_PARAMETER_VALUE", 400),
    "model_in_use": ("INVALID_STATE", 400),
    "idempotency_key_in_progress": ("RESOURCE_CONFLICT", 409),
    "idempotency_key_reused": ("INVALID_PARAMETER_VALUE", 400),
    "payload_too_large": ("INVALID_PARAMETER_VALUE", 413),
    "range_not_satisfiable": ("INVALID_PARAMETER_VALUE", 416),
    "source_not_found": ("INVALID_PARAMETER_VALUE", 400),
    "storage_unavailable": ("TEMPORARILY_UNAVAILABLE", 503),
    "database_unavailable": ("TEMPORARILY_UNAVAILABLE", 503),
    "storage_full": ("RESOURCE_EXHAUSTED", 507),
}


def mlflow_error(error_code: str, message: str, status: int):
    note_error(error_code)
    response = jsonify(error_code=error_code, message=message)
    response.status_code = status
    return response


def _registry_error(exc):
    note_error(exc.code)
    error_code, status = CODES[exc.code]
    if status >= 500:
        logger.warning("%s: %s", exc.code, exc.message)
    response = mlflow_error(error_code, exc.message, status)
    if exc.code == "unauthorized":
        response.headers["WWW-Authenticate"] = 'Bearer realm="registry", Basic realm="registry"'
    return response


def _http_error(exc):
    if exc.code in (404, 405):
        return mlflow_error("ENDPOINT_NOT_FOUND", "This MLflow endpoint is not supported; see the README's list.", 404)
    if exc.code == 413:
        return mlflow_error("INVALID_PARAMETER_VALUE", "The request body is too large.", 413)
    if exc.code is not None and exc.code < 500:
        return mlflow_error("BAD_REQUEST", exc.description or "The request is not valid.", 400)
    return _unexpected(exc)


def _database_error(exc):
    note_error("database_unavailable")
    logger.warning("database error: %s", exc)
    return mlflow_error("TEMPORARILY_UNAVAILABLE", "The database is not answering; retry shortly.", 503)


def _broken_body(exc):
    logger.info("request body not received: %s", type(exc).__name__)
    return mlflow_error("BAD_REQUEST", "The request body broke off or is malformed; nothing was stored. Resend it.", 400)


def _unexpected(exc):
    logger.exception("unhandled error")
    return mlflow_error("INTERNAL_ERROR", "Internal error; it has been logged.", 500)


def init_blueprint(blueprint) -> None:
    """Every error raised while a request of ``blueprint`` runs is rendered in MLflow's envelope."""
    blueprint.register_error_handler(RegistryError, _registry_error)
    blueprint.register_error_handler(HTTPException, _http_error)
    blueprint.register_error_handler(peewee.OperationalError, _database_error)
    blueprint.register_error_handler(peewee.InterfaceError, _database_error)
    blueprint.register_error_handler(ParseException, _broken_body)
    blueprint.register_error_handler(ClientDisconnected, _broken_body)
    blueprint.register_error_handler(Exception, _unexpected)
