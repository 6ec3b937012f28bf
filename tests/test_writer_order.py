"""Writers take turns in the order they asked, on SQLite and on PostgreSQL (bench/write_tail.py measures
what that does to p99)."""
import io
import threading
import time

import pytest

from registry.db import FifoLock
from registry.db import database
from registry.db import write_transaction
from registry.domain import audit
from registry.domain import runs
from registry.domain import service
from registry.domain.auth import Principal


def _waiting(lock, count):
    deadline = time.monotonic() + 5
    while lock._next_ticket - lock._serving < count and time.monotonic() < deadline:
        time.sleep(0.001)


def test_the_lock_is_granted_in_the_order_it_was_asked_for():
    lock, granted = FifoLock(), []
    assert lock.acquire()
    threads = []
    for n in range(12):
        def wait(n=n):
            lock.acquire()
            granted.append(n)
            lock.release()
        thread = threading.Thread(target=wait)
        thread.start()
        _waiting(lock, n + 2)  # the holder and every waiter so far
        threads.append(thread)
    lock.release()
    for thread in threads:
        thread.join(5)
    assert granted == list(range(12))


def test_a_waiter_that_times_out_gives_up_its_place():
    lock, granted = FifoLock(), []
    assert lock.acquire()
    started = time.monotonic()
    assert lock.acquire(timeout=0.1) is False
    assert 0.1 <= time.monotonic() - started < 1
    later = threading.Thread(target=lambda: (lock.acquire(), granted.append("later"), lock.release()))
    later.start()
    _waiting(lock, 3)
    lock.release()  # the abandoned ticket is skipped: the next waiter gets the lock
    later.join(5)
    assert granted == ["later"]
    assert lock.acquire(timeout=0.1) is True


@pytest.mark.parametrize("backend", ["postgres-minio"])
def test_postgres_writers_of_a_model_queue_for_its_turn_and_other_models_do_not_wait(app):
    """The turn is an advisory lock (queued in arrival order, unlike row locks), one per model."""
    finished = _writer_behind(app, lambda: service.lock_model("A", create=True), waiting="A", free="B")
    assert finished["B"][0] == 1 and finished["A"][0] == 1


@pytest.mark.parametrize("backend", ["postgres-minio"])
def test_postgres_appends_to_the_audit_log_queue_for_their_turn_across_models(app):
    finished = _writer_behind(app, audit.lock_head, waiting="C")
    assert finished["C"][0] == 1


def _writer_behind(app, hold, waiting, free=None):
    """While a transaction holds what ``hold`` takes, a writer of model ``waiting`` queues for its turn
    in the lock manager, and one of ``free`` (if given) goes through; once it commits, the waiting
    writer goes on. Returns {model: (version registered, when)}."""
    operator = Principal(name="operator", role="admin")
    with app.app_context():
        run = runs.create_run(operator, name="turns")
        runs.upload_artifact(operator, app.extensions["registry_storage"], run.run_id, "m/w.bin",
                             io.BytesIO(b"w"), max_size=None)
    source = f"runs:/{run.run_id}/m"
    held, release, finished = threading.Event(), threading.Event(), {}

    def in_app(work):
        with app.app_context():
            work()
            database.close()

    def holding():
        with write_transaction():
            hold()
            held.set()
            release.wait(10)

    def register(name):
        version = service.register_version(operator, name, source)
        finished[name] = (version.version, time.monotonic())

    holder = threading.Thread(target=in_app, args=(holding,))
    holder.start()
    assert held.wait(10)
    writer = threading.Thread(target=in_app, args=(lambda: register(waiting),))
    writer.start()
    with app.app_context():
        deadline = time.monotonic() + 5
        while _advisory_waiters() < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _advisory_waiters() == 1  # the writer waits for its turn, in the lock manager's queue
        if free is not None:
            register(free)
        database.close()
    assert waiting not in finished
    released = time.monotonic()
    release.set()
    holder.join(10)
    writer.join(10)
    assert finished[waiting][1] >= released
    return finished


def _advisory_waiters():
    return database.execute_sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()[0]
