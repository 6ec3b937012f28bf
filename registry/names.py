"""Validation of the names and paths clients send us.

Artifact paths end up in storage keys and tar archives, so they are checked
strictly here, once, before anything else sees them.
"""
import re

from .errors import RegistryError

MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
RUN_ID_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_PATH_LENGTH = 1024
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _invalid(field, message):
    return RegistryError("validation_error", message, {field: [message]})


def check_model_name(name):
    """Return ``name`` or raise validation_error."""
    if not isinstance(name, str) or not MODEL_NAME_RE.match(name):
        raise _invalid(
            "name",
            "Model names are 1-128 characters of letters, digits, '_', '.' and '-', "
            "starting with a letter or digit.",
        )
    return name


def check_run_id(run_id):
    """Return ``run_id`` or raise validation_error."""
    if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id):
        raise _invalid("run_id", "Run ids are 32 lowercase hexadecimal characters.")
    return run_id


def path_problem(path, allow_empty=False):
    """Return why ``path`` is not a valid artifact path, or None if it is."""
    if not isinstance(path, str):
        return "must be a string"
    if path == "":
        return None if allow_empty else "must not be empty"
    if len(path) > MAX_PATH_LENGTH:
        return f"must be at most {MAX_PATH_LENGTH} characters"
    if "\\" in path:
        return "must not contain a backslash"
    if _CONTROL_RE.search(path):
        return "must not contain control characters"
    if path.startswith("/"):
        return "must be relative (no leading '/')"
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            return "must not contain empty, '.' or '..' segments"
    return None


def check_artifact_path(path, allow_empty=False):
    """Return ``path`` or raise validation_error naming the rule it breaks."""
    problem = path_problem(path, allow_empty)
    if problem:
        raise _invalid("path", f"Artifact path {problem}.")
    return path
