"""SQLite writers take turns in the order they asked (bench/write_tail.py measures what that does to p99)."""
import threading
import time

from registry.db import FifoLock


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
