"""The worker's body reader: exactly the body, from what gunicorn read ahead and then from the socket."""
import socket

import pytest
from gunicorn.http.body import Body
from gunicorn.http.unreader import SocketUnreader

from registry.http_worker import _DirectBody
from registry.http_worker import _SocketBodyReader


def _reader(read_ahead, then_sent, length):
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    theirs.sendall(then_sent)
    unreader = SocketUnreader(ours)
    unreader.unread(read_ahead)
    return _SocketBodyReader(ours, unreader, length), unreader, (ours, theirs)


def test_the_body_is_what_was_read_ahead_then_the_socket_and_nothing_past_its_end():
    reader, unreader, sockets = _reader(b"0123", b"456789NEXT", 10)
    buffer = bytearray(6)
    assert reader.readinto(buffer) == 6 and buffer == b"012345"
    assert reader.read(100) == b"6789"
    assert reader.read(100) == b""
    assert unreader.read() == b"NEXT"  # the next request's bytes stay for gunicorn's parser
    for sock in sockets:
        sock.close()


def test_what_was_read_ahead_past_the_body_goes_back_for_the_next_request():
    reader, unreader, sockets = _reader(b"bodyGET / HTTP/1.1", b"", 4)
    assert reader.read(100) == b"body"
    assert unreader.read() == b"GET / HTTP/1.1"
    for sock in sockets:
        sock.close()


def test_a_client_that_closes_early_gives_a_short_body_and_the_connection_is_not_reused():
    reader, _, (ours, theirs) = _reader(b"", b"abc", 10)
    theirs.close()
    body = _DirectBody(reader)
    assert body.read(10) == b"abc"
    assert body.read(10) == b""
    ours.close()
    body = _DirectBody(_SocketBodyReader(ours, SocketUnreader(ours), 10))
    with pytest.raises(OSError):
        body.read(10)
    assert body.failed


def test_readline_and_read_after_it_see_the_same_bytes_as_gunicorns_body():
    data = b"first line\nsecond line\n" + b"x" * 5000
    reader, _, sockets = _reader(b"", data, len(data))
    ours = _DirectBody(reader)
    assert ours.readline() == b"first line\n"
    assert ours.read(5) == b"secon"
    buffer = bytearray(7)
    assert ours.readinto(buffer) == 7 and buffer == b"d line\n"
    assert ours.read() == b"x" * 5000
    assert isinstance(ours, Body)
    for sock in sockets:
        sock.close()
