"""Configuration: defaults, then REGISTRY_* environment variables, then test overrides.

Problems are reported as ConfigError, whose text names the setting and the fix,
so that `registry serve` can print one line instead of a traceback.
"""
import os

DEFAULTS = {
    "DATA_DIR": "./registry-data",
    "DATABASE_URL": None,  # default: sqlite:///<DATA_DIR>/registry.db
    "STORAGE_URL": None,  # default: file://<DATA_DIR>/blobs
    "MAX_UPLOAD_BYTES": 100 * 1024**3,
    "MAX_JSON_BYTES": 1024 * 1024,
    "PAGE_SIZE": 100,
    # Seconds PostgreSQL may take to connect or to answer one statement, and MinIO to
    # connect or to send the next bytes; then 503.
    "DB_TIMEOUT": 2,
    "STORAGE_TIMEOUT": 3,
    # Slow-client deadlines (see http_worker): seconds to send a whole request head;
    # longest wait on the client for the next body bytes or to take response bytes;
    # bytes per second an upload must average while the server waits for it.
    "HEAD_TIMEOUT": 10,
    "BODY_TIMEOUT": 15,
    "MIN_BODY_RATE": 1024,
    # Uploads left behind by a killed request are removed at start-up once this old
    # (younger ones may still be running on another instance).
    "STALE_UPLOAD_SECONDS": 24 * 3600,
    # Each server worker anchors the audit head in blob storage once this many
    # records were appended since the latest anchor (also: `registry audit anchor`).
    "AUDIT_ANCHOR_EVERY": 100,
    # How long a retry waits for its twin still in progress before 409 idempotency_key_in_progress.
    "IDEMPOTENCY_WAIT_SECONDS": 1,
    # The server's signing key (web UI sessions). Default: a random key kept in
    # <DATA_DIR>/secret.key. Instances on several machines must share one.
    "SECRET_KEY": None,
    # 1: the UI's session cookie is sent over HTTPS only (set it behind TLS).
    "COOKIE_SECURE": "0",
    # How clients reach this service: the base of the download URLs webhooks carry.
    "PUBLIC_URL": "http://127.0.0.1:5000",
    # 1: webhooks may target loopback, link-local and private addresses (tests, one-machine setups).
    "WEBHOOK_ALLOW_PRIVATE": "0",
    # 0: `registry serve` does not deliver webhooks (run `registry webhooks run` instead).
    "WEBHOOK_WORKER": "1",
    # A delivery is retried with backoff for this long, then marked failed.
    "WEBHOOK_RETRY_SECONDS": 24 * 3600,
    # 1 (MinIO only): a file download answers 302 to a presigned MinIO URL, so the
    # bytes bypass this service; valid this many seconds. Clients must reach MinIO
    # at the host and port of REGISTRY_STORAGE_URL.
    "DOWNLOAD_REDIRECT": "0",
    "DOWNLOAD_REDIRECT_SECONDS": 300,
    # text, or json: one JSON object per log line (with request ids), one access line per request.
    "LOG_FORMAT": "text",
    # A second port `registry serve` listens on (same host) that serves /metrics without a
    # token, and nothing else; /metrics is then not served on the main port.
    "METRICS_PORT": None,
}

_INTEGER_SETTINGS = ("MAX_UPLOAD_BYTES", "MAX_JSON_BYTES", "PAGE_SIZE", "DB_TIMEOUT", "STORAGE_TIMEOUT",
                     "IDEMPOTENCY_WAIT_SECONDS", "HEAD_TIMEOUT", "BODY_TIMEOUT", "MIN_BODY_RATE", "STALE_UPLOAD_SECONDS",
                     "AUDIT_ANCHOR_EVERY", "WEBHOOK_RETRY_SECONDS", "DOWNLOAD_REDIRECT_SECONDS")
_SWITCHES = ("COOKIE_SECURE", "WEBHOOK_ALLOW_PRIVATE", "WEBHOOK_WORKER", "DOWNLOAD_REDIRECT")
# S3's longest presigned-URL lifetime: seven days.
MAX_REDIRECT_SECONDS = 7 * 24 * 3600


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which and how to fix it."""

    def __init__(self, setting, message):
        super().__init__(f"REGISTRY_{setting}: {message}")
        self.setting = setting


def load(test_config=None, environ=None):
    """Return the settings as a dict of REGISTRY_-less upper-case names."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for name in DEFAULTS:
        value = environ.get(f"REGISTRY_{name}")
        if value not in (None, ""):
            config[name] = value
    config.update(test_config or {})
    for name in _INTEGER_SETTINGS:
        config[name] = _positive_int(name, config[name])
    if config["IDEMPOTENCY_WAIT_SECONDS"] >= config["DB_TIMEOUT"]:
        # The wait is one statement (a lock wait); the statement timeout would cut it short.
        raise ConfigError("IDEMPOTENCY_WAIT_SECONDS", f"must be less than REGISTRY_DB_TIMEOUT ({config['DB_TIMEOUT']})")
    for name in _SWITCHES:
        if str(config[name]) not in ("0", "1", "True", "False"):
            raise ConfigError(name, f"expected 0 or 1, got {config[name]!r}")
        config[name] = str(config[name]) in ("1", "True")
    if config["DOWNLOAD_REDIRECT_SECONDS"] > MAX_REDIRECT_SECONDS:
        raise ConfigError("DOWNLOAD_REDIRECT_SECONDS", f"at most {MAX_REDIRECT_SECONDS} (seven days, S3's limit)")
    if config["LOG_FORMAT"] not in ("text", "json"):
        raise ConfigError("LOG_FORMAT", f"expected text or json, got {config['LOG_FORMAT']!r}")
    if config["METRICS_PORT"] is not None:
        config["METRICS_PORT"] = _positive_int("METRICS_PORT", config["METRICS_PORT"])
        if config["METRICS_PORT"] > 65535:
            raise ConfigError("METRICS_PORT", f"expected a port number (1-65535), got {config['METRICS_PORT']}")
    config["PUBLIC_URL"] = str(config["PUBLIC_URL"]).rstrip("/")
    if not config["PUBLIC_URL"].startswith(("http://", "https://")):
        raise ConfigError("PUBLIC_URL", f"expected an http(s) URL, got {config['PUBLIC_URL']!r}")
    if config["SECRET_KEY"] is not None and len(str(config["SECRET_KEY"])) < 32:
        raise ConfigError("SECRET_KEY", "must be at least 32 characters; e.g. python3 -c "
                                        "'import secrets; print(secrets.token_urlsafe(48))'")
    data_dir = os.path.abspath(config["DATA_DIR"])
    config["DATA_DIR"] = data_dir
    _check_data_dir(data_dir)
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = "sqlite:///" + os.path.join(data_dir, "registry.db")
    if not config["STORAGE_URL"]:
        config["STORAGE_URL"] = "file://" + os.path.join(data_dir, "blobs")
    return config


def _check_data_dir(path):
    """The data directory (or the nearest existing folder above it) must be a writable directory."""
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if existing == path and not os.path.isdir(path):
        raise ConfigError("DATA_DIR", f"{path} is a file, not a directory; point it at a directory")
    if not os.path.isdir(existing):
        raise ConfigError("DATA_DIR", f"{path} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError("DATA_DIR", f"{path} cannot be used: {existing} is not writable by this user")


def _positive_int(name, value):
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(name, f"expected a whole number of bytes or items, got {value!r}") from exc
    if number <= 0:
        raise ConfigError(name, f"must be greater than zero, got {number}")
    return number
