"""The client commands: push, register, promote, pull, check and webhooks, over HTTP with REGISTRY_URL and REGISTRY_TOKEN.

Exit codes tell a pipeline what happened: 0 done, 1 check failed (not in that
stage), 2 usage, 3 refused by the rules, 4 not allowed, 5 not found,
6 service unavailable (after retries), 7 a file's sha256 did not match.
"""
import functools
import json
import sys

import click

from .api import Client
from .errors import RegistryClientError
from .transfer import pull as pull_version
from .transfer import push as push_directory

COMMANDS = ("push", "register", "promote", "pull", "check", "webhooks")
_url = click.option("--url", envvar="REGISTRY_URL", default="http://127.0.0.1:5000", show_default=True,
                    help="The service (env REGISTRY_URL).")
_token = click.option("--token", envvar="REGISTRY_TOKEN", help="A registry token (env REGISTRY_TOKEN).")


def _client_command(function):
    """Adds --url and --token, passes a Client, and turns a refusal into a message and its exit code."""
    @_url
    @_token
    @functools.wraps(function)
    def run(url, token, **kwargs):
        try:
            return function(Client(url, token), **kwargs)
        except RegistryClientError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
    return run


def _show(value):
    click.echo(json.dumps(value, indent=2, sort_keys=True))


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--run", "run_id", help="Add to this run instead of creating one.")
@click.option("--experiment", help="Experiment of the new run (created if missing).")
@click.option("--name", help="Name of the new run.")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 32), help="Parallel uploads.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_client_command
def push(client, directory, run_id, experiment, name, workers, quiet):
    """Upload DIRECTORY as a run's files; print the run id. Files already stored with the same sha256 are skipped."""
    run_id, sent, skipped = push_directory(client, directory, run_id, experiment, name, workers, quiet)
    click.echo(f"{sent} file(s) uploaded, {skipped} already there", err=True)
    click.echo(run_id)


@click.command()
@click.argument("name")
@click.argument("source")
@click.option("--description", default="")
@_client_command
def register(client, name, source, description):
    """Register SOURCE (runs:/<run id>/<path> or models:/<name>/<ref>) as a new version of NAME; print its number."""
    click.echo(client.register(name, source, description)["version"])


@click.command()
@click.argument("name")
@click.argument("ref")
@click.option("--to", "stage", required=True, help="Staging, Production or Archived.")
@click.option("--comment", default="", help="Why; kept in the audit log.")
@_client_command
def promote(client, name, ref, stage, comment):
    """Move version REF of NAME to a stage (promoting archives the previous Production version)."""
    result = client.transition(name, ref, stage, comment)
    for record in result["transitions"]:
        cause = f" ({record['cause']})" if record.get("cause") else ""
        click.echo(f"{name} version {record['version']}: {record['from_stage']} -> {record['to_stage']}{cause}")


@click.command()
@click.argument("target", metavar="NAME@REF")
@click.option("-o", "--output", "directory", required=True, type=click.Path(file_okay=False), help="Directory.")
@click.option("--if-changed", is_flag=True, help="Exit 0 without downloading when the directory holds that version.")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 32), help="Parallel downloads.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_client_command
def pull(client, target, directory, if_changed, workers, quiet):
    """Download a version's files into a directory, checking each sha256. REF: production, staging, a number, an alias."""
    name, sep, ref = target.rpartition("@")
    if not sep or not name or not ref:
        raise click.BadParameter("expected NAME@REF, e.g. TextClassifier@production", param_hint="NAME@REF")
    version, fetched = pull_version(client, name, ref, directory, if_changed, workers, quiet)
    state = "downloaded" if fetched else "unchanged"
    click.echo(f"{version['name']} version {version['version']} ({version['stage']}): {state} in {directory}")


@click.command()
@click.argument("name")
@click.argument("ref")
@click.option("--stage", required=True, help="The stage the version must be in.")
@_client_command
def check(client, name, ref, stage):
    """A CI gate: exit 0 if version REF of NAME is in STAGE, 1 if it is not."""
    version = client.get_version(name, ref)
    if version["stage"].lower() == stage.lower():
        click.echo(f"{name} version {version['version']} is in {version['stage']}")
        return
    click.echo(f"{name} version {version['version']} is in {version['stage']}, not {stage}", err=True)
    sys.exit(1)


def add_webhook_commands(group) -> None:
    """The API's webhook operations, under ``registry webhooks``."""

    @group.command("create")
    @click.argument("url")
    @click.option("--event", "events", multiple=True, required=True, help="Repeat for each event.")
    @click.option("--model", "models", multiple=True, help="A model name pattern; repeat. None: every model.")
    @click.option("--secret", help="The signing secret; generated when not given.")
    @click.option("--description", default="")
    @_client_command
    def create(client, url, events, models, secret, description):
        """Create a webhook; its secret is printed this once."""
        _show(client.create_webhook(url, list(events), list(models), secret, description))

    @group.command("list")
    @_client_command
    def list_(client):
        """Every webhook within the token's reach."""
        _show(client.list_webhooks()["webhooks"])

    @group.command("get")
    @click.argument("webhook_id", type=int)
    @_client_command
    def get(client, webhook_id):
        _show(client.get_webhook(webhook_id))

    @group.command("update")
    @click.argument("webhook_id", type=int)
    @click.option("--url")
    @click.option("--event", "events", multiple=True)
    @click.option("--model", "models", multiple=True)
    @click.option("--secret")
    @click.option("--active/--inactive", default=None)
    @_client_command
    def update(client, webhook_id, url, events, models, secret, active):
        fields = {"url": url, "events": list(events) or None, "models": list(models) or None, "secret": secret,
                  "active": active}
        _show(client.update_webhook(webhook_id, **{k: v for k, v in fields.items() if v is not None}))

    @group.command("delete")
    @click.argument("webhook_id", type=int)
    @_client_command
    def delete(client, webhook_id):
        client.delete_webhook(webhook_id)

    @group.command("test")
    @click.argument("webhook_id", type=int)
    @_client_command
    def test(client, webhook_id):
        """Send a signed ping now; exit 6 if the receiver did not accept it."""
        delivery = client.test_webhook(webhook_id)
        _show(delivery)
        if delivery["status"] != "delivered":
            sys.exit(6)

    @group.command("deliveries")
    @click.argument("webhook_id", type=int)
    @click.option("--status", type=click.Choice(["pending", "delivered", "failed"]))
    @_client_command
    def deliveries(client, webhook_id, status):
        _show(client.deliveries(webhook_id, status)["deliveries"])

    @group.command("redeliver")
    @click.argument("webhook_id", type=int)
    @click.argument("delivery_id", type=int)
    @_client_command
    def redeliver(client, webhook_id, delivery_id):
        _show(client.redeliver(webhook_id, delivery_id))


def add_to(main, webhooks_group) -> None:
    for command in (push, register, promote, pull, check):
        main.add_command(command)
    add_webhook_commands(webhooks_group)
