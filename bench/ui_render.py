"""Web UI render times with 10,000 versions of one model and 5,000 runs, beside MLflow's server.

Ours: `registry serve` (gunicorn, 2 workers, SQLite) with the registry seeded in
bulk (tests/bulk.py), signed in as a browser would be. Each page is fetched
back to back by one keep-alive client; the server's own time comes from the
page's Server-Timing header, and the client's from the round trip.

MLflow's UI renders in the browser from its REST API, so its side is the
server work behind the same two pages, on the same data loaded through its
API: registered-models/get plus model-versions/search (50 newest) for the
model page, and runs/search (50, ordered by a metric) for the runs list.

Target (issue 7): the model page and the runs list under 150 ms server time, p50.

    .venv/bin/python bench/ui_render.py [--seconds 5] [--no-mlflow]
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench.mlflow_compare import API  # noqa: E402
from bench.mlflow_compare import start_mlflow  # noqa: E402
from bench.mlflow_compare import start_ours  # noqa: E402

VERSIONS, RUNS = 10_000, 5_000


def seed_ours(workdir):
    from registry import create_app
    from tests.bulk import seed

    app = create_app({"DATA_DIR": os.path.join(workdir, "registry")})
    with app.app_context():
        seed(versions=VERSIONS, runs=RUNS)


def sign_in(base, token):
    browser = requests.Session()
    page = browser.get(base + "/ui/signin")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    browser.post(base + "/ui/signin", data={"token": token, "csrf_token": csrf}).raise_for_status()
    return browser


def sample(seconds, fetch):
    """Call ``fetch()`` back to back for ``seconds``; return (client ms list, server ms list)."""
    client, server, started = [], [], time.monotonic()
    while time.monotonic() - started < seconds:
        t = time.perf_counter()
        server_ms = fetch()
        client.append((time.perf_counter() - t) * 1000)
        if server_ms is not None:
            server.append(server_ms)
    return client, server


def page_fetcher(browser, url, expect):
    def fetch():
        response = browser.get(url)
        assert response.status_code == 200 and expect in response.text, (url, response.status_code)
        return float(re.search(r"dur=([0-9.]+)", response.headers["Server-Timing"]).group(1))
    return fetch


def bench_ours(workdir, seconds):
    t = time.monotonic()
    seed_ours(workdir)
    print(f"registry: seeded {VERSIONS} versions and {RUNS} runs in {time.monotonic() - t:.0f} s", file=sys.stderr)
    server = start_ours(workdir, 2)
    try:
        browser = sign_in(server.base, server.http.headers["Authorization"].split()[1])
        experiment = re.search(r'href="/ui/experiments/(\d+)">big<', browser.get(server.base + "/ui/experiments").text)
        runs_url = f"{server.base}/ui/experiments/{experiment.group(1)}"
        pages = {
            "model page (50 newest of 10,000 versions, timeline)": (f"{server.base}/ui/models/Big", "Versions"),
            "runs list (50 of 5,000, newest first)": (runs_url, "data-run="),
            "runs list (50 of 5,000, by a metric)": (runs_url + "?order_by=metrics.`accuracy` DESC", "data-run="),
            "version page": (f"{server.base}/ui/models/Big/versions/9999", "Lineage"),
        }
        results = {}
        for name, (url, expect) in pages.items():
            page_fetcher(browser, url, expect)()  # warm
            results[name] = sample(seconds, page_fetcher(browser, url, expect))
        return results
    finally:
        server.stop()


def bench_mlflow(workdir, seconds):
    server = start_mlflow(workdir, 2)
    try:
        t = time.monotonic()
        experiment = server.call("POST", f"{API}/experiments/create", json={"name": "big"})["experiment_id"]

        def run(i):
            created = server.call("POST", f"{API}/runs/create", json={"experiment_id": experiment, "run_name": f"run-{i}"})
            run_id = created["run"]["info"]["run_id"]
            server.call("POST", f"{API}/runs/log-batch", json={
                "run_id": run_id,
                "params": [{"key": "lr", "value": str(10 ** -(i % 4))}, {"key": "seed", "value": str(i % 7)},
                           {"key": "epochs", "value": "10"}],
                "metrics": [{"key": k, "value": (i % 100) / 100 + s / 100, "timestamp": 1_700_000_000_000 + s, "step": s}
                            for k in ("accuracy", "loss", "f1") for s in range(10)]})
            return run_id

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            run_ids = list(pool.map(run, range(RUNS)))
        server.call("POST", f"{API}/registered-models/create", json={"name": "Big"})

        def version(i):
            source = run_ids[i % RUNS]
            server.call("POST", f"{API}/model-versions/create",
                        json={"name": "Big", "source": f"runs:/{source}/model", "run_id": source})

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(version, range(VERSIONS)))
        print(f"mlflow: seeded {VERSIONS} versions and {RUNS} runs in {time.monotonic() - t:.0f} s", file=sys.stderr)

        def model_page():
            server.call("GET", f"{API}/registered-models/get", params={"name": "Big"})
            found = server.call("GET", f"{API}/model-versions/search", params={
                "filter": "name='Big'", "max_results": 50, "order_by": "version_number DESC"})
            assert len(found["model_versions"]) == 50

        def runs_list(order):
            def fetch():
                body = {"experiment_ids": [experiment], "max_results": 50}
                if order:
                    body["order_by"] = [order]
                assert len(server.call("POST", f"{API}/runs/search", json=body)["runs"]) == 50
            return fetch

        results = {}
        for name, fetch in (("model page (50 newest of 10,000 versions, timeline)", model_page),
                            ("runs list (50 of 5,000, newest first)", runs_list(None)),
                            ("runs list (50 of 5,000, by a metric)", runs_list("metrics.accuracy DESC"))):
            fetch()
            results[name] = sample(seconds, lambda f=fetch: f())
        return results
    finally:
        server.stop()


def p50(values):
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--no-mlflow", action="store_true", help="only this service")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="ui-render-")
    try:
        ours = bench_ours(workdir, args.seconds)
        theirs = {} if args.no_mlflow else bench_mlflow(workdir, args.seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{VERSIONS:,} versions of one model, {RUNS:,} runs; 2 workers each, SQLite, one keep-alive client, "
          f"{args.seconds:g} s per page\n")
    print("| page | registry server p50 | registry round trip p50 | MLflow API round trip p50 (same data) | MLflow ÷ registry |")
    print("|---|---|---|---|---|")
    for name, (client, server) in ours.items():
        other = theirs.get(name)
        mlflow_ms = p50(other[0]) if other else None
        shown = f"{mlflow_ms:.1f} ms" if mlflow_ms is not None else "—"
        ratio = f"{mlflow_ms / p50(client):.1f}×" if mlflow_ms is not None else "—"
        print(f"| {name} | {p50(server):.1f} ms | {p50(client):.1f} ms | {shown} | {ratio} |")


if __name__ == "__main__":
    main()
