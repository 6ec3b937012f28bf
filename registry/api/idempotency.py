"""The Idempotency-Key header, on the views that declare ``@idempotent``.

The claim, the view's work and the remembered answer share one database
transaction (see registry/idempotency.py): opened before the view, committed
after it with the answer, rolled back on a server error or a crash.
"""
import logging

import peewee
from flask import Response
from flask import current_app
from flask import g
from flask import request

from .. import idempotency
from ..declarations import declared
from .errors import database_unavailable_response

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
# Any database error while recording or committing: neither work nor answer is kept.
_DATABASE_ERRORS = (peewee.DatabaseError, peewee.InterfaceError)


def idempotent(view):
    """View decorator (outermost): a POST that accepts Idempotency-Key."""
    view.idempotent = True
    return view


def _claim():
    key = request.headers.get(HEADER)
    if key is None or request.url_rule is None or not declared("idempotent"):
        return None
    idempotency.check_key(key)
    request_hash = idempotency.fingerprint(request.method, request.path, request.query_string.decode("latin-1"),
                                           request.get_data(cache=True))
    wait = current_app.config["IDEMPOTENCY_WAIT_SECONDS"]
    transaction = idempotency.begin_transaction(wait)
    g.idempotency = [transaction, None]
    outcome, record = idempotency.claim(g.principal.token_id, key, request_hash, wait)
    if outcome == idempotency.REPLAY:
        return _replay(record)
    g.idempotency[1] = record
    return None


def _replay(record):
    headers = {"Idempotent-Replayed": "true"}
    if record.location:
        headers["Location"] = record.location
    return Response(record.body, status=record.status, headers=headers, mimetype="application/json")


def _remember(response):
    transaction, record = g.pop("idempotency", (None, None))
    if transaction is None:
        return response
    commit = record is not None and response.status_code < 500
    try:
        if commit:
            idempotency.finish(record, response.status_code, response.get_data(as_text=True),
                               response.headers.get("Location"))
    except _DATABASE_ERRORS as exc:
        logger.warning("database error remembering a keyed answer: %s", exc)
        commit, response = False, database_unavailable_response()
    try:
        idempotency.end_transaction(transaction, commit)
    except _DATABASE_ERRORS as exc:
        # The connection is gone, and the transaction with it: neither the work
        # nor the answer was kept, so the retry runs again.
        logger.warning("database error ending a keyed request: %s", exc)
        response = database_unavailable_response()
    return response


def _release(exc):
    transaction, _ = g.pop("idempotency", (None, None))
    if transaction is None:  # answered (or never claimed)
        return
    try:
        idempotency.end_transaction(transaction, commit=False)
    except _DATABASE_ERRORS as error:
        logger.warning("rolling back a keyed request failed: %s", error)


def init_app(app):
    # Registered after authentication, so g.principal is set when this runs.
    app.before_request(_claim)
    app.after_request(_remember)
    app.teardown_request(_release)
