"""Who is calling, for every surface: each request is authenticated before its view runs.

Open without a token: views declared ``@public`` (the probes, the OpenAPI
document, the UI's sign-in page). With REGISTRY_METRICS_PORT, that port serves
only views declared ``@metrics_scrape``, without a token, and the main port
does not serve them. Views declared ``@browser_session`` (the
web UI) take the caller from the signed session cookie, and only from it.
Everything else needs ``Authorization: Bearer <token>`` (or Basic
with the token as the password, as MLflow clients send it). Each surface
renders a refusal in its own envelope; the use cases check roles and model
patterns themselves.
"""
from flask import current_app
from flask import g
from flask import request
from flask import session

from .declarations import declared
from .domain import auth
from .domain.auth import Principal
from .domain.errors import RegistryError


def principal() -> Principal:
    """The authenticated caller of this request."""
    return g.principal


def public(view):
    """View decorator (outermost): no token needed."""
    view.public = True
    return view


def browser_session(view):
    """View decorator (outermost): the caller is the token this browser session signed in with.

    The APIs never read the cookie, so a page on another site cannot make a
    browser act on them; the UI never reads Authorization.
    """
    view.browser_session = True
    return view


def metrics_scrape(view):
    """View decorator (outermost): /metrics, served on REGISTRY_METRICS_PORT when that is set."""
    view.metrics_scrape = True
    return view


SESSION_TOKEN_ID = "token_id"


def _authenticate():
    metrics_port = current_app.config["METRICS_PORT"]
    if metrics_port is not None:
        on_metrics_port = request.environ.get("SERVER_PORT") == str(metrics_port)
        if on_metrics_port != (request.url_rule is not None and declared("metrics_scrape")):
            raise RegistryError("not_found", "Not found on this port." if on_metrics_port else
                                "/metrics is served on REGISTRY_METRICS_PORT.")
        if on_metrics_port:
            g.principal = auth.METRICS_PORT_SCRAPER
            return
    # Unknown URLs and methods fall through to routing's 404/405.
    if request.url_rule is None or declared("public"):
        return
    if declared("browser_session"):
        g.principal = auth.session_principal(session.get(SESSION_TOKEN_ID))
        return
    g.principal = auth.authenticate(request.headers.get("Authorization"))


def init_app(app) -> None:
    app.before_request(_authenticate)
