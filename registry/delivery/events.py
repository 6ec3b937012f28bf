"""Which audit records are webhook events, and what an event says."""
from ..domain import audit
from ..models import rfc3339

# audit action -> event name; other records (tokens, webhooks, renames) are not events.
EVENT_OF = {
    audit.REGISTER: "version.registered",
    audit.TRANSITION: "version.transitioned",
    audit.ALIAS_SET: "alias.set",
    audit.ALIAS_DELETE: "alias.deleted",
    audit.MODEL_DELETE: "model.deleted",
}


def payload(record, public_url: str) -> dict:
    """The event body: its id is the audit record's, so receivers can drop duplicates."""
    body = {
        "id": record.id,
        "event": EVENT_OF[record.action],
        "created_at": rfc3339(record.created_at),
        "model": record.model,
        "version": record.version,
        "from_stage": record.from_stage,
        "to_stage": record.to_stage,
        "actor": record.actor,
        "comment": record.comment,
        "cause": record.cause,
    }
    if record.action in (audit.ALIAS_SET, audit.ALIAS_DELETE):
        body["alias"] = record.subject
    if record.version is not None and record.action != audit.MODEL_DELETE:
        body["download_url"] = f"{public_url}/models/{record.model}/versions/{record.version}/archive"
    return body
