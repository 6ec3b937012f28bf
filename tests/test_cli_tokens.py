"""`registry token create|list|revoke` and what a token's row holds, on both backends."""
import getpass
import hashlib

import pytest

from registry.db import database
from registry.models import ApiToken
from tests.conftest import expect_error


def as_token(app, value):
    other = app.test_client()
    other.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {value}"
    return other


def created_token(result):
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_create_prints_a_working_token_as_its_last_line(app, cli, client):
    result = cli("token", "create", "--name", "ci", "--role", "writer", "--expires-in", "90")
    value = created_token(result)
    assert result.output.splitlines()[0].startswith("created token 'ci': role writer, all models, expires 20")
    assert value.startswith("rgt_")
    ci = as_token(app, value)
    assert ci.post("/models", json={"name": "M"}).status_code == 201
    expect_error(ci.get("/tokens"), 403, "forbidden")
    [event] = client.get("/audit", query_string={"action": "token_create", "actor": f"cli:{getpass.getuser()}"}).json[
        "records"]
    assert event["subject"] == "ci" and event["comment"] == "role writer; all models"


def test_list_shows_every_token_but_never_its_value_or_hash(app, cli):
    created_token(cli("token", "create", "--name", "old", "--role", "writer"))
    value = created_token(cli("token", "create", "--name", "deploy", "--role", "reader",
                              "--model", "Text*", "--model", "Img?"))
    # Revoking updates the older row; PostgreSQL then stores it after the newer one.
    assert cli("token", "revoke", "old").exit_code == 0
    listed = cli("token", "list")
    assert listed.exit_code == 0
    rows = [line.split() for line in listed.output.strip().splitlines()]
    assert rows[0] == ["NAME", "ROLE", "MODELS", "EXPIRES", "STATUS"]
    assert rows[1:] == [["admin", "admin", "*", "never", "active"],
                        ["old", "writer", "*", "never", "revoked"],
                        ["deploy", "reader", "Text*,Img?", "never", "active"]]
    with app.app_context():
        stored = [t.secret_hash for t in ApiToken.select()]
    for secret in [value, value.split("_", 2)[2], *stored]:
        assert secret not in listed.output


def test_revoke_takes_effect_at_once_and_is_audited(app, cli, client):
    value = created_token(cli("token", "create", "--name", "ci", "--role", "writer"))
    assert as_token(app, value).get("/models").status_code == 200
    revoked = cli("token", "revoke", "ci")
    assert revoked.exit_code == 0 and revoked.output.strip() == "revoked token 'ci'"
    error = expect_error(as_token(app, value).get("/models"), 401, "unauthorized")
    assert error["message"] == "The token has been revoked."
    [event] = client.get("/audit", query_string={"action": "token_revoke"}).json["records"]
    assert (event["actor"], event["subject"]) == (f"cli:{getpass.getuser()}", "ci")
    again = cli("token", "revoke", "ci")
    assert again.exit_code == 2
    assert again.output.strip() == "error: No active token is named 'ci'."


def test_create_refuses_bad_input_with_one_line(cli):
    taken = cli("token", "create", "--name", "admin", "--role", "reader")
    assert taken.exit_code == 2
    assert taken.output.strip() == "error: An active token named 'admin' exists; revoke it or pick another name."
    bad = cli("token", "create", "--name", "x", "--role", "reader", "--model", "a b")
    assert bad.exit_code == 2 and bad.output.startswith("error: The token request is not valid. models: ")


@pytest.mark.parametrize("name,allowed", [
    ("TextClassifier", True), ("Text", True), ("ImgA", True), ("Img", False), ("ImgAB", False),
    ("MyText", False), ("Other", False),
])
def test_repeated_patterns_and_question_mark_wildcards(app, cli, client, name, allowed):
    assert client.post("/models", json={"name": name}).status_code == 201
    scoped = as_token(app, created_token(cli("token", "create", "--name", "scoped", "--role", "reader",
                                               "--model", "Text*", "--model", "Img?")))
    response = scoped.get(f"/models/{name}")
    if allowed:
        assert response.status_code == 200 and response.json["name"] == name
    else:
        expect_error(response, 403, "forbidden")
    assert [m["name"] for m in scoped.get("/models").json["models"]] == ([name] if allowed else [])


def test_only_a_sha256_of_the_secret_is_stored(app, client):
    value = client.post("/tokens", json={"name": "ci", "role": "writer"}).json["token"]
    _, selector, secret = value.split("_", 2)
    with app.app_context():
        row = ApiToken.get(ApiToken.name == "ci")
        assert row.selector == selector
        assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        every_value = []
        for table in database.get_tables():
            every_value += [str(v) for r in database.execute_sql(f"SELECT * FROM {table}").fetchall() for v in r]
    assert not [v for v in every_value if secret in v]
