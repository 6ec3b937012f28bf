"""How the native API renders errors: one envelope, with each code's status from registry/http_status.py.

Use cases raise ``RegistryError(code, message, details)``; the handlers
registered by ``init_app`` turn that, werkzeug's HTTP errors, request
validation errors and dependency outages into the same JSON envelope:

    {"error": {"code": "...", "message": "...", "details": {...}}}
"""
import json
import logging
from http import HTTPStatus

import peewee
from flask import jsonify
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import ClientDisconnected
from werkzeug.exceptions import HTTPException

from ..domain.errors import RegistryError
from ..http_status import STATUS
from ..request_log import note_error

logger = logging.getLogger(__name__)

# werkzeug status -> our code, for errors raised by routing or by werkzeug.
_HTTP_STATUS_CODES = {
    400: "validation_error",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "uri_too_long",
    431: "headers_too_large",
    416: "range_not_satisfiable",
    422: "validation_error",
}


class ClientTooSlow(TimeoutError):
    """The client stopped sending (or reading) within the server's deadlines (see registry/http_worker.py)."""


def _headers(exc):
    """The HTTP headers that go with a domain error."""
    if exc.code == "unauthorized":
        return {"WWW-Authenticate": 'Bearer realm="registry"'}
    if exc.code == "idempotency_key_in_progress":
        return {"Retry-After": "5"}
    if exc.code == "range_not_satisfiable":
        return {"Content-Range": f"bytes */{exc.details['size']}"}
    return {}


def error_response(code, message, details=None, headers=None):
    note_error(code)
    body = {"code": code, "message": message}
    if details:
        body["details"] = details
    response = jsonify(error=body)
    response.status_code = STATUS[code]
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def raw_http_error(code, message, headers=None):
    """A whole HTTP/1.1 error response, for the server to write where the app never ran."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    status = STATUS[code]
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Connection: close",
             "Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _handle_registry_error(exc):
    if STATUS[exc.code] >= 500:
        logger.warning("%s: %s", exc.code, exc.message)
    return error_response(exc.code, exc.message, exc.details, _headers(exc))


def _handle_http_error(exc):
    code = _HTTP_STATUS_CODES.get(exc.code)
    if code is None:
        code = "validation_error" if exc.code < 500 else "internal_error"
    details = None
    # flask-smorest/webargs attach the field errors here.
    messages = (getattr(exc, "data", None) or {}).get("messages")
    if messages:
        details = _flatten_locations(messages)
        message = "The request is not valid; see details for each field."
    elif code == "not_found":
        message = "No such resource. Check the URL against /openapi.json."
    elif code == "method_not_allowed":
        message = "This URL does not accept that method."
    elif code == "payload_too_large":
        message = "The request body is too large."
    else:
        message = exc.description or "The request is not valid."
    headers = {}
    valid_methods = getattr(exc, "valid_methods", None)
    if valid_methods:
        headers["Allow"] = ", ".join(valid_methods)
    return error_response(code, message, details, headers)


def _flatten_locations(messages):
    # webargs nests errors by location ("json", "query"); callers care about fields.
    flat = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def database_unavailable_response():
    return error_response("database_unavailable", "The database is not answering; retry shortly.")


def _handle_database_error(exc):
    logger.warning("database error: %s", exc)
    return database_unavailable_response()


def _handle_malformed_body(exc):
    # gunicorn reports a broken chunked body while the view reads it.
    logger.info("malformed request body: %s", type(exc).__name__)
    return error_response(
        "validation_error",
        "The request body is malformed (bad chunked encoding); nothing was stored. Resend it.",
    )


def _handle_client_disconnected(exc):
    # werkzeug reports any failed body read this way; the worker's deadline is
    # what failed when the client was too slow.
    cause = exc.__context__
    logger.info("request body not received: %s", cause or "the connection closed")
    if isinstance(cause, ClientTooSlow):
        return error_response("request_timeout", f"The request body stalled: {cause}. Nothing was stored; resend it.")
    return error_response("validation_error", "The connection broke before the whole body arrived. "
                                              "Nothing was stored; resend it.")


def _handle_unexpected(exc):
    logger.exception("unhandled error")
    return error_response("internal_error", "Internal error; it has been logged.")


def init_app(app):
    app.register_error_handler(RegistryError, _handle_registry_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(peewee.OperationalError, _handle_database_error)
    app.register_error_handler(peewee.InterfaceError, _handle_database_error)
    app.register_error_handler(ParseException, _handle_malformed_body)
    app.register_error_handler(ClientDisconnected, _handle_client_disconnected)
    app.register_error_handler(Exception, _handle_unexpected)
