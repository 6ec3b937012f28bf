"""API tokens, roles and who may do what. No Flask here: the CLI uses it too.

A token is ``rgt_<selector>_<secret>``. The selector finds the row; only a
sha256 of the secret is stored, and it is compared in constant time. The
token itself is shown once, at creation.
"""
import base64
import datetime
import fnmatch
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass

from peewee import IntegrityError

from ..db import write_transaction
from ..models import ApiToken
from ..models import utcnow
from . import audit
from . import lifecycle
from .errors import RegistryError
from .values import Token
from .values import token_value

logger = logging.getLogger(__name__)

ROLES = ("reader", "writer", "maintainer", "admin")
# Scrapes /metrics and nothing else: below reader, so every other check refuses it.
METRICS_ROLE = "metrics"
TOKEN_ROLES = (*ROLES, METRICS_ROLE)
_RANK = {METRICS_ROLE: -1, **{role: rank for rank, role in enumerate(ROLES)}}
TOKEN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
MODEL_PATTERN_PATTERN = r"^[A-Za-z0-9_.*?\[\]!-]{1,128}$"
_TOKEN_RE = re.compile(r"^rgt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_WILDCARD_RE = re.compile(r"[*?\[\]!]")
ADMIN_TOKEN_FILE = "admin.token"
_NO_SECRET_HASH = "0" * 64


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name, role and model patterns (empty = every model)."""

    name: str
    role: str
    models: tuple = ()
    token_id: int | None = None

    def has_role(self, role):
        return _RANK[self.role] >= _RANK[role]

    def may_access(self, model_name):
        return not self.models or any(fnmatch.fnmatchcase(model_name, p) for p in self.models)

    def covers(self, patterns) -> bool:
        """True if every model ``patterns`` can name is one this principal may access.

        Fails closed: an unlimited scope (no patterns) is within no limit, and
        a wildcard pattern is within a limit only if the limit lists it as is
        (whether one glob contains another is not worth guessing).
        """
        if not self.models:
            return True
        if not patterns:
            return False
        return all(p in self.models or (not _WILDCARD_RE.search(p) and self.may_access(p)) for p in patterns)

    def may(self, role, model_name=None) -> bool:
        """True if ``require(role, model_name)`` would pass."""
        return self.has_role(role) and (model_name is None or self.may_access(model_name))

    def require_covering(self, patterns, what: str) -> None:
        """Raise forbidden unless ``covers(patterns)``; ``what`` names the thing being limited."""
        if not self.covers(patterns):
            raise RegistryError(
                "forbidden",
                f"Token {self.name!r} is limited to models {', '.join(self.models)}; {what} must be "
                "limited to those patterns, or to model names they match.",
                {"models": list(self.models)},
            )

    def require(self, role, model_name=None):
        """Raise forbidden unless this principal has ``role`` (and access to the model)."""
        if not self.has_role(role):
            raise RegistryError(
                "forbidden",
                f"This needs the {role} role; token {self.name!r} has the {self.role} role.",
                {"required_role": role, "role": self.role},
            )
        if model_name is not None and not self.may_access(model_name):
            raise RegistryError(
                "forbidden",
                f"Token {self.name!r} is limited to models {', '.join(self.models)}; "
                f"it has no access to {model_name}.",
                {"models": list(self.models)},
            )


# Local operators (the CLI, start-up) act with full rights under this name.
SYSTEM = Principal(name="system", role="admin")
# Whoever reaches REGISTRY_METRICS_PORT: that port serves /metrics and nothing else.
METRICS_PORT_SCRAPER = Principal(name="metrics-port", role=METRICS_ROLE)


def role_for_transition(current, target):
    """Anything that touches Production needs a maintainer; other moves a writer."""
    if lifecycle.PRODUCTION in (current, target):
        return "maintainer"
    return "writer"


def _unauthorized(message):
    return RegistryError("unauthorized", message)


def _secret_hash(secret):
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _basic_password(value):
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, ValueError):
        return ""
    return decoded.partition(":")[2]


def authenticate(header):
    """Return the Principal for an ``Authorization`` header; raises unauthorized."""
    if not header:
        raise _unauthorized("Send Authorization: Bearer <token>; see `registry token create`.")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        # MLflow clients send MLFLOW_TRACKING_USERNAME/PASSWORD this way; the password is the token.
        value = _basic_password(value.strip())
    elif scheme.lower() != "bearer":
        value = ""
    return verify_token(value.strip())


# The columns a check reads; a query built once, cloned by each .where().
_TOKEN_FIELDS = ApiToken.select(ApiToken.secret_hash, ApiToken.id, ApiToken.name, ApiToken.role, ApiToken.models,
                                ApiToken.revoked_at, ApiToken.expires_at)


class _VerifiedTokens:
    """Tokens this process verified in the last ``TTL`` seconds, so a busy client costs no query per request.

    Keyed by the sha256 of the whole token: only a caller holding the token
    can hit an entry. Entries are never extended, so a token revoked on any
    instance is refused everywhere within ``TTL``; revoking in this process
    drops its entries at once.
    """

    TTL = 0.5
    MAX_ENTRIES = 10_000

    def __init__(self):
        self._entries: dict[str, tuple[float, Principal, datetime.datetime | None]] = {}

    def get(self, key):
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        _, principal, expires_at = entry
        if expires_at is not None and expires_at <= utcnow():
            return None
        return principal

    def put(self, key, principal, expires_at):
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()  # rare, and only costs each caller one query
        self._entries[key] = (time.monotonic() + self.TTL, principal, expires_at)

    def forget(self, token_id):
        for key, (_, principal, _) in list(self._entries.items()):
            if principal.token_id == token_id:
                self._entries.pop(key, None)


_verified = _VerifiedTokens()


def verify_token(token: str) -> Principal:
    """Return the Principal for a token string (``rgt_…``); raises unauthorized."""
    match = _TOKEN_RE.match(token)
    if match is None:
        raise _unauthorized("The Authorization header must be 'Bearer <token>' (or Basic with the token as "
                            "the password) with a registry token.")
    selector, secret = match.groups()
    key = _secret_hash(token)
    cached = _verified.get(key)
    if cached is not None:
        return cached
    # The same work on a hit and a miss (one query returning a plain row or
    # None, one comparison against a stored or dummy hash), so timing does
    # not reveal which selectors exist.
    row = _TOKEN_FIELDS.where(ApiToken.selector == selector).tuples().first()
    stored, *fields = row if row is not None else (_NO_SECRET_HASH, None, None, None, None, None, None)
    if not hmac.compare_digest(stored, _secret_hash(secret)) or row is None:
        raise _unauthorized("The token is not valid.")
    principal = _active_principal(*fields)
    _verified.put(key, principal, fields[-1])
    return principal


def session_principal(token_id: object) -> Principal:
    """The Principal of the token a browser session was signed in with; raises unauthorized.

    The session (signed by the server) holds the token's id, never the token,
    so revoking or expiring the token ends every session signed in with it.
    """
    if not isinstance(token_id, int):
        raise _unauthorized("Sign in with a token.")
    row = _TOKEN_FIELDS.where(ApiToken.id == token_id).tuples().first()
    if row is None:
        raise _unauthorized("The token of this session no longer exists.")
    return _active_principal(*row[1:])


def _active_principal(token_id, name, role, models, revoked_at, expires_at):
    if revoked_at is not None:
        raise _unauthorized("The token has been revoked.")
    if expires_at is not None and expires_at <= utcnow():
        raise _unauthorized("The token has expired.")
    return Principal(name=name, role=role, models=tuple(json.loads(models or "[]")), token_id=token_id)


def permitted_moves(principal: Principal, name: str, stage: str) -> tuple[str, ...]:
    """The stages this principal may move a version of ``name`` in ``stage`` to (for surfaces that offer moves)."""
    return tuple(target for target in lifecycle.ALLOWED[stage]
                 if principal.may(role_for_transition(stage, target), name))


def create_token(principal: Principal, name: str, role: str, models=(),
                 expires_in_days: int | None = None) -> tuple[Token, str]:
    """Create a token; return (the token, its secret string). The string is never stored.

    A token can only make tokens within its own reach: a role no higher than
    its own, and models within its own patterns. Raises validation_error,
    forbidden, and already_exists (an active token has that name).
    """
    _check_token_fields(name, role, models, expires_in_days)
    principal.require("admin")
    if _RANK[role] > _RANK[principal.role]:
        raise RegistryError("forbidden", f"Token {principal.name!r} cannot create a token with a higher role.")
    principal.require_covering(models, "the new token")
    selector = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    expires_at = None
    if expires_in_days is not None:
        expires_at = utcnow() + datetime.timedelta(days=expires_in_days)
    try:
        with write_transaction():
            token = ApiToken.create(
                name=name, role=role, models=json.dumps(list(models)), selector=selector,
                secret_hash=_secret_hash(secret), created_by=principal.name, expires_at=expires_at,
            )
            scope = ", ".join(models) if models else "all models"
            audit.append(audit.TOKEN_CREATE, principal.name, subject=name, comment=f"role {role}; {scope}")
    except IntegrityError as exc:
        raise RegistryError(
            "already_exists", f"An active token named {name!r} exists; revoke it or pick another name."
        ) from exc
    return token_value(token), f"rgt_{selector}_{secret}"


def _check_token_fields(name, role, models, expires_in_days):
    problems = {}
    if not isinstance(name, str) or not re.match(TOKEN_NAME_PATTERN, name):
        problems["name"] = ["Token names are 1-128 letters, digits, '_', '.' and '-'."]
    if role not in TOKEN_ROLES:
        problems["role"] = [f"Must be one of {', '.join(TOKEN_ROLES)}."]
    elif role == METRICS_ROLE and models:
        problems["models"] = ["A metrics token reads no model; it cannot be limited to some."]
    if any(not re.match(MODEL_PATTERN_PATTERN, p) for p in models):
        problems["models"] = ["Patterns are model-name characters plus * ? [ ] !"]
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        problems["expires_in_days"] = ["Must be between 1 and 3650."]
    if problems:
        raise RegistryError("validation_error", "The token request is not valid.", problems)


def list_tokens(principal: Principal) -> list[Token]:
    """The tokens ``principal`` may manage, active and revoked, oldest first (no secrets)."""
    principal.require("admin")
    return [token_value(t) for t in ApiToken.select().order_by(ApiToken.id) if principal.covers(t.model_patterns)]


def revoke_token(principal: Principal, name: str) -> Token:
    """Revoke the active token named ``name``.

    Raises not_found, and forbidden for a token outside the principal's reach
    or for the principal's own token (another admin must do that).
    """
    principal.require("admin")
    with write_transaction():
        token = ApiToken.get_or_none((ApiToken.name == name) & ApiToken.revoked_at.is_null())
        if token is None:
            raise RegistryError("not_found", f"No active token is named {name!r}.")
        if token.id == principal.token_id:
            raise RegistryError("forbidden", "A token cannot revoke itself; use another admin token or the CLI.")
        if not principal.covers(token.model_patterns):
            raise RegistryError("forbidden", f"Token {principal.name!r} cannot revoke a token with a wider reach.")
        token.revoked_at = utcnow()
        token.save()
        audit.append(audit.TOKEN_REVOKE, principal.name, subject=name, comment=f"role {token.role}")
    _verified.forget(token.id)
    return token_value(token)


def bootstrap_admin(data_dir):
    """On first start (no tokens at all), create an admin token in <data_dir>/admin.token.

    Returns the file's path if a token was created, else None. Safe when several
    workers start at once: the write transaction lets only one of them in.
    """
    path = os.path.join(data_dir, ADMIN_TOKEN_FILE)
    with write_transaction():
        audit.lock_head()  # serialises concurrent first starts on PostgreSQL
        if ApiToken.select().exists():
            return None
        _, token = create_token(SYSTEM, "admin", "admin")
        os.makedirs(data_dir, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(token + "\n")
        os.chmod(path, 0o600)
    logger.info("created the first admin token; it is in %s (readable by this user only)", path)
    return path
