"""Hostile clients over real sockets: idle connections, slowloris heads, trickling uploads.

Used by tests/test_slow_clients.py and bench/slow_clients.py. A connection the
server closes is opened again at once, as an attacker would, so the pressure
stays at the requested number of connections for as long as it runs.
"""
import socket
import threading
import time

import requests


class SlowClients:
    def __init__(self, port, token, upload_path, idle=100, slow_heads=100, trickles=100, interval=1.0):
        self.port = port
        self.kinds = ["idle"] * idle + ["head"] * slow_heads + ["trickle"] * trickles
        self.interval = interval
        self._upload_head = (
            f"PUT {upload_path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 10485760\r\n\r\n"
        ).encode()
        self._socks = [None] * len(self.kinds)
        self.reopened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, kind):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setblocking(False)
        if kind == "trickle":
            sock.sendall(self._upload_head)
        elif kind == "head":
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        return sock

    def _drip(self, index):
        """One more byte, or reopen the connection if the server closed it."""
        kind, sock = self.kinds[index], self._socks[index]
        try:
            if sock is not None:
                try:
                    if sock.recv(65536) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    pass  # nothing from the server: still holding the connection
                if kind == "head":
                    sock.send(b"X")  # a header line that never ends
                elif kind == "trickle":
                    sock.send(b"\0")
                return
        except OSError:
            sock.close()
            self.reopened += 1
        try:
            self._socks[index] = self._open(kind)
        except OSError:
            self._socks[index] = None

    def _run(self):
        while not self._stop.is_set():
            for index in range(len(self.kinds)):
                if self._stop.is_set():
                    return
                self._drip(index)
            self._stop.wait(self.interval)

    def __enter__(self):
        for index, kind in enumerate(self.kinds):
            self._socks[index] = self._open(kind)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)
        for sock in self._socks:
            if sock is not None:
                sock.close()


def latencies(url, count, headers=None, timeout=30.0, pause=0.05):
    """Seconds each of ``count`` sequential GETs took on fresh connections; a failure counts as ``timeout``."""
    times = []
    for _ in range(count):
        started = time.monotonic()
        try:
            ok = requests.get(url, headers=headers or {}, timeout=timeout).status_code == 200
        except requests.RequestException:
            ok = False
        times.append(time.monotonic() - started if ok else timeout)
        time.sleep(pause)
    return times


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]
