"""The web UI: server-rendered pages over the same use cases as the APIs.

Lives under ``/ui/``; ``/`` redirects there. A browser signs in by pasting a
token; the session is a signed, HttpOnly, SameSite=Strict cookie holding the
token's id (never the token). Pages work without JavaScript; a little plain
JavaScript draws the metric charts (uPlot, vendored under static/vendor).
"""
import datetime

from flask import redirect
from flask import url_for
from flask.sessions import SecureCookieSessionInterface

from ..authentication import public
from . import audit_pages  # noqa: F401 (registers its routes)
from . import errors
from . import model_pages  # noqa: F401
from . import run_pages  # noqa: F401
from . import signin
from .blueprint import bp

SESSION_HOURS = 12

# At import: a blueprint cannot take handlers once an app has registered it.
errors.init_blueprint(bp)
signin.init_blueprint(bp)


@public
def _root():
    return redirect(url_for("ui.models"))


class _CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus building the signing serializer (about 30 us) for the
    many requests (every API call) that carry no session cookie."""

    def open_session(self, app, request):  # type: ignore[no-untyped-def]
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def init_app(app) -> None:
    app.session_interface = _CookieSessions()
    app.config.update(
        SESSION_COOKIE_NAME="registry_session",
        SESSION_COOKIE_PATH="/ui",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=app.config["COOKIE_SECURE"],
        PERMANENT_SESSION_LIFETIME=datetime.timedelta(hours=SESSION_HOURS),
    )
    app.register_blueprint(bp)
    app.add_url_rule("/", "root", _root)
