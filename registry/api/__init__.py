"""HTTP API: thin blueprints that parse, call the use cases, and dump."""
import functools

from flask_smorest import Api

from . import aliases
from . import auditing
from . import downloads
from . import experiments
from . import idempotency
from . import maintenance
from . import models
from . import operations
from . import runs
from . import tokens
from . import versions
from . import webhooks
from .schemas import ErrorSchema
from .security import public


class RegistryApi(Api):
    # Documents our {"error": {...}} envelope as every operation's default response.
    ERROR_SCHEMA = ErrorSchema


def init_app(app):
    api = RegistryApi(app, spec_kwargs={
        "info": {"description": _DESCRIPTION},
        # Every operation needs a token unless it says security: [].
        "security": [{"bearerAuth": []}],
    })
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "A registry API token (rgt_...)."}
    )
    for module in (operations, experiments, runs, models, versions, aliases, downloads, tokens, webhooks, auditing,
                   maintenance):
        api.register_blueprint(module.blp)
    _open_the_spec(app)
    idempotency.init_app(app)
    return api


def _open_the_spec(app):
    # flask-smorest's own view cannot be decorated where it is defined.
    serve_spec = app.view_functions["api-docs.openapi_json"]
    app.view_functions["api-docs.openapi_json"] = public(functools.wraps(serve_spec)(lambda: serve_spec()))


_DESCRIPTION = (
    "Model registry: runs and their files, versions registered from runs:/ or models:/ "
    "URIs, an enforced stage lifecycle (None -> Staging -> Production -> Archived) with "
    "an append-only history, and content-addressed file downloads with Range support. "
    'Every error is {"error": {"code", "message", "details"}}.'
)
