"""The role each native view needs: ``@requires(role)``.

Views declare their minimum role; the use cases check finer rules
(Production moves, model patterns) themselves. Who is calling is
registry/authentication.py's job, shared by every surface.
"""
import functools

from flask import g

from ..authentication import principal  # noqa: F401  (re-exported for the views)
from ..authentication import public  # noqa: F401


def requires(role):
    """View decorator: the caller needs ``role`` and, for /models/<name>/..., access to that model."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.principal.require(role, kwargs.get("name"))
            return view(*args, **kwargs)

        wrapper.required_role = role  # for registry/api/fast_reads.py, which checks it as this does
        return wrapper

    return decorator

