"""Which files a version source names: ``runs:/<run_id>/<path>`` or ``models:/<name>/<ref>``."""
from ..models import RegisteredModel
from ..models import RunFile
from ..models import VersionFile
from .errors import RegistryError
from .names import SOURCE_RE
from .refs import resolve_ref
from .runs import run_row


def source_files(source, model, principal):
    """Return (run_id, [(path, sha256, size)]) for a source URI.

    A models:/ source needs read access to that model.
    """
    match = SOURCE_RE.match(source) if isinstance(source, str) else None
    if match is None:
        raise _bad_source(source)
    run_id, path, name, ref = match.groups()
    if run_id is not None:
        return _run_source_files(source, run_id, path or "")
    principal.require("reader", name)
    return _model_source_files(source, name, ref, model)


def _bad_source(source):
    return RegistryError(
        "validation_error",
        f"Source {source!r} is not runs:/<run_id>/<path> or models:/<name>/<version|stage|latest>.",
        {"source": ["Invalid source URI."]},
    )


def _run_source_files(source, run_id, path):
    try:
        run = run_row(run_id)
    except RegistryError as exc:
        raise RegistryError("source_not_found", f"{source}: run {run_id} does not exist.") from exc
    files = []
    for f in RunFile.select().where(RunFile.run == run).order_by(RunFile.path):
        if not path:
            files.append((f.path, f.sha256, f.size))
        elif f.path == path:
            files.append((path.rsplit("/", 1)[-1], f.sha256, f.size))
        elif f.path.startswith(path + "/"):
            files.append((f.path[len(path) + 1:], f.sha256, f.size))
    if not files:
        raise RegistryError("source_not_found", f"{source}: the run has no file or folder {path or '(any)'}.")
    return run_id, sorted(files)


def _model_source_files(source, name, ref, model):
    origin_model = model if name == model.name else RegisteredModel.get_or_none(RegisteredModel.name == name)
    if origin_model is None:
        raise RegistryError("source_not_found", f"{source}: model {name} does not exist.")
    try:
        origin = resolve_ref(origin_model, ref)
    except RegistryError as exc:
        if exc.code != "not_found":
            raise
        raise RegistryError("source_not_found", f"{source}: {exc.message}") from exc
    files = VersionFile.select().where(VersionFile.version == origin).order_by(VersionFile.path)
    return origin.run_id, [(f.path, f.sha256, f.size) for f in files]
