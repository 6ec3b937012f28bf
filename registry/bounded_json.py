"""JSON request bodies, bounded in nesting and number size before anything else sees them.

Python's json module recurses once per level and turns any run of digits
into an int, so a small body can still cost a RecursionError (a 500) or
seconds of CPU. Every surface parses request JSON with ``bounded_loads``.
"""
import json

MAX_DEPTH = 32
MAX_NUMBER_CHARACTERS = 40


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
