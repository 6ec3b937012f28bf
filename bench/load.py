"""Load from many clients at once, each on its own keep-alive connection, for the side-by-side benches."""
import statistics
import threading
import time

import requests


def session(server):
    """A keep-alive session sending what ``server.http`` sends (its token, if any)."""
    http = requests.Session()
    http.headers.update(server.http.headers)
    return http


def hammer(server, clients, seconds, request_for):
    """``clients`` threads, each on its own session, call request_for(session, client, n) until time is up
    or it returns False (with nothing sent); returns (latencies in s, elapsed s). request_for raises on a
    wrong answer."""
    latencies, stop, lock = [], time.monotonic() + seconds, threading.Lock()

    def client(index):
        http = session(server)
        mine, n = [], 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            if request_for(http, index, n) is False:
                break
            mine.append(time.perf_counter() - started)
            n += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.monotonic() - started


def summary(latencies, elapsed):
    """(req/s, p50 ms, p99 ms)."""
    ordered = sorted(latencies)
    return (len(ordered) / elapsed, statistics.median(ordered) * 1000,
            ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000)
