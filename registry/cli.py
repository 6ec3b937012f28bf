"""Command line: the admin commands (serve, db, token, audit, openapi) and the client commands (client/cli.py)."""
import json
import logging
import sys

import click

from . import __version__
from .client import cli as _client_cli
from .config import ConfigError
from .domain.errors import RegistryError

logger = logging.getLogger(__name__)


def _build_app(migrate=True):
    """create_app, with configuration and dependency problems reported as one line."""
    from . import create_app

    return _guarded(create_app, migrate=migrate)


def _guarded(function, *args, **kwargs):
    import peewee

    try:
        return function(*args, **kwargs)
    except ConfigError as exc:
        _fail(str(exc))
    except RegistryError as exc:
        if exc.code == "storage_unavailable":  # unreachable, wrong credentials, ...
            _fail(f"REGISTRY_STORAGE_URL: {exc.message}. Check the URL, the credentials and that the server is up.")
        _fail(exc.message + "".join(f" {field}: {'; '.join(errors)}" for field, errors in (exc.details or {}).items()
                                    if isinstance(errors, list)))
    except (peewee.OperationalError, peewee.InterfaceError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _fail(f"REGISTRY_DATABASE_URL: cannot use the database ({first_line}). "
              "Check the URL, the credentials and that the server is up.")


def _fail(message):
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


class _Sections(click.Group):
    """--help lists the client commands apart from the admin commands: they reach the service differently."""

    def format_commands(self, ctx, formatter):
        from .client.cli import COMMANDS

        listed = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        for title, names in (
            ("Client commands (talk to a running service: REGISTRY_URL, REGISTRY_TOKEN)",
             [n for n, _ in listed if n in COMMANDS]),
            ("Admin commands (on the server's machine: open the database and storage directly)",
             [n for n, _ in listed if n not in COMMANDS]),
        ):
            rows = [(name, self.get_command(ctx, name).get_short_help_str(80)) for name in names]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


@click.group(cls=_Sections)
@click.version_option(__version__, prog_name="registry")
def main():
    """registry: a model registry service, and a client for it."""
    import os

    from . import logs

    # config.load validates REGISTRY_LOG_FORMAT; until then an unknown value logs as text. Like
    # logging.basicConfig, this leaves a process that configured logging itself alone.
    if not logging.getLogger().handlers:
        logs.configure("json" if os.environ.get("REGISTRY_LOG_FORMAT") == "json" else "text")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Threads per worker; a streaming download occupies one.")
@click.option("--timeout", default=120, show_default=True, type=click.IntRange(10, 86400),
              help="Seconds a worker may stay silent before gunicorn restarts it.")
def serve(host, port, workers, threads, timeout):
    """Start the HTTP service under gunicorn (embedded SQLite + local disk unless configured)."""
    import shutil

    # Before anything imports prometheus_client, which picks its mode at import: the
    # workers' counters go to files here, added up at each scrape.
    metrics_dir = _fresh_metrics_directory()
    try:
        _serve(host, port, workers, threads, timeout)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _fresh_metrics_directory():
    import os
    import tempfile

    path = tempfile.mkdtemp(prefix="registry-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def _serve(host, port, workers, threads, timeout):
    from .db import database
    from .http_worker import ClientLimits
    from .server import run_gunicorn

    # Validate configuration, reach dependencies and migrate once, up front,
    # so a mistake is one clear line instead of N crashing workers.
    app = _build_app()
    settings = app.config
    stale = settings["STALE_UPLOAD_SECONDS"]
    removed = _guarded(app.extensions["registry_storage"].remove_stale_uploads, stale)
    if removed:
        logger.info("removed %d upload(s) left behind more than %d s ago", removed, stale)
    # Workers are forked from this process: they must not inherit its sockets.
    getattr(database.obj, "close_all", lambda: None)()
    from .db import share_writer_lock

    share_writer_lock()
    limits = ClientLimits(head_timeout=settings["HEAD_TIMEOUT"], body_timeout=settings["BODY_TIMEOUT"],
                          min_body_rate=settings["MIN_BODY_RATE"])
    if settings["METRICS_PORT"] == port:
        _fail(f"REGISTRY_METRICS_PORT: {port} is the port the service listens on; pick another")
    run_gunicorn(host=host, port=port, workers=workers, threads=threads, timeout=timeout, limits=limits,
                 metrics_port=settings["METRICS_PORT"], log_format=settings["LOG_FORMAT"])


@main.group()
def db():
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade():
    """Apply pending schema migrations."""
    from . import migrations
    from . import prepare
    from .db import database

    applied = _guarded(prepare, _build_app(migrate=False))
    with database.connection_context():
        current = migrations.current_version()
    click.echo(f"applied {applied or 'nothing'}; schema is at version {current}")


@main.group()
def token():
    """API tokens: create, list, revoke."""


@token.command("create")
@click.option("--name", required=True, help="Unique among active tokens; becomes the actor in the audit log.")
@click.option("--role", required=True, type=click.Choice(["reader", "writer", "maintainer", "admin", "metrics"]),
              help="metrics: may scrape /metrics and nothing else.")
@click.option("--model", "models", multiple=True, help="Limit to models matching this pattern (repeatable).")
@click.option("--expires-in", "expires_in", type=click.IntRange(1, 3650), help="Days until it expires.")
def token_create(name, role, models, expires_in):
    """Create a token and print it as the last line (it is not shown again)."""
    from .db import database
    from .domain import auth

    _build_app()
    with database.connection_context():
        created, value = _guarded(auth.create_token, _operator(), name, role, models, expires_in)
    scope = ", ".join(created.models) or "all models"
    expiry = created.expires_at.isoformat(timespec="seconds") + "Z" if created.expires_at else "never"
    click.echo(f"created token {name!r}: role {role}, {scope}, expires {expiry}")
    click.echo(value)


@token.command("list")
def token_list():
    """List tokens (never their values)."""
    from .db import database
    from .domain import auth

    _build_app()
    with database.connection_context():
        tokens = auth.list_tokens(_operator())
    click.echo(f"{'NAME':<24} {'ROLE':<11} {'MODELS':<24} {'EXPIRES':<21} STATUS")
    for t in tokens:
        status = "revoked" if t.revoked_at else "active"
        expires = t.expires_at.isoformat(timespec="seconds") + "Z" if t.expires_at else "never"
        click.echo(f"{t.name:<24} {t.role:<11} {','.join(t.models) or '*':<24} {expires:<21} {status}")


@token.command("revoke")
@click.argument("name")
def token_revoke(name):
    """Revoke the active token NAME."""
    from .db import database
    from .domain import auth

    _build_app()
    with database.connection_context():
        _guarded(auth.revoke_token, _operator(), name)
    click.echo(f"revoked token {name!r}")


def _operator():
    """Whoever runs the CLI on the server's own configuration acts as an unlimited admin."""
    import getpass

    from .domain.auth import Principal

    return Principal(name=f"cli:{getpass.getuser()}", role="admin")


@main.group()
def webhooks():
    """Webhooks through the API (client); `webhooks run` delivers from here (admin)."""


@webhooks.command("run")
def webhooks_run():
    """(Admin, opens the database) Deliver webhooks from this process until stopped.

    For deployments that run `registry serve` with REGISTRY_WEBHOOK_WORKER=0. Any
    number may run: one, elected through the database, delivers.
    """
    from .delivery import worker

    app = _build_app()
    click.echo("delivering webhooks; Ctrl-C to stop", err=True)
    try:
        worker.Worker(app).run_forever()
    except KeyboardInterrupt:
        pass


@main.group()
def audit():
    """The audit log."""


@audit.command("verify")
def audit_verify():
    """Recompute the audit hash chain; exit 1 naming the first record that does not match."""
    from .db import database
    from .domain import anchors
    from .domain import audit as audit_log

    app = _build_app()
    anchor = _guarded(anchors.latest, app.extensions["registry_storage"])
    with database.connection_context():
        report = audit_log.verify_log(_operator(), anchor)
    if report["ok"]:
        matched = f", matches the anchor of record {anchor.record_id}" if anchor else ", no anchor yet"
        click.echo(f"ok: {report['records']} records, head {report['head_hash']}{matched}")
        return
    bad = report["first_bad"]
    click.echo(f"TAMPERED: record {bad['id']}: {bad['reason']} ({report['records']} records verified before it)",
               err=True)
    sys.exit(1)


@audit.command("anchor")
def audit_anchor():
    """Write the newest record's hash to blob storage, where verify compares the chain with it."""
    from .db import database
    from .domain import anchors

    app = _build_app()
    with database.connection_context():
        anchor = _guarded(anchors.anchor_head, _operator(), app.extensions["registry_storage"])
    if anchor is None:
        click.echo("nothing to anchor: the audit log is empty")
        return
    click.echo(f"anchored record {anchor.record_id}: {anchor.hash}")


class _Duration(click.ParamType):
    """``90``, ``90s``, ``30m``, ``24h`` or ``7d``, as seconds."""

    name = "duration"
    _UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        unit = self._UNITS.get(text[-1:], None)
        number = text[:-1] if unit else text
        if not number.isdigit():
            self.fail(f"{value!r} is not a duration such as 90s, 30m, 24h or 7d", param, ctx)
        return int(number) * (unit or 1)


@main.command()
@click.option("--dry-run", is_flag=True, help="Report what would be removed; remove nothing.")
@click.option("--grace", type=_Duration(), default="24h", show_default=True,
              help="Spare anything claimed or uploaded more recently than this (90s, 30m, 24h, 7d).")
def gc(dry_run, grace):
    """Remove stored bytes no version or run file names: blobs of deleted versions, cut-off uploads.

    Never removes bytes a file names, or an upload that started within the grace
    period; safe while the service runs. Also: POST /gc with an admin token.
    """
    from .db import database
    from .domain import gc as collector

    app = _build_app()
    with database.connection_context():
        report = _guarded(collector.collect_garbage, _operator(), app.extensions["registry_storage"], grace, dry_run)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {report.blobs} unreferenced blob(s) ({report.blob_bytes} bytes), "
               f"{report.leftovers} leftover object(s) ({report.leftover_bytes} bytes) and "
               f"{report.multipart_uploads} stale multipart upload(s): {report.bytes_freed} bytes")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def openapi(fmt):
    """Print the OpenAPI document the app serves at /openapi.json."""
    import yaml

    from .openapi import spec_dict

    document = spec_dict(_build_app(migrate=False))
    if fmt == "json":
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), nl=False)


_client_cli.add_to(main, webhooks)

if __name__ == "__main__":
    main()
