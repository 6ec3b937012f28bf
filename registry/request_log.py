"""One summary per request, taken when its response is closed: what logs and metrics report.

A WSGI middleware, outside Flask, so that it sees every response (errors, 404s,
refusals) and measures a streamed download until its last byte, and the bytes
a request body really delivered. Inside Flask, views and error handlers add
what only they know (route template, actor, error code) to the request's
``registry.request`` entry; the ``listeners(app)`` receive the finished summary.
"""
import logging
import re
import time
import uuid
from dataclasses import dataclass

from flask import g
from flask import has_request_context
from flask import request

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept if it is safe to log and echo; otherwise one is made.
_CALLER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_ENVIRON_KEY = "registry.request"


@dataclass
class RequestSummary:
    request_id: str
    method: str
    route: str  # the URL rule (``/models/<name>``), never the URL: bounded label values, no secrets
    status: int = 0
    latency_seconds: float = 0.0
    bytes_in: int = 0
    bytes_out: int = 0
    actor: str | None = None
    error: str | None = None


def request_id() -> str | None:
    """This request's id (inside a request), for log lines."""
    if not has_request_context():
        return None
    summary = request.environ.get(_ENVIRON_KEY)
    return summary.request_id if summary else None


def body_bytes_read() -> int | None:
    """How many bytes of this request's body the application has read (None outside a counted request)."""
    summary = request.environ.get(_ENVIRON_KEY) if has_request_context() else None
    return summary.bytes_in if summary else None


def note_error(code: str) -> None:
    """Called by each surface's error renderers: the code this request failed with (the first one noted)."""
    if has_request_context() and _ENVIRON_KEY in request.environ:
        summary = request.environ[_ENVIRON_KEY]
        summary.error = summary.error or code


def note_route_and_actor(environ: dict, route: str | None, actor: str | None) -> None:
    """What the request's summary reports as its route template (None: unmatched) and its caller."""
    summary = environ.get(_ENVIRON_KEY)
    if summary is not None:
        if route is not None:
            summary.route = route
        summary.actor = actor


def _note_route_and_actor(response):
    principal = g.get("principal")
    note_route_and_actor(request.environ, request.url_rule.rule if request.url_rule is not None else None,
                         principal.name if principal is not None else None)
    return response


class _CountingInput:
    """wsgi.input, counting what the application reads."""

    def __init__(self, stream, summary):
        self._stream = stream
        self._summary = summary

    def read(self, *args):
        data = self._stream.read(*args)
        self._summary.bytes_in += len(data)
        return data

    def readinto(self, buffer):
        # werkzeug reads through this when it exists: into its own buffer, with no copy here.
        if hasattr(self._stream, "readinto"):
            received = self._stream.readinto(buffer)
        else:
            data = self._stream.read(len(buffer))
            received = len(data)
            buffer[:received] = data
        self._summary.bytes_in += received
        return received

    def readline(self, *args):
        data = self._stream.readline(*args)
        self._summary.bytes_in += len(data)
        return data

    def readlines(self, *args):
        lines = self._stream.readlines(*args)
        self._summary.bytes_in += sum(len(line) for line in lines)
        return lines

    def __iter__(self):
        return iter(self.readline, b"")


class _CountingBody:
    """The response body, counting what is sent; closing it finishes the summary."""

    def __init__(self, body, summary, finish):
        self._body = body
        self._summary = summary
        self._finish = finish

    def __iter__(self):
        for chunk in self._body:
            self._summary.bytes_out += len(chunk)
            yield chunk

    def close(self):
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish(self._summary)


class RequestSummaries:
    """WSGI middleware: the request id on every response, and a summary for the listeners."""

    def __init__(self, wsgi_app, listeners):
        self._app = wsgi_app
        self._listeners = listeners

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        given = environ.get("HTTP_X_REQUEST_ID", "")
        summary = RequestSummary(request_id=given if _CALLER_ID.match(given) else uuid.uuid4().hex,
                                 method=environ.get("REQUEST_METHOD", ""), route="<unmatched>")
        environ[_ENVIRON_KEY] = summary
        if "wsgi.input" in environ:
            environ["wsgi.input"] = _CountingInput(environ["wsgi.input"], summary)

        def start(status, headers, exc_info=None):
            summary.status = int(status.split(" ", 1)[0])
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, summary.request_id))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        def finish(done):
            done.latency_seconds = time.perf_counter() - started
            for listener in self._listeners:
                try:
                    listener(done)
                except Exception:  # reporting must never break serving
                    logger.exception("request listener %r failed", listener)

        return _CountingBody(self._app(environ, start), summary, finish)


def listeners(app) -> list:
    """The functions each finished RequestSummary is given to; append to add one."""
    return app.extensions.setdefault("registry_request_listeners", [])


def init_app(app) -> None:
    """Call last: the summaries wrap every other layer, so that they see every request."""
    app.wsgi_app = RequestSummaries(app.wsgi_app, listeners(app))
    app.after_request(_note_route_and_actor)
