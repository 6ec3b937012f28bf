"""WSGI entry point for gunicorn: ``gunicorn registry.wsgi:app``."""
from . import create_app

app = create_app()
