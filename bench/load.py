"""Load from many clients at once, each on its own keep-alive connection, for the side-by-side benches."""
import os
import re
import shutil
import statistics
import subprocess
import threading
import time

import requests

_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


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


def require_wrk():
    """wrk's path; exits with how to get it when it is missing."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (it drives the lookups from outside Python)")
    return path


def wrk(server, path, connections, seconds, groups=1):
    """wrk's (req/s, p50 ms, p99 ms) for GET ``path``, ``connections`` keep-alive connections sending
    what ``server.http`` sends. A C load generator: it leaves the cores to the server, where Python
    client threads need more CPU per request than a fast server does. Raises on any error or non-2xx.

    With ``groups`` > 1, that many wrk processes share the connections, each started a quarter of a
    second after the one before: one wrk opens all its connections at once, and a server whose
    worker accepts a burst in one go (uvicorn's) then serves all of them from that worker. The rate
    is the sum of the groups' rates, p50 the median of theirs and p99 the highest of theirs.
    """
    sizes = [connections // groups + (1 if i < connections % groups else 0) for i in range(groups)]
    running = []
    for i, size in enumerate(sizes):
        if i:
            time.sleep(0.25)
        running.append(_start_wrk(server, path, size, seconds))
    figures = [_wrk_figures(server, process) for process in running]
    rates, p50s, p99s = zip(*figures, strict=True)
    return sum(rates), statistics.median(p50s), max(p99s)


def _start_wrk(server, path, connections, seconds):
    command = [require_wrk(), f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
               "--timeout", "60s"]
    for name, value in server.http.headers.items():
        if name.lower() == "authorization":
            command += ["-H", f"{name}: {value}"]
    return subprocess.Popen(command + [server.base + path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wrk_figures(server, process):
    out, err = process.communicate()
    if process.returncode:
        raise RuntimeError(f"wrk failed against {server.name}: {err}")
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors from {server.name}:\n{out}")

    def latency(percent):
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"no {percent}% latency in wrk's output:\n{out}")
        return float(found.group(1)) * _WRK_UNITS[found.group(2)]

    rate = float(re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE).group(1))
    return rate, latency(50), latency(99)


def cpu_seconds(pid):
    """User + system CPU seconds the process ``pid`` has used (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk_on_every_worker(server, pids, workers, path, connections, seconds, windows=3, tries=8, groups=4):
    """``wrk`` until ``windows`` windows in which at least ``workers`` of ``pids`` did a share of the
    work (a quarter of the busiest one's CPU or more), or ``tries`` windows in all; returns the
    figures of the counted window with the median rate, how many counted and how many ran.

    The kernel hands a burst of new connections to whichever worker accepts first: when one takes
    all of them, the others idle and the server serves at a fraction of what it can (MLflow, two
    uvicorn workers: 100-110 req/s on one, 260-280 on both). A comparison of capacity needs both busy.
    So the connections are opened in ``groups``, a quarter of a second apart (one burst each).
    One window's rate varies by up to a fifth on a 2-core VM; the median of three steadies it.
    """
    counted: list = []
    ran = 0
    while len(counted) < windows and ran < tries:
        ran += 1
        before = {pid: cpu_seconds(pid) for pid in pids}
        figures = wrk(server, path, connections, seconds, groups=min(groups, connections))
        used = [cpu_seconds(pid) - before[pid] for pid in pids]
        if sum(1 for cpu in used if cpu >= 0.25 * max(used)) >= workers:
            counted.append(figures)
    if not counted:
        raise RuntimeError(f"{server.name}: {tries} wrk windows, never with {workers} workers busy")
    return sorted(counted)[len(counted) // 2], len(counted), ran
