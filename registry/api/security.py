"""Authentication for every request, and the role each view needs.

Open without a token: views declared ``@public`` (the probes, the OpenAPI
document). Everything else needs ``Authorization: Bearer <token>``; views declare their minimum role
with ``@requires``, and use cases check finer rules (Production moves,
model patterns) themselves.
"""
import functools

from flask import g
from flask import request

from ..domain import auth
from .declarations import declared


def principal():
    """The authenticated caller of this request."""
    return g.principal


def _authenticate():
    # Unknown URLs and methods fall through to routing's 404/405.
    if request.url_rule is None or declared("public"):
        return
    g.principal = auth.authenticate(request.headers.get("Authorization"))


def public(view):
    """View decorator (outermost): no token needed."""
    view.public = True
    return view


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
