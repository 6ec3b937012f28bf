"""Fast reads: a plain GET of a view declared ``@fast_read``, answered without Flask's request machinery.

Deployment jobs poll "the Production version of X" far more often than
anything else is asked. Flask's per-request work (request and app contexts,
the session, every hook, webargs, the response object) cost more worker time
than the lookup itself. A view declares the use case and schema its GET
amounts to when the request carries no query string and no body; this layer,
between RequestSummaries and Flask, calls the same authentication, the same
use case and the same schema, and renders JSON as Flask does
(tests/test_fast_reads.py compares the two paths byte for byte).

A view that also declares how to tell its answer is unchanged (a
``Freshness``: for the version lookup, one indexed query of change counters
that triggers keep) has its rendered answers kept per worker and served again
while that fingerprint reads the same (answer_cache.py), on every instance.

Only a plain success is answered here. A refusal, a missing model, a
dependency error: the exception is handed to the native API's error handlers
in a Flask request context, so each error renders once, in one place. Request
ids, logs and metrics see these requests as any other (route and actor are
noted as Flask's hook notes them).
"""
import dataclasses
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask import g
from marshmallow import Schema
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RoutingException

from .. import db
from ..declarations import declaration
from ..domain import auth
from ..domain.auth import Principal
from ..domain.freshness import Freshness
from ..request_log import note_route_and_actor
from .answer_cache import Answer
from .answer_cache import AnswerCache


@dataclasses.dataclass(frozen=True)
class FastRead:
    use_case: Callable[..., Any]  # (principal, **URL arguments) -> the value the view returns
    schema: Schema
    role: str  # the view's @requires, checked first as the view checks it
    freshness: Freshness | None  # if set, answers are cached per worker while their fingerprint holds


def fast_read(use_case: Callable[..., Any], schema: type[Schema],
              freshness: Freshness | None = None) -> Callable[[Callable], Callable]:
    """Decorator for a view's ``get`` (outside its ``@requires``): without a query string, the view
    checks its role and returns ``schema`` of ``use_case(principal, **url)``. With ``freshness``,
    an answer is served again while its fingerprint is unchanged (answer_cache.py).

    Only for views with no hooks of their own (idempotency, a browser session,
    a blueprint's before_request): this layer runs none of them, and refuses
    to start for such a view.
    """
    def decorator(view):
        role = getattr(view, "required_role", None)
        if role is None:
            raise TypeError(f"{view.__qualname__}: put @fast_read outside the view's @requires(role)")
        view.fast_read = FastRead(use_case, schema(), role, freshness)
        return view

    return decorator


class FastReads:
    """WSGI middleware around Flask's own ``wsgi_app``."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._flask = app.wsgi_app
        self._urls = app.url_map.bind("localhost")  # no host matching: the name is never compared
        metrics_port = app.config["METRICS_PORT"]
        self._metrics_port = None if metrics_port is None else str(metrics_port)  # as SERVER_PORT spells it
        self._reads = {endpoint: read for endpoint, view in app.view_functions.items()
                       if (read := declaration(view, "GET", "fast_read")) is not None}
        for endpoint in self._reads:
            _check_nothing_is_skipped(app, endpoint)
        self._cache = AnswerCache()

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        found = self._read_for(environ)
        if found is None:
            return self._flask(environ, start_response)
        read, route, arguments = found
        principal = None
        try:
            principal = auth.authenticate(environ.get("HTTP_AUTHORIZATION"))
            principal.require(read.role, arguments.get("name"))
            answer = self._answer(read, principal, route, arguments, environ)
        except Exception as exc:  # rendered by the error handlers, as in Flask's path
            return self._render_error(environ, start_response, exc, principal)
        finally:
            db.release()
        note_route_and_actor(environ, route, principal.name)
        start_response(answer.status, list(answer.headers))
        return [answer.body]

    def _answer(self, read, principal, route, arguments, environ):
        key = (route, *sorted(arguments.items()))
        cached = self._cache.get(key) if read.freshness is not None else None
        fingerprint = None
        if cached is not None:
            fingerprint = read.freshness.fingerprint(principal, cached.basis)
            if fingerprint == cached.fingerprint:
                return cached
        value = read.use_case(principal, **arguments)
        body, status, headers = self._app.json.response(read.schema.dump(value)).get_wsgi_response(environ)
        # The fingerprint was read before the use case: if it is still equal later, nothing this
        # answer was built from has changed since (None: there was no basis to read it for yet).
        answer = Answer(basis=() if read.freshness is None else read.freshness.basis(value),
                        fingerprint=fingerprint, status=status, headers=tuple(headers), body=b"".join(body))
        if read.freshness is not None:
            self._cache.put(key, answer)
        return answer

    def _read_for(self, environ):
        """(declared read, route template, URL arguments), or None when Flask must answer."""
        if (environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING") or environ.get("SCRIPT_NAME")
                or environ.get("CONTENT_LENGTH") not in (None, "", "0") or "HTTP_TRANSFER_ENCODING" in environ
                or (self._metrics_port is not None and environ.get("SERVER_PORT") == self._metrics_port)):
            return None
        # As werkzeug decodes PATH_INFO for Flask's own routing.
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        try:
            rule, arguments = self._urls.match(path, "GET", return_rule=True)
        except (HTTPException, RoutingException):
            return None
        read = self._reads.get(rule.endpoint)
        return None if read is None else (read, rule.rule, arguments)

    def _render_error(self, environ: dict, start_response: Callable, exc: Exception,
                      principal: Principal | None) -> Any:
        with self._app.request_context(environ):
            if principal is not None:
                g.principal = principal  # the actor, as Flask's path knows it when a use case refuses
            response = self._app.finalize_request(self._app.handle_user_exception(exc), from_error_handler=True)
        return response(environ, start_response)


def _check_nothing_is_skipped(app, endpoint):
    # This layer authenticates and calls the use case, nothing else: a view
    # that needs more from Flask's path must not be answered here.
    view = app.view_functions[endpoint]
    for other in ("public", "browser_session", "metrics_scrape", "idempotent"):
        if declaration(view, "GET", other):
            raise TypeError(f"{endpoint}: a @fast_read view cannot also be @{other}")
    blueprint = endpoint.rpartition(".")[0]
    if any(hooks.get(blueprint) for hooks in (app.before_request_funcs, app.after_request_funcs,
                                              app.url_value_preprocessors)):
        raise TypeError(f"{endpoint}: a @fast_read view's blueprint cannot have request hooks of its own")


def init_app(app: Flask) -> None:
    """Put fast reads in front of Flask; call after every blueprint is registered, before request_log wraps."""
    app.wsgi_app = FastReads(app)  # type: ignore[method-assign]
