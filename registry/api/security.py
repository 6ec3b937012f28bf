"""Authentication for every request, and the role each view needs.

Open without a token: the probes and the OpenAPI document. Everything else
needs ``Authorization: Bearer <token>``; views declare their minimum role
with ``@requires``, and use cases check finer rules (Production moves,
model patterns) themselves.
"""
import functools

from flask import g, request

from .. import auth

_OPEN_ENDPOINTS = {"operations.Health", "operations.Readiness", "api-docs.openapi_json"}


def principal():
    """The authenticated caller of this request."""
    return g.principal


def _authenticate():
    # Unknown URLs and methods fall through to routing's 404/405.
    if request.url_rule is None or request.endpoint in _OPEN_ENDPOINTS:
        return
    g.principal = auth.authenticate(request.headers.get("Authorization"))


def requires(role):
    """View decorator: the caller needs ``role`` and, for /models/<name>/..., access to that model."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.principal.require(role, kwargs.get("name"))
            return view(*args, **kwargs)

        return wrapper

    return decorator


def init_app(app):
    app.before_request(_authenticate)
