"""Webhook delivery latency (a move to its receipt) and `pull` throughput beside a plain download, in one run.

Ours: `registry serve` (2 workers, SQLite, local disk) with a receiver on loopback.

  * latency: N versions are moved None -> Staging one after another; for each, the
    time from sending the transition to the receiver getting its signed event;
  * pull: one file of --mib MiB, fetched by `registry.client.pull` (streamed to disk,
    sha256 checked, manifest written) and by a plain streamed GET of the same file
    to disk (what `curl -o` does), alternately, three times each.

    .venv/bin/python bench/webhooks_pull.py [--moves 200] [--mib 512]
"""
import argparse
import http.server
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench.mlflow_compare import ROOT  # noqa: E402
from bench.mlflow_compare import Server  # noqa: E402
from bench.mlflow_compare import free_port  # noqa: E402
from registry.client import Client  # noqa: E402
from registry.client import pull  # noqa: E402
from registry.client import push  # noqa: E402


def receiver():
    arrivals: dict = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            arrivals.setdefault(json.loads(body)["id"], time.perf_counter())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, arrivals


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=200)
    parser.add_argument("--mib", type=int, default=512)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="webhooks-pull-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(REGISTRY_DATA_DIR=os.path.join(workdir, "data"), REGISTRY_WEBHOOK_ALLOW_PRIVATE="1")
    command = [os.path.join(ROOT, ".venv", "bin", "registry"), "serve", "--port", str(port), "--workers", "2"]
    server = Server("registry", command, env, port, {}).wait("/healthz")
    hooks, arrivals = receiver()
    try:
        with open(os.path.join(env["REGISTRY_DATA_DIR"], "admin.token")) as f:
            client = Client(server.base, f.read().strip())
        client.create_webhook(f"http://127.0.0.1:{hooks.server_address[1]}/", ["version.transitioned"])
        job = os.path.join(workdir, "job", "model")
        os.makedirs(job)
        with open(os.path.join(job, "big.bin"), "wb") as f:
            for _ in range(args.mib):
                f.write(os.urandom(1024 * 1024))
        run_id, _, _ = push(client, os.path.join(workdir, "job"), quiet=True)
        for _ in range(args.moves):
            client.register("Bench", f"runs:/{run_id}/model")
        latencies = []
        for number in range(1, args.moves + 1):
            sent = time.perf_counter()
            record = client.transition("Bench", number, "Staging")["transitions"][-1]
            while record["id"] not in arrivals:
                time.sleep(0.001)
            latencies.append((arrivals[record["id"]] - sent) * 1000)
        size = args.mib * 1024 * 1024
        ours, plain = [], []
        for round_ in range(3):
            target = os.path.join(workdir, f"pulled-{round_}")
            started = time.perf_counter()
            pull(client, "Bench", "1", target, quiet=True)
            ours.append(size / (time.perf_counter() - started) / 1e6)
            shutil.rmtree(target)
            started = time.perf_counter()
            with requests.get(f"{server.base}/models/Bench/versions/1/files/big.bin", stream=True,
                              headers=client.http.headers) as response, open(os.path.join(workdir, "plain"), "wb") as f:
                for chunk in response.iter_content(1024 * 1024):
                    f.write(chunk)
            plain.append(size / (time.perf_counter() - started) / 1e6)
            os.remove(os.path.join(workdir, "plain"))
    finally:
        server.stop()
        hooks.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)
    q = statistics.quantiles(latencies, n=100)
    print(f"\n2 workers, SQLite, local disk; {args.moves} moves one after another; a {args.mib} MiB file\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| webhook delivery, move sent → event received, p50 | {statistics.median(latencies):.0f} ms |")
    print(f"| webhook delivery, p99 | {q[98]:.0f} ms |")
    print(f"| `pull` (sha256 checked, manifest written), median of 3 | {statistics.median(ours):.0f} MB/s |")
    print(f"| plain streamed GET of the same file, median of 3 | {statistics.median(plain):.0f} MB/s |")
    print(f"| ratio pull / plain | {statistics.median(ours) / statistics.median(plain):.2f} |")


if __name__ == "__main__":
    main()
