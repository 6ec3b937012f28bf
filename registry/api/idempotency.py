"""The Idempotency-Key header on the POSTs that create or change something."""
from flask import Response, current_app, g, request

from .. import idempotency

# Not POST /tokens: replaying it would mean storing the token it returned.
_ENDPOINTS = {"runs.Runs", "models.Models", "versions.Versions", "versions.Transitions"}
HEADER = "Idempotency-Key"


def _claim():
    key = request.headers.get(HEADER)
    if key is None or request.method != "POST" or request.endpoint not in _ENDPOINTS:
        return None
    idempotency.check_key(key)
    request_hash = idempotency.fingerprint(request.method, request.path, request.query_string.decode("latin-1"),
                                           request.get_data(cache=True))
    outcome, record = idempotency.begin(g.principal.token_id, key, request_hash,
                                        wait_seconds=current_app.config["IDEMPOTENCY_WAIT_SECONDS"])
    if outcome == idempotency.REPLAY:
        headers = {"Idempotent-Replayed": "true"}
        if record.location:
            headers["Location"] = record.location
        return Response(record.body, status=record.status, headers=headers, mimetype="application/json")
    g.idempotency_record = record
    return None


def _remember(response):
    record = g.pop("idempotency_record", None)
    if record is not None:
        if response.status_code >= 500:
            idempotency.abandon(record)
        else:
            idempotency.finish(record, response.status_code, response.get_data(as_text=True),
                               response.headers.get("Location"))
    return response


def _release(exc):
    record = g.pop("idempotency_record", None)
    if record is not None:  # the response was never made
        idempotency.abandon(record)


def init_app(app):
    # Registered after authentication, so g.principal is set when this runs.
    app.before_request(_claim)
    app.after_request(_remember)
    app.teardown_request(_release)
