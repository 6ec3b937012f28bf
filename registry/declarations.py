"""Reading what a view declares about itself (``@public``, ``@idempotent``)."""
from flask import current_app
from flask import request


def declared(attribute: str) -> bool:
    """True if the view handling this request carries ``attribute`` (set by a decorator)."""
    view = current_app.view_functions.get(request.endpoint or "")
    handler = getattr(getattr(view, "view_class", None), request.method.lower(), view)
    return bool(getattr(handler, attribute, False))
