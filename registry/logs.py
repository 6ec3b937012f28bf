"""Log format for the service and gunicorn: plain text (default) or JSON lines (REGISTRY_LOG_FORMAT=json).

Every line logged while a request runs carries its request id. In JSON mode
each finished request is one ``registry.access`` line (route template,
status, latency, bytes, actor, error code) and gunicorn's own access line is
off, so a request is logged once. Tokens never reach a log: lines name the
token's name (the actor), never its value, and routes are templates, not URLs.
"""
import datetime
import json
import logging

from gunicorn import glogging

from . import request_log

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# gunicorn's access line in text mode: its default, plus the request id.
TEXT_ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" rid=%({x-request-id}o)s'
access_logger = logging.getLogger("registry.access")


class GunicornLogger(glogging.Logger):
    """gunicorn's logger, building only what TEXT_ACCESS_FORMAT names.

    gunicorn builds an atom for every request header, response header and
    environ variable of every request, logged or not (JSON mode silences its
    access line but still paid for it): about a twentieth of a small request's
    time in the worker (py-spy).
    """

    def access(self, resp, req, environ, request_time):
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)

    def atoms(self, resp, req, environ, request_time):
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        sent = getattr(resp, "sent", None)
        return {
            "h": environ.get("REMOTE_ADDR", "-"),
            "l": "-",
            "u": self._get_user(environ) or "-",
            "t": self.now(),
            "r": f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}",
            "s": status,
            "b": sent is not None and str(sent) or "-",
            "f": environ.get("HTTP_REFERER", "-"),
            "a": environ.get("HTTP_USER_AGENT", "-"),
            "{x-request-id}o": next((value for name, value in resp.headers if name.lower() == "x-request-id"), "-"),
        }


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = request_log.request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record):
        line = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
                    .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", None):
            line["request_id"] = record.request_id
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def dict_config(fmt: str) -> dict:
    """logging.config.dictConfig for this process and gunicorn's loggers (gunicorn's ``logconfig_dict``)."""
    formatter = {"()": JsonFormatter} if fmt == "json" else {"format": TEXT_FORMAT}
    handler = {"class": "logging.StreamHandler", "formatter": "main", "filters": ["request_id"],
               "stream": "ext://sys.stderr"}
    access = {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"main": formatter, "access": {"format": "%(message)s"}},
        "handlers": {"main": handler, "access": access},
        "root": {"level": "INFO", "handlers": ["main"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["main"], "propagate": False},
            # In JSON mode registry.access logs each request; gunicorn's line would repeat it as text.
            "gunicorn.access": ({"level": "CRITICAL", "handlers": [], "propagate": False} if fmt == "json" else
                                {"level": "INFO", "handlers": ["access"], "propagate": False}),
        },
    }


def configure(fmt: str) -> None:
    import logging.config

    logging.config.dictConfig(dict_config(fmt))


def log_request(summary) -> None:
    """A request listener (JSON mode): the access line."""
    access_logger.info(
        "%s %s %s", summary.method, summary.route, summary.status,
        extra={"request_id": summary.request_id, "fields": {
            "method": summary.method, "route": summary.route, "status": summary.status,
            "latency_ms": round(summary.latency_seconds * 1000, 3), "bytes_in": summary.bytes_in,
            "bytes_out": summary.bytes_out, "actor": summary.actor, "error": summary.error,
        }},
    )
