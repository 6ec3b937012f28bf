"""The audit log: append-only records chained by sha256, and the questions asked of it.

Each record stores the hash of the record before it (``prev_hash``) and its
own hash over a canonical encoding of all its fields, ids included. So an
edited row no longer matches its hash, and a deleted, inserted or reordered
row breaks the link to its neighbour; ``audit_head`` names the newest record,
so dropping the tail shows too. Someone able to rewrite the whole table and
recompute every hash is caught only by an anchor: the head hash copied to
blob storage (anchors.py), which ``verify`` compares with the chain.
"""
import hashlib
import json
from typing import TYPE_CHECKING

from peewee import fn

from ..db import is_postgres
from ..db import postgres_turn
from ..models import AuditHead
from ..models import AuditRecord
from ..models import RegisteredModel
from ..models import rfc3339
from ..models import utcnow
from . import lifecycle
from .anchors import Anchor
from .errors import RegistryError
from .names import VERSION_NUMBER_RE
from .names import check_alias
from .names import check_model_name
from .refs import resolve_ref
from .values import AuditEntry
from .values import audit_entry

if TYPE_CHECKING:  # auth imports this module
    from .auth import Principal

GENESIS = "0" * 64
REGISTER = "register"
TRANSITION = "transition"
TOKEN_CREATE = "token_create"
TOKEN_REVOKE = "token_revoke"
MODEL_DELETE = "model_delete"
MODEL_RENAME = "model_rename"  # subject: the new name; the history stays under the old one
VERSION_DELETE = "version_delete"
ALIAS_SET = "alias_set"  # subject: the alias; version: its new target; cause: the previous one
ALIAS_DELETE = "alias_delete"  # version: the target it had
WEBHOOK_CREATE = "webhook_create"  # subject: the webhook's id; comment: its URL without the query
WEBHOOK_UPDATE = "webhook_update"
WEBHOOK_DELETE = "webhook_delete"
STAGE_ACTIONS = (REGISTER, TRANSITION)
MODEL_ACTIONS = (REGISTER, TRANSITION, ALIAS_SET, ALIAS_DELETE, VERSION_DELETE, MODEL_RENAME)
ACTIONS = (REGISTER, TRANSITION, ALIAS_SET, ALIAS_DELETE, VERSION_DELETE, MODEL_DELETE, MODEL_RENAME,
           TOKEN_CREATE, TOKEN_REVOKE, WEBHOOK_CREATE, WEBHOOK_UPDATE, WEBHOOK_DELETE)
_FIELDS = ("id", "action", "model", "version", "from_stage", "to_stage", "actor", "comment", "cause", "subject")


def record_hash(record):
    """sha256 over the canonical JSON of every field except the hash itself."""
    fields = {name: getattr(record, name) for name in _FIELDS}
    fields["created_at"] = rfc3339(record.created_at)
    fields["prev_hash"] = record.prev_hash
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def lock_head():
    """Inside a write transaction: the head row, locked until commit (PostgreSQL).

    Every append takes it, after any model lock (a fixed order, so no deadlocks).
    """
    query = AuditHead.select().where(AuditHead.id == 1)
    if is_postgres():
        postgres_turn("audit head")  # appends in arrival order, across models
        query = query.for_update()
    return query.get()


def append(action, actor, *, model=None, version=None, from_stage=None, to_stage=None,
           comment="", cause=None, subject=None):
    """Add a record; call inside a write transaction."""
    head = lock_head()
    record = AuditRecord(
        id=head.last_id + 1, action=action, model=model, version=version, from_stage=from_stage,
        to_stage=to_stage, actor=actor, comment=comment or "", cause=cause, subject=subject,
        created_at=utcnow(), prev_hash=head.last_hash,
    )
    record.hash = record_hash(record)
    record.save(force_insert=True)
    AuditHead.update(last_id=record.id, last_hash=record.hash).where(AuditHead.id == 1).execute()
    return record


def verify(anchor: Anchor | None = None, batch_size: int = 1000, since: dict | None = None) -> dict:
    """Recompute the chain over every row; return a report naming the first record that does not match.

    Ids must run 1, 2, 3... up to the head: a row with any other id (zero,
    negative, NULL, or past a gap) is reported, so nothing can hide outside
    the range the walk covers. With ``anchor`` (see anchors.py), the chain
    must also reach the anchored record, with the anchored hash.

    With ``since``, an earlier good report, only the records after the head it
    verified are walked: they must extend that chain. Edits to the older
    records are not seen until the next walk without ``since``.
    """
    stray = (AuditRecord.select().where(AuditRecord.id.is_null() | (AuditRecord.id < 1))
             .order_by(AuditRecord.id).first())
    if stray is not None:
        return _broken(0, stray.id, "its id is outside the chain (ids start at 1): the record was inserted by hand")
    previous, count, last_id = GENESIS, 0, 0
    if since is not None and since["ok"]:
        # Ids run 1..N, so the records an earlier report counted end at id N.
        previous, count, last_id = since["head_hash"], since["records"], since["records"]
        if anchor is not None and anchor.record_id <= last_id:
            anchored = AuditRecord.get_or_none(AuditRecord.id == anchor.record_id)
            if anchored is None or anchored.hash != anchor.hash:
                return _broken(count, anchor.record_id, "its hash differs from the one anchored outside the "
                                                        "database: the chain was rewritten")
    while True:
        batch = list(AuditRecord.select().where(AuditRecord.id > last_id).order_by(AuditRecord.id).limit(batch_size))
        for record in batch:
            if record.id != last_id + 1 or record.prev_hash != previous:
                return _broken(count, record.id, "its prev_hash does not match the record before it: "
                                                 "a record was deleted, inserted or reordered")
            if record_hash(record) != record.hash:
                return _broken(count, record.id, "its contents do not match its hash: the record was edited")
            if anchor is not None and record.id == anchor.record_id and record.hash != anchor.hash:
                return _broken(count, record.id, "its hash differs from the one anchored outside the database: "
                                                 "the chain was rewritten")
            previous, count, last_id = record.hash, count + 1, record.id
        if len(batch) < batch_size:
            break
    head = AuditHead.get_or_none(AuditHead.id == 1)
    if head is None or head.last_id != last_id or head.last_hash != previous:
        return _broken(count, last_id + 1, "the newest records are missing: the head names record "
                                           f"{head.last_id if head else '(none)'}")
    if anchor is not None and last_id < anchor.record_id:
        return _broken(count, last_id + 1, f"the newest records are missing: record {anchor.record_id} "
                                           "was anchored outside the database")
    return {"ok": True, "records": count, "head_hash": previous, "first_bad": None,
            "anchored": None if anchor is None else anchor.record_id}


def _broken(count, record_id, reason):
    return {"ok": False, "records": count, "head_hash": None, "first_bad": {"id": record_id, "reason": reason},
            "anchored": None}


def first_free_version(name):
    # A model deleted and created again continues its numbering, so the
    # history (which outlives the model) never has two different version 3s.
    query = AuditRecord.select(fn.MAX(AuditRecord.version)).where(AuditRecord.model == name)
    return query.scalar() or 0


def history(principal: "Principal", name: str, ref: str | None = None) -> list[AuditEntry]:
    """The registration and stage records of a model (or one version), oldest first.

    Records outlive the model: a deleted model's history is still returned.
    Raises not_found, and forbidden without read access to the model.
    """
    check_model_name(name)
    principal.require("reader", name)
    query = (AuditRecord.select()
             .where((AuditRecord.model == name) & AuditRecord.action.in_(MODEL_ACTIONS))
             .order_by(AuditRecord.id))
    model = RegisteredModel.get_or_none(RegisteredModel.name == name)
    if ref is not None:
        if model is None:
            raise RegistryError("not_found", f"Model {name} does not exist.")
        query = query.where(AuditRecord.version == resolve_ref(model, ref).version)
    records = list(query)
    if model is None and not records:
        raise RegistryError("not_found", f"Model {name} does not exist and has no history.")
    return [audit_entry(r) for r in records]


def search(model=None, actor=None, action=None, since=None, until=None, limit=100, after_id=None,
           before_id=None, newest_first=False):
    """Records matching every filter given, oldest first (or newest first); returns (records, the
    ``after_id`` of the next page, or its ``before_id`` when newest first)."""
    order = AuditRecord.id.desc() if newest_first else AuditRecord.id
    query = AuditRecord.select().order_by(order).limit(limit + 1)
    for column, value in ((AuditRecord.model, model), (AuditRecord.actor, actor), (AuditRecord.action, action)):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditRecord.created_at >= since)
    if until is not None:
        query = query.where(AuditRecord.created_at < until)
    if after_id is not None:
        query = query.where(AuditRecord.id > after_id)
    if before_id is not None:
        query = query.where(AuditRecord.id < before_id)
    records = list(query)
    if len(records) > limit:
        return records[:limit], records[limit - 1].id
    return records, None


def resolve_ref_at(model, ref, at):
    """The version ``ref`` named at time ``at`` (naive UTC), replaying the history.

    Raises validation_error for a ref that cannot be asked about the past
    and not_found when nothing matched then.
    """
    stages: dict = {}
    aliases: dict = {}
    records = (AuditRecord.select()
               .where((AuditRecord.model == model.name) & AuditRecord.action.in_(MODEL_ACTIONS)
                      & (AuditRecord.created_at <= at))
               .order_by(AuditRecord.id))
    for record in records:
        if record.action in STAGE_ACTIONS:
            stages[record.version] = record.to_stage
        elif record.action == ALIAS_SET:
            aliases[record.subject] = record.version
        elif record.action == ALIAS_DELETE:
            aliases.pop(record.subject, None)
        elif record.action == VERSION_DELETE:
            stages.pop(record.version, None)
    when = rfc3339(at)
    if ref.startswith("@"):
        wanted = aliases.get(check_alias(ref[1:]))
        missing = f"{model.name} had no alias {ref[1:]} at {when}."
    elif VERSION_NUMBER_RE.match(ref):
        wanted = int(ref) if int(ref) in stages else None
        missing = f"{model.name} had no version {ref} at {when}."
    elif ref.lower() == "latest":
        wanted = max(stages, default=None)
        missing = f"{model.name} had no versions at {when}."
    else:
        stage = lifecycle.parse_stage(ref)
        wanted = max((v for v, s in stages.items() if s == stage), default=None)
        missing = f"{model.name} had no version in {stage} at {when}."
    if wanted is None:
        raise RegistryError("not_found", missing)
    return resolve_ref(model, str(wanted))


def read_log(principal: "Principal", **filters) -> tuple[list[AuditEntry], int | None]:
    """``search`` for a caller allowed to see the whole log (it spans every model and token)."""
    _require_whole_log(principal)
    records, after = search(**filters)
    return [audit_entry(r) for r in records], after


def verify_log(principal: "Principal", anchor: Anchor | None = None, since: dict | None = None) -> dict:
    """``verify`` for a caller allowed to see the whole log."""
    _require_whole_log(principal)
    return verify(anchor, since=since)


def _require_whole_log(principal):
    # Every role may read (reader is the lowest); what matters is the scope.
    if principal.models:
        raise RegistryError("forbidden", "The audit log needs a token that is not limited to some models.")
