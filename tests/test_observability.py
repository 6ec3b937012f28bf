"""What an operator sees: request ids, /metrics (in-process and summed across gunicorn workers), JSON logs."""
import json
import re

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from registry import create_app
from tests.conftest import expect_error
from tests.servers import RegistryServer
from tests.servers import free_port
from tests.test_auth import as_token
from tests.test_auth import make_token

WEIGHTS = b"w" * 5000


def samples(text):
    """{(sample name, sorted label items): value} from a Prometheus exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text, name, **labels):
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client):
    response = client.get("/metrics")
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.get_data(as_text=True)


@pytest.mark.parametrize("given,kept", [("build-41.step-2", True), ("a" * 128, True), ("a" * 129, False),
                                        ("has space", False), ("", False), ("tab\tin", False)])
def test_request_ids_are_echoed_when_safe_and_made_otherwise(anonymous, given, kept):
    response = anonymous.get("/healthz", headers={"X-Request-ID": given})
    if kept:
        assert response.headers["X-Request-ID"] == given
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_every_surface_and_every_error_carries_a_request_id(anonymous, client):
    for response in (anonymous.get("/models"), client.get("/models/Nope"), client.get("/no/such/url"),
                     client.post("/models", data="{", content_type="application/json"),
                     client.get("/api/2.0/mlflow/registered-models/get?name=Nope"), anonymous.get("/ui/models")):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers.get("X-Request-ID", "")), response.status_code
        response.close()


def test_metrics_count_requests_bytes_transitions_and_stages(client, registry):
    # A summary is taken when the response is closed (as a WSGI server does after the last byte).
    run_id = registry.run({})
    upload = client.put(f"/runs/{run_id}/artifacts/model/w.bin", data=WEIGHTS)
    assert upload.status_code == 201
    upload.close()
    registry.register("M", f"runs:/{run_id}/model")
    registry.register("M", f"runs:/{run_id}/model")
    registry.move("M", 1, "Staging")
    registry.move("M", 1, "Production")
    download = client.get("/models/M/versions/production/files/w.bin")
    assert download.data == WEIGHTS
    download.close()
    client.get("/models/Nope").close()
    text = scrape(client)
    route = "/models/<name>/versions/<ref>/files/<path:path>"
    assert value(text, "registry_http_requests_total", route=route, method="GET", status="200") == 1
    assert value(text, "registry_http_requests_total", route="/models/<name>", method="GET", status="404") == 1
    assert value(text, "registry_http_sent_bytes_total", route=route) == len(WEIGHTS)
    assert value(text, "registry_http_received_bytes_total",
                 route="/runs/<run_id>/artifacts/<path:path>") == len(WEIGHTS)
    assert value(text, "registry_http_request_duration_seconds_count", route=route, method="GET") == 1
    assert value(text, "registry_models") == 1
    assert value(text, "registry_model_versions", stage="Production") == 1
    assert value(text, "registry_model_versions", stage="None") == 1
    assert value(text, "registry_transitions_total", from_stage="None", to_stage="Staging") == 1
    assert value(text, "registry_transitions_total", from_stage="Staging", to_stage="Production") == 1
    assert value(text, "registry_audit_chain_ok") == 1
    assert value(text, "registry_audit_chain_records") >= 5


def test_metrics_need_the_metrics_role_or_an_unlimited_admin(app, client):
    scraper = as_token(app, make_token(client, "metrics", name="prometheus"))
    assert "registry_models" in scrape(scraper)
    # The metrics role reads nothing else.
    expect_error(scraper.get("/models"), 403, "forbidden")
    expect_error(scraper.get("/audit"), 403, "forbidden")
    for role, models in (("reader", ()), ("maintainer", ()), ("admin", ("M*",))):
        other = as_token(app, make_token(client, role, models=models, name=f"{role}-{len(models)}"))
        expect_error(other.get("/metrics"), 403, "forbidden")
    error = expect_error(client.post("/tokens", json={"name": "m2", "role": "metrics", "models": ["M"]}),
                         400, "validation_error")
    assert "cannot be limited" in json.dumps(error)
    expect_error(app.test_client().get("/metrics"), 401, "unauthorized")


def test_log_format_and_metrics_port_are_checked(backend_config):
    from registry.config import ConfigError

    with pytest.raises(ConfigError, match="REGISTRY_LOG_FORMAT: expected text or json"):
        create_app(dict(backend_config, LOG_FORMAT="xml"), migrate=False)
    with pytest.raises(ConfigError, match="REGISTRY_METRICS_PORT: expected a port number"):
        create_app(dict(backend_config, METRICS_PORT="70000"), migrate=False)


@pytest.mark.parametrize("backend", ["postgres-minio"])
def test_a_storage_outage_is_counted_as_a_dependency_error(tmp_path, own_minio, backend):
    app = create_app({"DATA_DIR": str(tmp_path), "STORAGE_URL": own_minio.url("outage"), "TESTING": True})
    client = app.test_client()
    from tests.conftest import admin_token

    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_token(str(tmp_path))}"
    run_id = client.post("/runs", json={}).json["run_id"]
    own_minio.stop()
    refused = client.put(f"/runs/{run_id}/artifacts/w.bin", data=WEIGHTS)
    expect_error(refused, 503, "storage_unavailable")
    refused.close()
    # /metrics still answers: what it cannot read is named, not fatal.
    text = scrape(client)
    assert value(text, "registry_dependency_errors_total", code="storage_unavailable") == 1
    assert value(text, "registry_scrape_errors", part="audit_chain", code="storage_unavailable") == 1
    assert value(text, "registry_models") == 0 and "registry_model_versions" in text


def test_served_metrics_add_up_across_workers_and_logs_are_json(backend_env, tmp_path):
    metrics_port = free_port()
    server = RegistryServer(dict(backend_env, REGISTRY_METRICS_PORT=str(metrics_port), REGISTRY_LOG_FORMAT="json"),
                            workers=2, threads=2).start()
    try:
        base = server.base_url
        for n in range(40):  # new connections: gunicorn spreads them over both workers
            response = requests.get(f"{base}/models", headers={"Authorization": f"Bearer {server.token}",
                                                               "X-Request-ID": f"ci-{n}"}, timeout=10)
            assert response.status_code == 200 and response.headers["X-Request-ID"] == f"ci-{n}"
        # Only /metrics on the metrics port, without a token; not /metrics on the main port.
        scraped = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert scraped.status_code == 200
        assert value(scraped.text, "registry_http_requests_total", route="/models", method="GET", status="200") == 40
        assert requests.get(f"http://127.0.0.1:{metrics_port}/healthz", timeout=10).status_code == 404
        assert requests.get(f"http://127.0.0.1:{metrics_port}/models", timeout=10).status_code == 404
        # Not even a lookup fast reads would answer, with a valid token.
        lookup = requests.get(f"http://127.0.0.1:{metrics_port}/models/M/versions/1", timeout=10,
                              headers={"Authorization": f"Bearer {server.token}"})
        assert expect_error(lookup, 404, "not_found")["message"] == "Not found on this port."
        expect_error(server.http.get(f"{base}/metrics", timeout=10), 404, "not_found")
        output = server.output()
    finally:
        server.stop()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "registry.access" and line["route"] == "/models"
              and line["status"] == 200]
    assert len(access) == 40
    first = next(line for line in access if line["request_id"] == "ci-0")
    assert (first["method"], first["status"], first["actor"], first["error"]) == ("GET", 200, "admin", None)
    assert first["latency_ms"] > 0 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert {line["level"] for line in lines} <= {"info", "warning", "error"}
    # One line per request (gunicorn's own access line is off), and never a token.
    assert '"GET /models HTTP/1.1"' not in output
    assert server.token not in output and "rgt_" not in output
    assert len(set(line["request_id"] for line in access)) == 40


def test_text_access_lines_are_gunicorns_combined_format_with_the_request_id(tmp_path):
    server = RegistryServer({"REGISTRY_DATA_DIR": str(tmp_path)}, workers=1, threads=2).start()
    try:
        server.http.get(f"{server.base_url}/models", timeout=10,
                        headers={"Referer": 'a "quoted" page', "User-Agent": "ci/1.0", "X-Request-ID": "ci-text-1"})
        missing = server.http.get(f"{server.base_url}/models/Nope?q=1", timeout=10)
        output = server.output()
    finally:
        server.stop()
    lines = [line for line in output.splitlines() if '"GET /models' in line]
    assert re.fullmatch(r'127\.0\.0\.1 - - \[[^]]+\] "GET /models HTTP/1\.1" 200 \d+ "a \\"quoted\\" page" "ci/1\.0" '
                        r'rid=ci-text-1', lines[0]), lines
    assert re.fullmatch(rf'127\.0\.0\.1 - - \[[^]]+\] "GET /models/Nope\?q=1 HTTP/1\.1" 404 {len(missing.content)} '
                        rf'"-" "python-requests/[\d.]+" rid={missing.headers["X-Request-ID"]}', lines[1]), lines
    assert server.token not in output
