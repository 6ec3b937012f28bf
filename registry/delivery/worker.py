"""The delivery loop, in one process per deployment, elected through the database.

Every candidate (each `registry serve` worker, or `registry webhooks run`)
polls the lease row; the holder renews it while it runs, so N instances on one
database deliver once, and when the holder dies another takes over within
LEASE_SECONDS. Sends run on a bounded pool, at most PER_WEBHOOK at a time per
webhook, so a hanging receiver slows only its own deliveries.
"""
import concurrent.futures
import datetime
import logging
import os
import socket
import threading
import time
import uuid

from ..db import database
from ..db import write_transaction
from ..models import OutboxFollower
from ..models import utcnow
from ..secret_box import SecretUnreadable
from . import outbox
from . import sender

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.05  # a tick with nothing new is two indexed reads
LEASE_SECONDS = 5.0
THREADS = 8
PER_WEBHOOK = 2


class Worker:
    def __init__(self, app):
        self.app = app
        self.holder = f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.pool = concurrent.futures.ThreadPoolExecutor(THREADS, thread_name_prefix="webhook-send")
        self.in_flight: dict = {}  # delivery id -> webhook id
        self.lock = threading.Lock()
        self.lease_until: datetime.datetime | None = None

    def lead(self) -> bool:
        """Hold (or renew, or take over) the lease; True while this process leads."""
        now = utcnow()
        if self.lease_until is not None and self.lease_until - now > datetime.timedelta(seconds=LEASE_SECONDS / 2):
            return True
        current = outbox.follower()
        if current.holder != self.holder and current.lease_until is not None and current.lease_until > now:
            self.lease_until = None
            return False
        until = now + datetime.timedelta(seconds=LEASE_SECONDS)
        with write_transaction():
            taken = (OutboxFollower.update(holder=self.holder, lease_until=until)
                     .where((OutboxFollower.name == outbox.FOLLOWER)
                            & ((OutboxFollower.holder == self.holder) | OutboxFollower.lease_until.is_null()
                               | (OutboxFollower.lease_until <= now)))
                     .execute())
        self.lease_until = until if taken == 1 else None
        if taken == 1 and current.holder != self.holder:
            logger.info("webhook delivery: %s now delivers", self.holder)
        return taken == 1

    def tick(self) -> None:
        with database.connection_context():
            if not self.lead():
                return
            outbox.fan_out(self.app.config["PUBLIC_URL"])
            with self.lock:
                busy = dict(self.in_flight)
            free = THREADS - len(busy)
            per_hook: dict = {}
            for hook_id in busy.values():
                per_hook[hook_id] = per_hook.get(hook_id, 0) + 1
            for delivery in outbox.due(free, set(busy)) if free > 0 else []:
                if per_hook.get(delivery.webhook_id, 0) >= PER_WEBHOOK or not outbox.claim(delivery):
                    continue
                per_hook[delivery.webhook_id] = per_hook.get(delivery.webhook_id, 0) + 1
                with self.lock:
                    self.in_flight[delivery.id] = delivery.webhook_id
                self.pool.submit(self._send, delivery)

    def _send(self, delivery) -> None:
        try:
            box = self.app.extensions["registry_secret_box"]
            try:
                secret = box.open(delivery.webhook.secret)
            except SecretUnreadable as exc:
                result: tuple[int | None, float, str | None] = (None, 0.0, str(exc))
            else:
                result = sender.send(delivery.webhook.url, secret, delivery.event, delivery.id, delivery.payload,
                                     self.app.config["WEBHOOK_ALLOW_PRIVATE"])
            with database.connection_context():
                outbox.record(delivery, *result, retry_seconds=self.app.config["WEBHOOK_RETRY_SECONDS"])
        except Exception:  # the claim expires and the delivery is tried again
            logger.exception("webhook delivery %s", delivery.id)
        finally:
            with self.lock:
                self.in_flight.pop(delivery.id, None)

    def run_forever(self) -> None:
        while True:
            try:
                self.tick()
            except Exception as exc:  # a dependency outage only delays deliveries
                logger.warning("webhook delivery: %s", exc)
                self.lease_until = None
                time.sleep(1)
            time.sleep(TICK_SECONDS)


def start(app) -> threading.Thread:
    """Run a candidate delivery loop for ``app`` in a daemon thread of this process."""
    thread = threading.Thread(target=Worker(app).run_forever, name="webhook-delivery", daemon=True)
    thread.start()
    return thread
