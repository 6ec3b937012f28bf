"""Models, a model's versions and lifecycle timeline, a version's page and its actions."""
import datetime

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from ..authentication import browser_session
from ..authentication import principal
from ..domain import aliases
from ..domain import audit
from ..domain import auth
from ..domain import service
from ..domain import timeline
from ..domain.errors import RegistryError
from . import files
from .blueprint import PAGE_SIZE
from .blueprint import bp
from .errors import OUTAGES
from .errors import STATUS
from .timeline_chart import draw


@bp.route("/")
@browser_session
def home():
    return redirect(url_for("ui.models"))


@bp.route("/models")
@browser_session
def models():
    query = request.args.get("q", "").strip()
    found, next_token = service.list_models(principal(), query or None, PAGE_SIZE,
                                            request.args.get("page_token") or None)
    return render_template("models.html", models=found, q=query, next_token=next_token)


@bp.route("/models/<name>")
@browser_session
def model(name):
    me = principal()
    found = service.get_model(me, name)
    before = request.args.get("before", type=int)
    versions, following = service.version_page(me, name, PAGE_SIZE, before)
    history = timeline.stage_timeline(me, name)
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    at, at_error, held = _point_in_time(me, name, request.args.get("at", "").strip())
    return render_template("model.html", model=found, versions=versions, following=following, before=before,
                           timeline=history, chart=draw(history, now), at=at, at_error=at_error, held=held)


def _point_in_time(me, name, text):
    """(the time asked about, an error, {stage: version or None}) for the "what was in Production at" form."""
    if not text:
        return None, None, None
    try:
        at = datetime.datetime.fromisoformat(text)
    except ValueError:
        return text, "Give a time as YYYY-MM-DD HH:MM (UTC).", None
    if at.tzinfo is not None:
        at = at.astimezone(datetime.UTC).replace(tzinfo=None)
    held = {}
    for stage in ("Production", "Staging"):
        try:
            held[stage] = service.get_version_at(me, name, stage, at).version
        except RegistryError as exc:
            if exc.code != "not_found":
                raise
            held[stage] = None
    return at, None, held


@bp.route("/models/<name>/versions/<int:number>")
@browser_session
def version(name, number):
    return _version_page(name, number)


def _version_page(name, number, error=None, status=200):
    me = principal()
    found = service.get_version(me, name, str(number))
    return render_template(
        "version.html", v=found, history=audit.history(me, name, str(number)), error=error,
        moves=auth.permitted_moves(me, name, found.stage), may_alias=me.may("writer", name),
        archive_url=url_for("downloads.VersionArchive", name=name, ref=str(number), _external=True),
    ), status


def _act(name, number, action, done):
    """Run ``action``; on success back to the version page, else that page with the refusal inline."""
    if not request.form.get("comment", "").strip():
        return _version_page(name, number, "Say why: every action needs a comment.", 400)
    try:
        action(request.form["comment"].strip())
    except RegistryError as exc:
        if exc.code in OUTAGES or exc.code == "unauthorized":
            raise
        return _version_page(name, number, exc.message, STATUS[exc.code])
    flash(done)
    return redirect(url_for("ui.version", name=name, number=number), 303)


@bp.route("/models/<name>/versions/<int:number>/stage", methods=["POST"])
@browser_session
def move(name, number):
    stage = request.form.get("stage", "")
    return _act(name, number, lambda comment: service.transition(principal(), name, str(number), stage, comment),
                f"Version {number} moved to {stage}.")


@bp.route("/models/<name>/versions/<int:number>/alias", methods=["POST"])
@browser_session
def set_alias(name, number):
    alias = request.form.get("alias", "").strip()
    return _act(name, number, lambda comment: aliases.set_alias(principal(), name, alias, str(number), comment),
                f"@{alias} now points at version {number}.")


@bp.route("/models/<name>/versions/<int:number>/alias/delete", methods=["POST"])
@browser_session
def delete_alias(name, number):
    alias = request.form.get("alias", "").strip()
    return _act(name, number, lambda comment: aliases.delete_alias(principal(), name, alias, comment),
                f"@{alias} removed.")


@bp.route("/models/<name>/versions/<int:number>/files/<path:path>")
@browser_session
def version_file(name, number, path):
    found = service.get_version(principal(), name, str(number))
    return files.send(current_app.extensions["registry_storage"], service.version_file(found, path))
