"""openapi.yaml is exactly what the app serves; a drift fails here."""
import json
import os
import re

import yaml

from registry.openapi import spec_dict

SPEC_FILE = os.path.join(os.path.dirname(__file__), "..", "openapi.yaml")


def _checked_in():
    with open(SPEC_FILE) as f:
        return yaml.safe_load(f)


def _normalise(document):
    return json.loads(json.dumps(document, sort_keys=True))


def test_openapi_yaml_matches_the_app(app):
    assert _normalise(_checked_in()) == _normalise(spec_dict(app)), (
        "openapi.yaml is out of date: regenerate it with `registry openapi > openapi.yaml`"
    )


def test_openapi_json_is_served(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert _normalise(response.json) == _normalise(_checked_in())


def test_every_route_is_documented(app):
    documented = {
        (path, method.upper()) for path, ops in _checked_in()["paths"].items() for method in ops
        if method != "parameters"
    }
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static",) or rule.rule == "/openapi.json":
            continue
        if rule.endpoint.startswith("mlflow."):  # the MLflow surface: documented by MLflow, listed in the README
            assert rule.rule.startswith(("/api/2.0/mlflow", "/api/3.0/mlflow", "/ajax-api/2.0/mlflow")), rule.rule
            continue
        if rule.endpoint.startswith("ui.") or rule.endpoint == "root":  # the web UI: HTML pages, not the API
            assert rule.rule == "/" or rule.rule.startswith("/ui/"), rule.rule
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} is not in openapi.yaml"


def test_errors_are_documented_with_the_envelope():
    spec = _checked_in()
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    body = spec["components"]["schemas"]["ErrorBody"]
    assert set(body["properties"]) == {"code", "message", "details"}
