"""registry: a model registry service. ``create_app`` assembles it; nothing runs at import."""
import logging
from types import FunctionType

from flask import Flask
from flask import request
from werkzeug.exceptions import HTTPException

__version__ = "0.1.0"

logger = logging.getLogger(__name__)


class _Flask(Flask):
    """Flask, asking once per function whether it is a coroutine.

    Flask asks ``inspect.iscoroutinefunction`` of every hook and view on every
    request: about 4% of a version lookup's CPU. A plain function's answer never
    changes (a bound method is a new object each time, so it is asked as before).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync_versions: dict = {}

    def ensure_sync(self, func):  # type: ignore[no-untyped-def]
        if type(func) is not FunctionType:
            return super().ensure_sync(func)
        sync = self._sync_versions.get(func)
        if sync is None:
            sync = self._sync_versions[func] = super().ensure_sync(func)
        return sync


def create_app(test_config=None, migrate=True):
    """Build the Flask app from defaults, REGISTRY_* environment variables and ``test_config``.

    Raises ConfigError for malformed settings. With ``migrate``, pending schema
    migrations are applied (safe when several workers start together) and the
    storage backend is prepared, so an unreachable dependency fails here.
    """
    from . import api
    from . import authentication
    from . import config
    from . import db
    from . import logs
    from . import metrics
    from . import mlflow
    from . import request_log
    from . import secret_key
    from . import ui
    from .api import errors
    from .api import fast_reads
    from .secret_box import SecretBox
    from .storage import storage_from_url

    settings = config.load(test_config)
    app = _Flask(__name__)
    app.config.update(settings)
    app.config["SECRET_KEY"] = secret_key.load(settings)
    app.extensions["registry_secret_box"] = SecretBox(app.config["SECRET_KEY"])
    app.config.update(
        API_TITLE="registry",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=settings["MAX_JSON_BYTES"],
    )
    # "a//b" must reach our path validation, not be redirected to "a/b".
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False

    storage = storage_from_url(settings["STORAGE_URL"], timeout=settings["STORAGE_TIMEOUT"])
    if settings["DOWNLOAD_REDIRECT"] and not storage.serves_clients_directly:
        raise config.ConfigError("DOWNLOAD_REDIRECT", f"needs MinIO storage; {storage.describe()} cannot serve "
                                                      "clients directly (set it to 0)")
    app.extensions["registry_storage"] = storage
    db.init_app(app, db.database_from_url(settings["DATABASE_URL"], timeout=settings["DB_TIMEOUT"]))
    metrics.init_app(app)
    if settings["LOG_FORMAT"] == "json":
        request_log.listeners(app).append(logs.log_request)
    authentication.init_app(app)
    api.init_app(app)
    mlflow.init_app(app)
    ui.init_app(app)
    errors.init_app(app)
    app.after_request(_no_unread_body)
    fast_reads.init_app(app)
    request_log.init_app(app)

    if migrate:
        prepare(app)
    logger.info("registry %s: database %s, storage %s", __version__,
                _redact(settings["DATABASE_URL"]), storage.describe())
    return app


def _no_unread_body(response):
    # A body we did not read (refused early, e.g. 413) is still on the
    # socket: the next request cannot follow it on this connection.
    if (request.content_length or request.headers.get("Transfer-Encoding")) and not _body_was_read(request):
        response.headers["Connection"] = "close"
    return response


def _body_was_read(request):
    from .request_log import body_bytes_read

    # gunicorn marks its input as terminated, so werkzeug's stream counts
    # against the upload limit, not Content-Length, and is never "exhausted"
    # by a whole body: compare what was read with the length instead.
    read = body_bytes_read()
    if request.content_length is not None and read is not None:
        return read >= request.content_length
    try:
        return getattr(request.stream, "is_exhausted", True)
    except HTTPException:  # refused before reading (over MAX_CONTENT_LENGTH)
        return False


def prepare(app):
    """Create the data directory, the bucket, the schema and (on first start)
    the admin token; return the migrations applied.

    Raises StorageUnavailable or peewee errors when a dependency is unreachable.
    """
    import os

    from . import migrations
    from .db import database
    from .domain import auth

    os.makedirs(app.config["DATA_DIR"], exist_ok=True)
    app.extensions["registry_storage"].ensure_ready()
    with database.connection_context():
        applied = migrations.upgrade()
        auth.bootstrap_admin(app.config["DATA_DIR"])
    return applied


def _redact(url):
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url
