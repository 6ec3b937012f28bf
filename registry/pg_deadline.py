"""A client-side deadline for every PostgreSQL round trip.

A frozen server (a paused VM, a black-holed network, SIGSTOP) still has its
kernel acknowledge our packets, so neither TCP keepalives nor the server's
own statement_timeout end a query sent to it: the client would wait
forever. psycopg2 lets one function do every wait (a "wait callback"); this
one gives each round trip ``seconds``. On expiry psycopg2 marks the
connection broken, peewee's pool discards it, and the request fails with 503.

After one expiry, waits that start within the next ``seconds`` fail at
once: peewee's pool checks and opens connections under one lock, so
otherwise every queued request would spend its own ``seconds`` on a server
already known to be silent. Once the window has passed, the next query
tries the server again.
"""
import os
import selectors
import socket
import time

import psycopg2
import psycopg2.extensions

_silent_until = [0.0]


def install(seconds: float) -> None:
    """Make every psycopg2 wait in this process give up after ``seconds`` of silence."""
    psycopg2.extensions.set_wait_callback(_waiter(seconds))


def _waiter(seconds):
    def wait(conn):
        if time.monotonic() < _silent_until[0]:
            raise psycopg2.OperationalError("PostgreSQL stopped answering moments ago; not waiting again yet")
        with selectors.DefaultSelector() as selector:
            while True:
                state = conn.poll()
                if state == psycopg2.extensions.POLL_OK:
                    return
                event = selectors.EVENT_READ if state == psycopg2.extensions.POLL_READ else selectors.EVENT_WRITE
                selector.register(conn.fileno(), event)
                ready = selector.select(seconds)
                selector.unregister(conn.fileno())
                if not ready:
                    _silent_until[0] = time.monotonic() + seconds
                    _cut(conn)
                    raise psycopg2.OperationalError(f"PostgreSQL did not answer within {seconds:g}s")

    return wait


def _cut(conn):
    # Shut the socket down under libpq (conn.close() would wait for the lock
    # the stuck query holds): the connection reads as dead from now on, so
    # nothing sends another round trip on it, and the server ends its backend.
    with socket.socket(fileno=os.dup(conn.fileno())) as sock:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
