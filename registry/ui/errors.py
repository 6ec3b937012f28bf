"""How the UI renders domain errors: a page with the message, or the sign-in page.

Statuses are the native API's (registry/http_status.py), so a refused action
is a real 403 or 409 to the browser and to anything scripting it, not a 200 page.
"""
import logging
from urllib.parse import quote

import peewee
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.exceptions import HTTPException

from ..domain.errors import RegistryError
from ..http_status import STATUS
from ..request_log import note_error

logger = logging.getLogger(__name__)


OUTAGES = ("storage_unavailable", "database_unavailable", "storage_full")


def error_page(message: str, status: int):
    return render_template("error.html", message=message, status=status), status


def _registry_error(exc):
    note_error(exc.code)
    if exc.code == "unauthorized":
        # The page asked for comes back after sign-in; only its path, never a token.
        target = request.full_path if request.method == "GET" else request.path
        return redirect(url_for("ui.signin") + "?next=" + quote(target.rstrip("?"), safe="/"), 303)
    if exc.code in OUTAGES:
        logger.warning("%s: %s", exc.code, exc.message)
    return error_page(exc.message, STATUS[exc.code])


def _database_error(exc):
    note_error("database_unavailable")
    logger.warning("database error: %s", exc)
    return error_page("The database is not answering; retry shortly.", 503)


def _http_error(exc):
    return error_page(exc.description or exc.name, exc.code or 500)


def _unexpected(exc):
    note_error("internal_error")
    logger.exception("unhandled error")
    return error_page("Internal error; it has been logged.", 500)


def init_blueprint(bp) -> None:
    bp.register_error_handler(RegistryError, _registry_error)
    bp.register_error_handler(peewee.OperationalError, _database_error)
    bp.register_error_handler(peewee.InterfaceError, _database_error)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(Exception, _unexpected)
