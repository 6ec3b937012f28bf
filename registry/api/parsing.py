"""Request bodies: JSON is bounded in nesting and number size before any schema sees it.

Python's json module recurses once per level and turns any run of digits
into an int, so a small body can still cost a RecursionError (a 500) or
seconds of CPU. Every blueprint uses this parser through ``Blueprint``.
"""
import json

import flask_smorest
from webargs import core
from webargs.flaskparser import FlaskParser
from webargs.flaskparser import is_json_request

MAX_DEPTH = 32
MAX_NUMBER_CHARACTERS = 40


class BoundedJSONParser(FlaskParser):
    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        # A UnicodeDecodeError is webargs' to report, like a JSONDecodeError.
        return bounded_loads(req.get_data(cache=True).decode("utf-8"))


def bounded_loads(text: str):
    """json.loads, refusing (JSONDecodeError) nesting deeper than MAX_DEPTH and overlong numbers."""
    try:
        value = json.loads(text, parse_int=_number(int), parse_float=_number(float), parse_constant=_constant)
    except RecursionError as exc:
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", text, 0) from exc
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise
        raise json.JSONDecodeError(str(exc), text, 0) from exc
    if _depth(value) > MAX_DEPTH:
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", text, 0)
    return value


def _number(kind):
    def parse(literal):
        if len(literal) > MAX_NUMBER_CHARACTERS:
            raise ValueError(f"a number longer than {MAX_NUMBER_CHARACTERS} characters")
        return kind(literal)

    return parse


def _constant(name):
    raise ValueError(f"{name} is not JSON")


def _depth(value):
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return deepest


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = BoundedJSONParser()
