"""gunicorn's threaded worker, hardened against slow and idle clients.

Stock gthread hands each new connection to a thread, which waits for the
request head with no deadline; a few hundred idle or slowloris connections
then hold every thread, and /healthz waits behind them. Here:

- The worker's event loop reads each request head (and a small body with it)
  without a thread. It must be complete within ``head_timeout`` of the
  connection, or of the first byte of a kept-alive connection's next request;
  otherwise 408 ``request_timeout`` and the connection is closed.
- Only a complete request takes a thread. There, every read of a body and
  every write of a response waits at most ``body_timeout``, and while the
  server waits on an upload it must arrive at ``min_body_rate`` or better;
  a client that breaks either rule gets ``ClientTooSlow`` raised where the
  app reads or writes, so uploads are discarded like any failed upload.
- A request whose body is streamed (not read with its head) may hold at most
  all but a quarter of the threads; past that it gets 503 ``server_busy`` at
  once, so requests without a body always find a thread.

gunicorn 27's HTTP/1.1 parsing, keep-alive and graceful shutdown are kept;
only the waiting changes. Settings: REGISTRY_HEAD_TIMEOUT,
REGISTRY_BODY_TIMEOUT, REGISTRY_MIN_BODY_RATE (see README).
"""
import errno
import re
import selectors
import socket
import threading
import time
from dataclasses import dataclass
from functools import partial

from gunicorn.http.body import Body
from gunicorn.http.body import LengthReader
from gunicorn.workers.gthread import TConn
from gunicorn.workers.gthread import ThreadWorker

from .api.errors import ClientTooSlow
from .api.errors import raw_http_error

# A request body up to this size is read by the event loop with its head.
PREREAD_BODY_BYTES = 64 * 1024
# A head that has not ended by this size is handed to gunicorn's parser, whose
# own limits (request line, header count and size) answer it.
HEAD_BYTES = 64 * 1024
# Responses are written in slices of this size, each within body_timeout.
SEND_SLICE = 64 * 1024
# A closing connection is drained of what the client still sends (so the
# kernel does not reset it and cut the last response, e.g. a 413 to a client
# still sending its body) for at most this long, and this much.
LINGER_SECONDS = 2.0
LINGER_BYTES = 16 * 1024 * 1024
_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d{1,18})[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_TRANSFER_ENCODING = re.compile(rb"^transfer-encoding[ \t]*:", re.IGNORECASE | re.MULTILINE)
# Such a client sends its body only after "100 Continue", which gunicorn sends
# once a thread handles the request: its body is not waited for here.
_EXPECT = re.compile(rb"^expect[ \t]*:", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class ClientLimits:
    head_timeout: float
    body_timeout: float
    min_body_rate: int


class _ClientSocket(socket.socket):
    """A client connection whose blocking reads and writes have deadlines."""

    limits: ClientLimits

    def setblocking(self, flag):
        # gunicorn makes a socket blocking before a thread serves it; here
        # that means blocking with a deadline.
        if flag:
            self.settimeout(self.limits.body_timeout)
        else:
            super().setblocking(False)

    def start_request(self):
        self._waited = 0.0
        self._received = 0

    def recv(self, bufsize, flags=0):
        if not self.gettimeout():  # the event loop's non-blocking reads
            return super().recv(bufsize, flags)
        started = time.monotonic()
        data = self._within_deadline(super().recv, bufsize, flags)
        self._count(started, len(data))
        return data

    def recv_into(self, buffer, nbytes=0, flags=0):
        if not self.gettimeout():
            return super().recv_into(buffer, nbytes, flags)
        started = time.monotonic()
        received = self._within_deadline(super().recv_into, buffer, nbytes, flags)
        self._count(started, received)
        return received

    def _within_deadline(self, receive, *args):
        try:
            return receive(*args)
        except TimeoutError:
            raise ClientTooSlow(f"no bytes from the client for {self.limits.body_timeout:g} s") from None

    def _count(self, started, received):
        # Only time spent waiting on the client counts, not time the app spent
        # storing what it had already received.
        self._waited += time.monotonic() - started
        self._received += received
        if self._waited >= self.limits.body_timeout:
            if self._received < self.limits.min_body_rate * self._waited:
                raise ClientTooSlow(f"the client sent {self._received} bytes in {self._waited:.0f} s, "
                                    f"under {self.limits.min_body_rate} bytes/s")
            self.start_request()

    def sendall(self, data, flags=0):
        view = memoryview(data)
        try:
            for start in range(0, len(view), SEND_SLICE):
                super().sendall(view[start:start + SEND_SLICE], flags)
        except TimeoutError:
            raise ClientTooSlow(f"the client read nothing for {self.limits.body_timeout:g} s") from None


class _SocketBodyReader:
    """A request body of known length, received straight into the reader's buffer.

    gunicorn's LengthReader passes each byte through its Unreader's BytesIO,
    then Body's, slicing both, all while holding the GIL: on a 256 MiB upload
    the request thread spent most of its CPU there (py-spy), beside the
    threads that hash and store. Here the kernel copies into the buffer given.
    """

    def __init__(self, sock, unreader, length):
        # What gunicorn read ahead of the body; past the body's end it is the
        # next request's, and goes back.
        buffered = unreader.take_buffered()
        self._ahead = memoryview(buffered[:length])
        if len(buffered) > length:
            unreader.unread(buffered[length:])
        self._sock = sock
        self._remaining = length

    def readinto(self, buffer):
        """Fill ``buffer`` (short only at the end of the body, or if the client closed); return the count."""
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._remaining)
        got = min(wanted, len(self._ahead))
        view[:got] = self._ahead[:got]
        self._ahead = self._ahead[got:]
        while got < wanted:
            received = self._sock.recv_into(view[got:wanted])
            if not received:
                break
            got += received
        self._remaining -= got
        return got

    def read(self, size):
        buffer = bytearray(min(size, self._remaining))
        del buffer[self.readinto(buffer):]
        return bytes(buffer)


class _DirectBody(Body):
    """gunicorn's request body, reading through a _SocketBodyReader while nothing is held back by readline."""

    def readinto(self, buffer):
        if self.buf.tell():
            data = super().read(len(buffer))
            buffer[:len(data)] = data
            return len(data)
        return self._direct(self.reader.readinto, buffer)

    def read(self, size=None):
        if self.buf.tell():
            return super().read(size)
        return self._direct(self.reader.read, self.getsize(size))

    def _direct(self, read, *args):
        try:
            return read(*args)
        except Exception:
            self.failed = True  # where the next request starts is unknown: the connection is not reused
            raise


def _wanted_bytes(buffered):
    """How many bytes make the request the event loop reads: its head, plus a small body; None until known."""
    end = _END_OF_HEAD.search(buffered)
    if end is None:
        return None if len(buffered) < HEAD_BYTES else len(buffered)
    head = bytes(buffered[:end.start()])
    length = _CONTENT_LENGTH.search(head)
    if (_TRANSFER_ENCODING.search(head) or _EXPECT.search(head) or length is None
            or int(length.group(1)) > PREREAD_BODY_BYTES):
        return end.end()
    return end.end() + int(length.group(1))


def _recv_ready(sock):
    """What a readable non-blocking socket holds: bytes, b"" once closed or broken, None if nothing yet."""
    try:
        return sock.recv(65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _streams_body(req):
    for name, value in req.headers:
        if name == "TRANSFER-ENCODING":
            return True
        if name == "CONTENT-LENGTH" and value.isdigit() and int(value) > PREREAD_BODY_BYTES:
            return True
    return False


class SlowClientSafeWorker(ThreadWorker):
    limits = ClientLimits(head_timeout=10, body_timeout=15, min_body_rate=1024)

    def init_process(self):
        threads = self.cfg.threads
        self._body_slots = threading.BoundedSemaphore(max(1, threads - max(1, threads // 4)))
        self._heads = {}  # connections whose head is being read -> deadline
        self._lingering = {}  # closing connections, drained until -> deadline
        super().init_process()

    def accept(self, listener):
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        sock = _ClientSocket(client.family, client.type, client.proto, fileno=client.detach())
        sock.limits = self.limits
        sock.start_request()
        self.nr_conns += 1
        conn = self._connection(sock, address, listener.getsockname())
        self._await_head(conn, time.monotonic() + self.limits.head_timeout)

    def _connection(self, sock, address, server):
        conn = TConn(self.cfg, sock, address, server)
        conn.head = bytearray()
        return conn

    def _await_head(self, conn, deadline):
        self._heads[conn] = deadline
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read_head, conn))

    def _read_head(self, conn, _sock=None):
        data = _recv_ready(conn.sock)
        if data is None:
            return
        if not data:
            self._stop_waiting(conn)
            self._close(conn)
            return
        conn.head += data
        wanted = _wanted_bytes(conn.head)
        if wanted is not None and len(conn.head) >= wanted:
            self._stop_waiting(conn)
            conn.data_ready = True
            self.enqueue_req(conn)

    def _stop_waiting(self, conn):
        del self._heads[conn]
        self.poller.unregister(conn.sock)

    def _close(self, conn):
        self.nr_conns -= 1
        conn.close()

    def on_client_socket_readable(self, conn, client):
        # A kept-alive connection's next request: its head is read here too.
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._await_head(conn, time.monotonic() + self.limits.head_timeout)
        self._read_head(conn)

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        for conn in [conn for conn, deadline in self._heads.items() if deadline <= now]:
            self._stop_waiting(conn)
            self.log.info("closing %s: no complete request head within %g s", conn.client, self.limits.head_timeout)
            try:
                conn.sock.send(raw_http_error(
                    "request_timeout",
                    f"The request head did not arrive within {self.limits.head_timeout:g} seconds.",
                ))
            except OSError:
                pass
            self._linger(conn)
        for conn in [conn for conn, deadline in self._lingering.items() if deadline <= now]:
            self._stop_lingering(conn)

    def finish_request(self, conn, fs):
        try:
            keep = not fs.cancelled() and fs.result()
        except Exception:
            keep = False
        if keep:
            super().finish_request(conn, fs)
        else:
            self._linger(conn)

    def _linger(self, conn):
        # gunicorn's graceful close lingers up to 2 s in the event loop itself,
        # stalling every other connection; here the loop drains it instead.
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.drained = 0
        self._lingering[conn] = time.monotonic() + LINGER_SECONDS
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._drain, conn))

    def _drain(self, conn, _sock):
        data = _recv_ready(conn.sock)
        if data is None:
            return
        conn.drained += len(data)
        if not data or conn.drained >= LINGER_BYTES:
            self._stop_lingering(conn)

    def _stop_lingering(self, conn):
        del self._lingering[conn]
        self.poller.unregister(conn.sock)
        self._close(conn)

    def handle(self, conn):
        if conn.head:
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(bytes(conn.head))
            conn.head = bytearray()
        conn.sock.start_request()
        return super().handle(conn)

    def handle_request(self, req, conn):
        streamed = _streams_body(req)
        if streamed and isinstance(req.body.reader, LengthReader):
            req.body = _DirectBody(_SocketBodyReader(conn.sock, req.unreader, req.body.reader.length))
        if streamed and not self._body_slots.acquire(blocking=False):
            self.log.info("refusing a streamed body from %s: every upload thread is busy", conn.client)
            try:
                conn.sock.sendall(raw_http_error(
                    "server_busy", "Every upload slot of this server is busy; retry shortly.",
                    {"Retry-After": "1"},
                ))
            except OSError:
                pass
            return False
        try:
            return super().handle_request(req, conn)
        except ClientTooSlow as exc:
            self.log.info("dropping %s: %s", conn.client, exc)
            return False
        finally:
            if streamed:
                self._body_slots.release()
