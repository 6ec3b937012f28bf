"""Reading what a view declares about itself (``@public``, ``@idempotent``, ``@fast_read``)."""
from typing import Any

from flask import current_app
from flask import request


def declaration(view: Any, method: str, attribute: str) -> Any:
    """What the handler of ``method`` in ``view`` (a view function) declares as ``attribute``, or None."""
    view_class = getattr(view, "view_class", None)
    method = method.lower()
    handler = getattr(view_class, method, None)
    if handler is None and method == "head":
        handler = getattr(view_class, "get", None)  # as MethodView answers HEAD with get
    return getattr(handler or view, attribute, None)


def declared(attribute: str) -> bool:
    """True if the view handling this request carries ``attribute`` (set by a decorator)."""
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(declaration(view, request.method, attribute))
