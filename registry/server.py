"""Run the app under gunicorn with threaded workers hardened against slow clients (see http_worker)."""
import ctypes

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.http import wsgi as gunicorn_wsgi

from .api.errors import raw_http_error
from .http_worker import ClientLimits
from .http_worker import SlowClientSafeWorker

# Requests gunicorn refuses before the app sees them (request line or headers
# too large, malformed HTTP) would otherwise get an HTML page.
_PARSER_ERRORS = {414: "uri_too_long", 431: "headers_too_large", 403: "forbidden"}
_PARSER_MESSAGES = {
    "uri_too_long": "The request line is longer than 8190 bytes.",
    "headers_too_large": "Too many request headers, or one longer than 8190 bytes.",
    "forbidden": "The request was refused.",
    "validation_error": "The request is not valid HTTP.",
    "internal_error": "Internal error; it has been logged.",
}


def _write_json_error(sock, status_int, reason, mesg):
    code = _PARSER_ERRORS.get(status_int, "validation_error" if status_int < 500 else "internal_error")
    # gunicorn's own message can quote the request, so it is not echoed.
    gunicorn_util.write_nonblock(sock, raw_http_error(code, _PARSER_MESSAGES[code]))


class _Gunicorn(BaseApplication):
    def __init__(self, options):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # Each worker builds its own app (own connections) without touching
        # the database or storage: `registry serve` prepared both once, before
        # forking. A worker restarted while a dependency is down must still
        # boot (and answer 503), or gunicorn would stop the whole server.
        from . import create_app
        from . import followers

        app = create_app(migrate=False)
        followers.start(app)
        if app.config["WEBHOOK_WORKER"]:
            from .delivery import worker

            worker.start(app)
        return app


_gunicorn_default_headers = gunicorn_wsgi.Response.default_headers
_gunicorn_process_headers = gunicorn_wsgi.Response.process_headers


def _default_headers_without_banner(response):
    return [line for line in _gunicorn_default_headers(response) if not line.startswith("Server:")]


def _process_headers_honouring_close(response, headers):
    # The app says Connection: close when it left a request body unread;
    # gunicorn drops hop-by-hop headers, so it is told this way instead.
    if any(name.lower() == "connection" and value.lower() == "close" for name, value in headers):
        response.force_close()
    _gunicorn_process_headers(response, headers)


def _child_exit(server, worker):
    from . import metrics

    metrics.worker_exited(worker.pid)


# glibc's mallopt(M_ARENA_MAX): by default each thread that allocates may get
# an arena of its own (up to 8 per core), and upload buffers freed in one stay
# resident. Measured after 256 MiB uploads with three parts in flight: 11-77
# MiB kept by the worker by default, 4 MiB with two arenas, at the same speed.
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def _cap_malloc_arenas() -> None:
    """Cap malloc arenas before the workers fork (they inherit the setting); a no-op without glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


def run_gunicorn(host: str, port: int, workers: int, threads: int, timeout: int, limits: ClientLimits,
                 metrics_port: int | None = None, log_format: str = "text") -> None:
    # gunicorn has no setting for the format of its parser errors, for its
    # Server banner, or for an app that must close the connection; its workers
    # look these up at call time, and forked workers inherit the patches.
    gunicorn_util.write_error = _write_json_error
    gunicorn_wsgi.Response.default_headers = _default_headers_without_banner
    gunicorn_wsgi.Response.process_headers = _process_headers_honouring_close
    SlowClientSafeWorker.limits = limits
    _cap_malloc_arenas()
    from . import logs

    binds = [f"{host}:{port}"] + ([f"{host}:{metrics_port}"] if metrics_port else [])
    _Gunicorn({
        "bind": binds,
        "workers": workers,
        "threads": threads,
        "worker_class": "registry.http_worker.SlowClientSafeWorker",
        "timeout": timeout,
        "graceful_timeout": 30,
        # In JSON mode the app writes one access line per request (registry.logs); gunicorn's is off.
        "accesslog": None if log_format == "json" else "-",
        "access_log_format": logs.TEXT_ACCESS_FORMAT,
        "logger_class": "registry.logs.GunicornLogger",
        "errorlog": "-",
        "loglevel": "info",
        "logconfig_dict": logs.dict_config(log_format),
        "child_exit": _child_exit,
        "proc_name": "registry",
        # Explicit caps on what a request may carry before the app sees it.
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
    }).run()
