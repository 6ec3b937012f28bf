"""MLflow's run search syntax, parsed into plain comparisons.

    metrics.val_accuracy >= 0.9 AND params.model = 'bert' AND tags."mlflow.user" LIKE 'ci-%'

Identifiers are ``metrics.``, ``params.``, ``tags.`` or ``attributes.`` (and
MLflow's singular spellings) followed by a key, bare or quoted with backticks
or double quotes. A malformed filter raises validation_error naming the
offending token and its position.
"""
import re
from dataclasses import dataclass

from .errors import RegistryError

KINDS = {"metric": "metrics", "metrics": "metrics", "param": "params", "params": "params", "parameter": "params",
         "parameters": "params", "tag": "tags", "tags": "tags", "attribute": "attributes",
         "attributes": "attributes", "attr": "attributes", "run": "attributes"}
STRING_ATTRIBUTES = ("status", "run_name", "run_id", "user_id")
TIME_ATTRIBUTES = ("start_time", "end_time")
NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE")

_NUMBER = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_STRING = r"'[^']*'|\"[^\"]*\""
_KEY = r"`[^`]*`|\"[^\"]*\"|[A-Za-z0-9_\-./:]+"
_TOKEN_RE = re.compile(rf"""
    (?P<space>\s+)
  | (?P<ident>[A-Za-z_]+\.(?:{_KEY})|[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|=|<|>)
  | (?P<number>{_NUMBER})
  | (?P<string>{_STRING})
""", re.VERBOSE)

# The same grammar as one regular expression, for openapi.yaml (valid in ECMA-262 too).
_NUMERIC_OP = r"\s*(?:<=|>=|!=|=|<|>)\s*"
_STRING_OP = r"(?:\s*(?:!=|=)\s*|\s+(?:LIKE|like|ILIKE|ilike)\s*)"
_CLAUSE = (
    rf"(?:(?:metrics|metric)\.(?:{_KEY}){_NUMERIC_OP}(?:{_NUMBER})"
    rf"|(?:params|param|parameters|parameter|tags|tag)\.(?:{_KEY}){_STRING_OP}(?:{_STRING})"
    rf"|(?:attributes|attribute|attr|run)\.(?:{'|'.join(STRING_ATTRIBUTES)}){_STRING_OP}(?:{_STRING})"
    rf"|(?:attributes|attribute|attr|run)\.(?:{'|'.join(TIME_ATTRIBUTES)}){_NUMERIC_OP}(?:{_NUMBER}))"
)
FILTER_PATTERN = rf"^\s*(?:{_CLAUSE}(?:\s+(?:AND|and)\s+{_CLAUSE})*)?\s*$"


@dataclass(frozen=True)
class Comparison:
    kind: str  # metrics, params, tags or attributes
    key: str
    op: str
    value: str | float


def _error(message, token, position):
    raise RegistryError("validation_error", f"Bad filter at position {position} ({token!r}): {message}",
                        {"filter": [message], "token": token, "position": position})


def _tokens(text):
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            _error("this is not a key, an operator, a number or a quoted string", text[position:position + 20],
                   position)
        if match.lastgroup != "space":
            yield match.lastgroup, match.group(), position
        position = match.end()


def parse(text: str | None) -> list[Comparison]:
    """The comparisons of a filter (all must hold); [] for an empty one."""
    tokens = list(_tokens(text or ""))
    comparisons: list[Comparison] = []
    i = 0
    while i < len(tokens):
        if comparisons:
            kind, token, position = tokens[i]
            if token.upper() != "AND":
                _error("expected AND between comparisons (OR is not supported)", token, position)
            i += 1
        if len(tokens) - i < 3:
            kind, token, position = tokens[-1]
            _error("expected <key> <operator> <value>; the filter ends early", token, position)
        comparisons.append(_comparison(tokens[i:i + 3]))
        i += 3
    return comparisons


def _comparison(three):
    (ident_kind, ident, ident_at), (op_kind, op, op_at), (value_kind, value, value_at) = three
    if ident_kind != "ident" or "." not in ident:
        _error("expected metrics.<key>, params.<key>, tags.<key> or attributes.<name>", ident, ident_at)
    prefix, key = ident.split(".", 1)
    kind = KINDS.get(prefix.lower())
    if kind is None:
        _error("the key must start with metrics., params., tags. or attributes.", ident, ident_at)
    if key[:1] in "`\"":
        key = key[1:-1]
    if op_kind == "ident" and op.upper() in ("LIKE", "ILIKE"):
        op = op.upper()
    elif op_kind != "op":
        _error("expected an operator: = != < <= > >= LIKE ILIKE", op, op_at)
    if kind == "attributes" and key not in STRING_ATTRIBUTES + TIME_ATTRIBUTES:
        _error(f"unknown attribute; use one of {', '.join(STRING_ATTRIBUTES + TIME_ATTRIBUTES)}", ident, ident_at)
    numeric = kind == "metrics" or key in TIME_ATTRIBUTES and kind == "attributes"
    if numeric:
        if op not in NUMERIC_OPS:
            _error(f"{ident} compares as a number: use = != < <= > >=", op, op_at)
        if value_kind != "number":
            _error(f"{ident} compares with a number", value, value_at)
        return Comparison(kind, key, op, float(value))
    if op not in STRING_OPS:
        _error(f"{ident} compares as a string: use = != LIKE ILIKE", op, op_at)
    if value_kind != "string":
        _error(f"{ident} compares with a quoted string", value, value_at)
    return Comparison(kind, key, op, value[1:-1])


@dataclass(frozen=True)
class Order:
    kind: str
    key: str
    descending: bool


_ORDER_KINDS = "metrics|metric|params|param|parameters|parameter|tags|tag"
_ORDER_ATTRIBUTE_KINDS = "attributes|attribute|attr|run"
# ECMA-262-compatible too: openapi.yaml documents it as is.
ORDER_BY_PATTERN = (
    rf"^\s*(?:({_ORDER_KINDS})\.(`[^`]+`|\"[^\"]+\"|[A-Za-z0-9_\-./:]+)"
    rf"|({_ORDER_ATTRIBUTE_KINDS})\.({'|'.join(STRING_ATTRIBUTES + TIME_ATTRIBUTES)}))"
    r"(?:\s+(ASC|DESC|asc|desc))?\s*$"
)
_ORDER_RE = re.compile(ORDER_BY_PATTERN)


def parse_order(clause: str) -> Order:
    """One order_by clause: ``metrics.val_accuracy DESC``, ``attributes.start_time``, …"""
    match = _ORDER_RE.match(clause or "")
    if match is None:
        raise RegistryError("validation_error",
                            f"Bad order_by {clause!r}: use <metrics|params|tags>.<key> or attributes.<"
                            f"{'|'.join(STRING_ATTRIBUTES + TIME_ATTRIBUTES)}>, then ASC or DESC.",
                            {"order_by": [clause]})
    kind_name, key, attribute_kind, attribute, direction = match.groups()
    key = attribute if attribute_kind else key
    if key[:1] in "`\"":
        key = key[1:-1]
    return Order(KINDS[(kind_name or attribute_kind)], key, (direction or "ASC").upper() == "DESC")
