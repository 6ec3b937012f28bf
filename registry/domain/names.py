"""Validation of the names and paths clients send us.

Artifact paths end up in storage keys and tar archives, so they are checked
strictly here, once, before anything else sees them.
"""
import re

from .errors import RegistryError
from .lifecycle import STAGES

MAX_PATH_LENGTH = 1024
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _any_case(word):
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


# The same regular expressions validate requests and appear in openapi.yaml,
# so the documented contract and the code cannot disagree. They use only
# syntax shared by Python and ECMA-262 (JSON Schema's dialect).
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
_RUN_ID = r"[0-9a-f]{32}"
# A path segment: no '/', control character or backslash, and not '.' or '..'.
_SEGMENT = r"(?:[^/.\x00-\x1f\x7f\\]|\.[^/.\x00-\x1f\x7f\\]|\.\.[^/\x00-\x1f\x7f\\])[^/\x00-\x1f\x7f\\]*"
_PATH = rf"{_SEGMENT}(?:/{_SEGMENT})*"
_STAGE = "|".join(_any_case(stage) for stage in STAGES)
_ALIAS = r"[A-Za-z][A-Za-z0-9_-]{0,63}"
_REF = rf"[0-9]+|{_any_case('latest')}|{_STAGE}|@{_ALIAS}"

MODEL_NAME_PATTERN = rf"^{_NAME}$"
RUN_ID_PATTERN = rf"^{_RUN_ID}$"
ARTIFACT_PATH_PATTERN = rf"^{_PATH}$"
STAGE_PATTERN = rf"^(?:{_STAGE})$"
REF_PATTERN = rf"^(?:{_REF})$"
ALIAS_PATTERN = rf"^{_ALIAS}$"
SOURCE_PATTERN = rf"^(?:runs:/({_RUN_ID})(?:/((?:{_PATH})?)/?)?|models:/({_NAME})/({_REF}))$"
TEXT_PATTERN = r"^[^\x00]*$"

MODEL_NAME_RE = re.compile(MODEL_NAME_PATTERN)
RUN_ID_RE = re.compile(RUN_ID_PATTERN)
SOURCE_RE = re.compile(SOURCE_PATTERN)
VERSION_NUMBER_RE = re.compile(r"^[0-9]+$")
ALIAS_RE = re.compile(ALIAS_PATTERN)
_RESERVED_ALIAS_RE = re.compile(r"^(?:latest|[vV][0-9]+)$", re.IGNORECASE)


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


def check_alias(alias):
    """Return ``alias`` or raise validation_error; ``latest`` and ``v<number>`` are reserved, as in MLflow."""
    if not isinstance(alias, str) or not ALIAS_RE.match(alias) or _RESERVED_ALIAS_RE.match(alias):
        raise _invalid("alias", "Aliases are 1-64 letters, digits, '_' and '-', starting with a letter; "
                                "'latest' and 'v<number>' are reserved.")
    return alias


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
