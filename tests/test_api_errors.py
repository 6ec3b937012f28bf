"""Hostile and malformed input: always a JSON error from the table, never a 500 or HTML."""
import pytest

from registry.api.errors import STATUS as ERROR_CODES
from tests.conftest import expect_error

BAD_REQUESTS = [
    ("get", "/nope", None, None, 404),
    ("get", "/models/M/versions/1/files", None, None, 404),
    ("delete", "/runs", None, None, 405),
    ("put", "/models", None, None, 405),
    ("post", "/models", "{not json", "application/json", 400),
    ("post", "/models", '{"name": ["M"]}', "application/json", 400),
    ("post", "/models", '{"name": "M", "tags": {"a": 1}}', "application/json", 400),
    ("post", "/models", '{"name": "M", "tags": []}', "application/json", 400),
    ("post", "/models", '{"name": "M", "description": null}', "application/json", 400),
    ("post", "/models", '{"name": "M", "surprise": true}', "application/json", 400),
    ("post", "/models", "name=M", "application/x-www-form-urlencoded", 400),
    ("post", "/models", "null", "application/json", 400),
    ("post", "/runs", '{"name": 5}', "application/json", 400),
    ("post", "/runs", '"just a string"', "application/json", 400),
    ("post", "/models/M/versions", '{"source": 5}', "application/json", 400),
    ("post", "/models/M/versions", '{"source": "' + "x" * 3000 + '"}', "application/json", 400),
    ("post", "/models/bad%20name/versions", '{"source": "runs:/x"}', "application/json", 400),
    ("get", "/models/" + "m" * 129, None, None, 400),
    ("get", "/models?limit=-1", None, None, 400),
    ("get", "/models?limit=100000", None, None, 400),
    ("get", "/models?q=" + "q" * 200, None, None, 400),
    ("get", "/models/M/versions?stage=Live", None, None, 400),
    ("get", "/models?q=a%00b", None, None, 400),
    ("post", "/runs", '{"name": "nul\\u0000byte"}', "application/json", 400),
    ("post", "/runs", '{"name": "lone \\ud800 surrogate"}', "application/json", 400),
    ("post", "/models", '{"name": "M", "description": "nul\\u0000"}', "application/json", 400),
    ("get", "/runs/%00", None, None, 400),
    ("put", "/runs/" + "a" * 32 + "/artifacts/%2e%2e/x", None, None, 400),
    ("patch", "/models/M", '{"description": 7}', "application/json", 400),
    # Hostile JSON well under the size cap: deep nesting, huge numbers, non-JSON constants, bad UTF-8.
    ("post", "/models", "[" * 100_000 + "]" * 100_000, "application/json", 400),
    ("post", "/models", '{"name": "M", "x": ' + "[" * 33 + "]" * 33 + "}", "application/json", 400),
    ("post", "/models", '{"name": "M", "tags": {"a": ' + "9" * 5000 + "}}", "application/json", 400),
    ("post", "/models", '{"name": "M", "description": ' + "1" * 41 + ".5}", "application/json", 400),
    ("post", "/models", '{"name": NaN}', "application/json", 400),
    ("post", "/models", '{"name": "M", "description": -Infinity}', "application/json", 400),
    ("post", "/models", b'{"name": "\xff"}', "application/json", 400),
]


@pytest.mark.parametrize("method,path,body,content_type,status", BAD_REQUESTS)
def test_bad_requests_get_json_errors(client, method, path, body, content_type, status):
    kwargs = {}
    if body is not None:
        kwargs = {"data": body, "content_type": content_type}
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    error = response.json["error"]
    assert ERROR_CODES[error["code"]] == status
    assert error["message"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_json_just_inside_the_bounds_is_accepted(client):
    nested = "[" * 31 + "]" * 31  # with the object around it: 32 levels
    response = client.post("/models", data='{"name": "M", "tags": {}, "x": ' + nested + "}",
                           content_type="application/json")
    expect_error(response, 400, "validation_error")
    assert response.json["error"]["details"] == {"x": ["Unknown field."]}  # parsed, then refused by the schema


def test_field_errors_are_named_in_details(client):
    response = client.post("/models", json={"name": "ok", "tags": {"a": 1}, "extra": 1})
    details = response.json["error"]["details"]
    assert set(details) == {"tags", "extra"}


def test_no_server_banner(client):
    assert "Server" not in client.get("/healthz").headers


def test_an_unexpected_failure_is_a_json_500_without_details(app, client, caplog):
    # A route that fails the way a bug would; the client sees the envelope only.
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.content_type == "application/json"
    assert response.json == {"error": {"code": "internal_error", "message": "Internal error; it has been logged."}}
    assert "ZeroDivisionError" in caplog.text  # logged for the operator, not sent to the client
