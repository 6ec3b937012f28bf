"""Use cases for webhooks: which URLs hear which events, and what was delivered to them.

Delivery itself follows the audit log (registry/delivery/); nothing here sends
an event when a model moves. Only admins manage webhooks; an admin limited to
some models manages only webhooks limited to those models.
"""
import json
import re
import secrets

from ..db import write_transaction
from ..models import AuditHead
from ..models import Webhook as WebhookRow
from ..models import WebhookAttempt
from ..models import WebhookDelivery
from ..models import utcnow
from ..secret_box import SecretUnreadable
from . import audit
from .auth import MODEL_PATTERN_PATTERN
from .auth import Principal
from .errors import RegistryError
from .values import Delivery
from .values import Webhook
from .values import delivery_value
from .values import webhook_value
from .webhook_targets import check_url
from .webhook_targets import redacted

EVENTS = ("version.registered", "version.transitioned", "alias.set", "alias.deleted", "model.deleted")
MAX_DESCRIPTION = 1000
SECRET_PATTERN = r"^[\x21-\x7e]{16,256}$"
MAX_DELIVERIES = 200
MAX_ID = 2**63 - 1  # ids are BIGINT; a larger number names nothing


def _invalid(field, message):
    return RegistryError("validation_error", message, {field: [message]})


def _check_fields(events, models, secret, description):
    if events is not None:
        if not events or any(e not in EVENTS for e in events) or len(set(events)) != len(events):
            raise _invalid("events", f"Give one or more distinct events of: {', '.join(EVENTS)}.")
    if models is not None and (len(models) > 100 or any(not re.match(MODEL_PATTERN_PATTERN, p) for p in models)):
        raise _invalid("models", "Up to 100 patterns of model-name characters plus * ? [ ] !")
    if secret is not None and not re.match(SECRET_PATTERN, secret):
        raise _invalid("secret", "A secret is 16 to 256 printable ASCII characters, without spaces.")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise _invalid("description", f"At most {MAX_DESCRIPTION} characters.")


def _require(principal, models):
    principal.require("admin")
    principal.require_covering(models, "its webhooks")


def _row(principal, webhook_id):
    row = WebhookRow.get_or_none(WebhookRow.id == webhook_id) if 0 < webhook_id <= MAX_ID else None
    if row is None or not principal.covers(json.loads(row.models)):
        raise RegistryError("not_found", f"No webhook has id {webhook_id}.")
    return row


def create_webhook(principal: Principal, box, url: str, events: list[str], models: list[str] | None = None,
                   secret: str | None = None, description: str = "",
                   allow_private: bool = False) -> tuple[Webhook, str]:
    """Create a webhook; return (it, its secret). The secret is shown this once.

    ``box`` seals the secret for storage (secret_box.py). Raises validation_error
    (URL, events, patterns, secret), forbidden.
    """
    models = list(models or [])
    _check_fields(events, models, secret, description)
    check_url(url, allow_private)
    _require(principal, models)
    secret = secret or "whsec_" + secrets.token_urlsafe(32)
    with write_transaction():
        audit.lock_head()
        head = AuditHead.get(AuditHead.id == 1).last_id
        row = WebhookRow.create(url=url, events=json.dumps(list(events)), models=json.dumps(models),
                                secret=box.seal(secret), description=description or "", active=True,
                                after_record=head, created_by=principal.name)
        audit.append(audit.WEBHOOK_CREATE, principal.name, subject=str(row.id),
                     comment=f"{redacted(url)} for {', '.join(events)}")
    return webhook_value(row), secret


def list_webhooks(principal: Principal) -> list[Webhook]:
    """The webhooks this principal may manage, oldest first (no secrets)."""
    principal.require("admin")
    return [webhook_value(r) for r in WebhookRow.select().order_by(WebhookRow.id)
            if principal.covers(json.loads(r.models))]


def get_webhook(principal: Principal, webhook_id: int) -> Webhook:
    principal.require("admin")
    return webhook_value(_row(principal, webhook_id))


def update_webhook(principal: Principal, box, webhook_id: int, url: str | None = None,
                   events: list[str] | None = None, models: list[str] | None = None, secret: str | None = None,
                   description: str | None = None, active: bool | None = None,
                   allow_private: bool = False) -> Webhook:
    """Change the given fields; a new secret applies to the next attempt. Raises not_found, validation_error."""
    _check_fields(events, models, secret, description)
    if url is not None:
        check_url(url, allow_private)
    principal.require("admin")
    with write_transaction():
        row = _row(principal, webhook_id)
        if models is not None:
            _require(principal, models)
            row.models = json.dumps(list(models))
        for field, value in (("url", url), ("description", description), ("active", active)):
            if value is not None:
                setattr(row, field, value)
        if events is not None:
            row.events = json.dumps(list(events))
        if secret is not None:
            row.secret = box.seal(secret)
        row.updated_at = utcnow()
        row.save()
        changed = [name for name, value in (("url", url), ("events", events), ("models", models),
                                            ("secret", secret), ("description", description),
                                            ("active", active)) if value is not None]
        audit.append(audit.WEBHOOK_UPDATE, principal.name, subject=str(row.id),
                     comment=f"{redacted(row.url)}: changed {', '.join(changed) or 'nothing'}")
    return webhook_value(row)


def delete_webhook(principal: Principal, webhook_id: int) -> None:
    """Delete a webhook with its deliveries; raises not_found."""
    principal.require("admin")
    with write_transaction():
        row = _row(principal, webhook_id)
        WebhookDelivery.delete().where(WebhookDelivery.webhook == row).execute()
        row.delete_instance()
        audit.append(audit.WEBHOOK_DELETE, principal.name, subject=str(webhook_id), comment=redacted(row.url))


def list_deliveries(principal: Principal, webhook_id: int, status: str | None = None, limit: int = 50,
                    before: int | None = None) -> tuple[list[Delivery], int | None]:
    """Deliveries newest first with every attempt; returns (deliveries, the ``before`` of the next page)."""
    principal.require("admin")
    if not 1 <= limit <= MAX_DELIVERIES:
        raise _invalid("limit", f"limit must be between 1 and {MAX_DELIVERIES}.")
    row = _row(principal, webhook_id)
    query = WebhookDelivery.select().where(WebhookDelivery.webhook == row)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before is not None:
        query = query.where(WebhookDelivery.id < min(before, MAX_ID))
    rows = list(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1))
    following = rows[limit - 1].id if len(rows) > limit else None
    return _deliveries(rows[:limit]), following


def _deliveries(rows):
    attempts: dict = {r.id: [] for r in rows}
    if attempts:
        for a in (WebhookAttempt.select().where(WebhookAttempt.delivery.in_(list(attempts)))
                  .order_by(WebhookAttempt.id)):
            attempts[a.delivery_id].append(a)
    return [delivery_value(r, attempts[r.id]) for r in rows]


def redeliver(principal: Principal, webhook_id: int, delivery_id: int) -> Delivery:
    """Queue a delivery again, now, with a fresh retry window (e.g. after it failed); raises not_found."""
    principal.require("admin")
    with write_transaction():
        row = _row(principal, webhook_id)
        delivery = (WebhookDelivery.get_or_none((WebhookDelivery.id == delivery_id) & (WebhookDelivery.webhook == row))
                    if 0 < delivery_id <= MAX_ID else None)
        if delivery is None or delivery.record_id is None:
            raise RegistryError("not_found", f"Webhook {webhook_id} has no event delivery {delivery_id}.")
        now = utcnow()
        delivery.status, delivery.next_attempt_at, delivery.created_at = "pending", now, now
        delivery.save()
    return _deliveries([delivery])[0]


def ping(principal: Principal, box, webhook_id: int, send) -> Delivery:
    """Send a ``ping`` event now with ``send(url, secret, event, delivery_id, body)`` -> Attempt fields;
    return the delivery with its one attempt. Raises not_found."""
    principal.require("admin")
    row = _row(principal, webhook_id)
    now = utcnow()
    body = json.dumps({"id": None, "event": "ping", "webhook_id": row.id, "created_at": now.isoformat() + "Z"})
    with write_transaction():
        delivery = WebhookDelivery.create(webhook=row, record_id=None, event="ping", model_name=None, payload=body,
                                          status="pending", attempts=0, next_attempt_at=None, created_at=now)
    try:
        secret = box.open(row.secret)
    except SecretUnreadable as exc:
        status_code, latency_ms, error = None, 0.0, str(exc)
    else:
        status_code, latency_ms, error = send(row.url, secret, "ping", delivery.id, body)
    with write_transaction():
        WebhookAttempt.create(delivery=delivery, attempted_at=now, status_code=status_code, latency_ms=latency_ms,
                              error=error)
        delivery.attempts = 1
        delivery.status = "delivered" if error is None and status_code is not None and status_code < 300 else "failed"
        delivery.delivered_at = utcnow() if delivery.status == "delivered" else None
        delivery.save()
    return _deliveries([delivery])[0]
