"""Signing in and out, the CSRF check on every form, and the headers every UI response carries."""
import hmac
import logging
import os
import secrets
import time

from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import send_from_directory
from flask import session
from flask import url_for

from ..authentication import SESSION_TOKEN_ID
from ..authentication import browser_session
from ..authentication import public
from ..domain import auth
from ..domain.errors import RegistryError
from .blueprint import bp
from .errors import error_page

logger = logging.getLogger(__name__)

STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")
_CSRF = "csrf"
# Pages hold private data and scripts come only from this server.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def csrf_token() -> str:
    """This session's form token (made on first use)."""
    if _CSRF not in session:
        session[_CSRF] = secrets.token_urlsafe(32)
    return session[_CSRF]


def _start_clock():
    g.ui_started = time.perf_counter()


def _check_csrf():
    if request.method != "POST":
        return None
    sent = request.form.get("csrf_token", "")
    expected = session.get(_CSRF, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return error_page("This form has expired or did not come from this site; reload the page and try again.",
                          403)
    return None


def _headers(response):
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "ui.static":
        response.headers["Cache-Control"] = "no-store"
    if "ui_started" in g:
        # What bench/ui_render.py measures: the time spent in the app for this page.
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - g.ui_started) * 1000:.1f}"
    return response


def _context():
    return {"csrf_token": csrf_token, "me": g.get("principal")}


def _local_target(target):
    # Only a path on this UI: an absolute or scheme-relative URL would be an open redirect.
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("ui.models")


@bp.route("/static/<path:filename>")
@public
def static(filename):
    return send_from_directory(STATIC_DIR, filename, max_age=3600)


@bp.route("/signin", methods=["GET", "POST"])
@public
def signin():
    target = _local_target(request.values.get("next"))
    if request.method == "GET":
        return render_template("signin.html", next=target)
    try:
        principal = auth.verify_token(request.form.get("token", "").strip())
    except RegistryError:
        logger.info("UI sign-in refused")
        page = render_template("signin.html", next=target,
                               error="That token is not valid, has expired or was revoked.")
        return page, 401
    # A fresh session: nothing from before sign-in (or a planted cookie) carries over.
    session.clear()
    session.permanent = True
    session[SESSION_TOKEN_ID] = principal.token_id
    csrf_token()
    logger.info("UI sign-in as token %s", principal.name)
    return redirect(target, 303)


@bp.route("/signout", methods=["POST"])
@browser_session
def signout():
    session.clear()
    return redirect(url_for("ui.signin"), 303)


def init_blueprint(blueprint) -> None:
    blueprint.before_request(_start_clock)
    blueprint.before_request(_check_csrf)
    blueprint.after_request(_headers)
    blueprint.context_processor(_context)
