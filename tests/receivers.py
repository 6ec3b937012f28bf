"""A real HTTP receiver on loopback for webhook tests: records what arrives, answers as told."""
import http.server
import threading
import time

from tests.servers import free_port


class Receiver:
    """``status`` is what it answers; ``delay`` makes it hang that long first; ``stop()``/``start()`` take it down."""

    def __init__(self, status=200, delay=0.0, port=None):
        self.status, self.delay = status, delay
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.requests: list = []  # (headers dict, body bytes, arrival time, status answered)
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver.status
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body, time.monotonic(), status))
                time.sleep(receiver.delay)
                self.send_response(status)
                if 300 <= receiver.status < 400:
                    self.send_header("Location", receiver.url + "/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def received(self):
        with self.lock:
            return list(self.requests)

    def wait_for(self, count, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received()) >= count:
                return self.received()
            time.sleep(0.05)
        raise AssertionError(f"expected {count} requests within {timeout} s, got {len(self.received())}")
