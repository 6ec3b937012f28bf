"""Run the app under gunicorn with threaded workers (streams don't block a whole worker)."""
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, options):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # Each worker builds its own app (own connections); migrations are
        # idempotent and locked, so workers starting together are safe.
        from .wsgi import app

        return app


def run_gunicorn(host, port, workers, threads, timeout):
    _Gunicorn({
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": timeout,
        "graceful_timeout": 30,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        # Keep gunicorn's own version out of responses.
        "proc_name": "registry",
    }).run()
