"""Reading an MLflow request: a JSON body (POST, PATCH, DELETE) or the query string (GET).

Values are checked here, so a wrong type is INVALID_PARAMETER_VALUE, never a 500.
"""
import json
import re

from flask import request

from ..bounded_json import bounded_loads
from ..domain.errors import RegistryError

_DIGITS = re.compile(r"^-?[0-9]{1,19}$")


def _invalid(message):
    return RegistryError("validation_error", message)


def body() -> dict:
    """The request's parameters as a dict (query lists kept as lists)."""
    if request.method == "GET":
        return {key: values if len(values) > 1 else values[0] for key, values in request.args.lists()}
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        parsed = bounded_loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise _invalid("The request body must be a JSON object.")
    return parsed


def text(data: dict, key: str, required: bool = True, default: str | None = None) -> str | None:
    value = data.get(key)
    if value is None or value == "" and required:
        if required:
            raise _invalid(f"Missing value for required parameter '{key}'.")
        return default
    if not isinstance(value, str):
        raise _invalid(f"Parameter '{key}' must be a string.")
    return _storable(key, value)


def _storable(key, value):
    # NUL cannot be stored in PostgreSQL text, nor a lone surrogate in any database.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _invalid(f"Parameter '{key}' must be valid Unicode (no lone surrogates).") from exc
    if "\x00" in value:
        raise _invalid(f"Parameter '{key}' must not contain NUL characters.")
    return value


def integer(data: dict, key: str, required: bool = False, default: int | None = None) -> int | None:
    """An int64 (protobuf's JSON sends those as strings or numbers)."""
    value = data.get(key)
    if value is None:
        if required:
            raise _invalid(f"Missing value for required parameter '{key}'.")
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not _DIGITS.match(str(value)):
        raise _invalid(f"Parameter '{key}' must be an integer.")
    return int(value)


def number(data: dict, key: str) -> float:
    """A double: a JSON number or protobuf's "NaN", "Infinity", "-Infinity"."""
    value = data.get(key)
    special = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
    if isinstance(value, str) and value in special:
        return special[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid(f"Parameter '{key}' must be a number.")
    return float(value)


def items(data: dict, key: str) -> list:
    """A repeated message field: a list of objects."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _invalid(f"Parameter '{key}' must be a list of objects.")
    return value


def strings(data: dict, key: str) -> list[str]:
    """A repeated string field (a JSON list, or a repeated query parameter)."""
    value = data.get(key)
    value = [] if value is None else [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(f"Parameter '{key}' must be a list of strings.")
    return value


def pairs(data: dict, key: str) -> list[tuple[str, str]]:
    """MLflow's [{"key": k, "value": v}] as (k, v) pairs, in order, repeats kept."""
    found = []
    for item in items(data, key):
        k, v = item.get("key"), item.get("value", "")
        if not isinstance(k, str) or not isinstance(v, str):
            raise _invalid(f"Each of '{key}' needs a string key and a string value.")
        found.append((_storable(key, k), _storable(key, v)))
    return found


def key_values(data: dict, key: str) -> dict:
    """MLflow's [{"key": k, "value": v}] as a dict."""
    return dict(pairs(data, key))


def flag(data: dict, key: str) -> bool:
    value = data.get(key, False)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise _invalid(f"Parameter '{key}' must be true or false.")
    return value


def version_number(data: dict, key: str = "version") -> str:
    """A model version: digits, as a string (MLflow sends versions as strings)."""
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not re.match(r"^[0-9]{1,10}$", value):
        raise _invalid(f"Parameter '{key}' must be a version number.")
    return value
