"""Reading what a view declares about itself (``@public``, ``@idempotent``)."""
from flask import current_app
from flask import request


def declared(attribute: str) -> bool:
    """True if the view handling this request carries ``attribute`` (set by a decorator)."""
    view = current_app.view_functions.get(request.endpoint or "")
    view_class = getattr(view, "view_class", None)
    method = request.method.lower()
    handler = getattr(view_class, method, None)
    if handler is None and method == "head":
        handler = getattr(view_class, "get", None)  # as MethodView answers HEAD with get
    return bool(getattr(handler or view, attribute, False))
