"""Slow clients: /healthz and a small GET while 300 hostile connections are held open.

Run: .venv/bin/python bench/slow_clients.py [--probes 60]
Side by side in one run, on the embedded default (SQLite + local disk), both
with 2 workers x 8 threads:
  stock    gunicorn's own gthread worker serving the same app (registry.wsgi:app)
  registry `registry serve`
The attackers: 100 idle connections, 100 request heads sent a byte per second,
100 uploads trickling a byte per second; any the server closes are reopened.
Prints p50/p99 latency and failures for each, and the ratio of p99s.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tests.servers import RegistryServer  # noqa: E402
from tests.servers import without_registry_settings  # noqa: E402
from tests.slow_clients import SlowClients  # noqa: E402
from tests.slow_clients import latencies  # noqa: E402
from tests.slow_clients import percentile  # noqa: E402

PROBE_TIMEOUT = 10.0


class StockGunicorn(RegistryServer):
    """The same app under gunicorn's stock threaded worker, configured by nothing but its defaults."""

    def command(self):
        return [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", str(self.workers),
                "--threads", str(self.threads), "-b", f"127.0.0.1:{self.port}", "registry.wsgi:app"]


def measure(server_class, probes, settle):
    cwd = tempfile.mkdtemp(prefix="bench-slow-")
    server = server_class(env={}, workers=2, threads=8, cwd=cwd)
    server.env = without_registry_settings()
    server.start()
    try:
        run_id = server.http.post(f"{server.base_url}/runs", json={}, timeout=10).json()["run_id"]
        auth = {"Authorization": f"Bearer {server.token}"}
        with SlowClients(server.port, server.token, f"/runs/{run_id}/artifacts/slow.bin") as attack:
            time.sleep(settle)
            health = latencies(f"{server.base_url}/healthz", probes, timeout=PROBE_TIMEOUT)
            models = latencies(f"{server.base_url}/models", probes, headers=auth, timeout=PROBE_TIMEOUT)
            reopened = attack.reopened
        return health, models, reopened
    finally:
        server.stop()


def _row(name, health, models, reopened):
    failed = sum(t >= PROBE_TIMEOUT for t in health + models)
    return (f"{name:9} /healthz p50 {percentile(health, .5):6.3f}s p99 {percentile(health, .99):6.3f}s   "
            f"GET /models p50 {percentile(models, .5):6.3f}s p99 {percentile(models, .99):6.3f}s   "
            f"failed {failed}/{len(health) + len(models)}   attackers reopened {reopened}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=20, help="requests of each kind")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds of attack before probing")
    args = parser.parse_args()
    results = {name: measure(cls, args.probes, args.settle)
               for name, cls in (("stock", StockGunicorn), ("registry", RegistryServer))}
    for name, result in results.items():
        print(_row(name, *result))
    stock, ours = results["stock"], results["registry"]
    print(f"p99 ratio registry/stock: /healthz {percentile(ours[0], .99) / percentile(stock[0], .99):.3f}, "
          f"GET /models {percentile(ours[1], .99) / percentile(stock[1], .99):.3f}")


if __name__ == "__main__":
    main()
