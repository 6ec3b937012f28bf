"""Signed webhooks that follow the audit log, against real receivers on loopback and a real `registry serve`."""
import datetime
import json
import re
import statistics
import time

import pytest

from registry.delivery import outbox
from registry.delivery import sender
from registry.models import Webhook
from registry.models import WebhookDelivery
from registry.models import utcnow
from tests.conftest import expect_error
from tests.receivers import Receiver
from tests.servers import RegistryServer

SECRET = "whsec_test_secret_0123456789"


def readme_verify():
    """The signature check the README shows, run as written."""
    with open("README.md") as f:
        text = f.read()
    section = text[text.index("## Webhooks"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 (the README's own example)
    return namespace["verify"]


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def server(backend_env):
    s = RegistryServer(dict(backend_env, REGISTRY_WEBHOOK_ALLOW_PRIVATE="1", REGISTRY_PUBLIC_URL="http://public.example"),
                       workers=2, threads=4).start()
    yield s
    s.stop()


def _hook(server, url, **body):
    response = server.http.post(f"{server.base_url}/webhooks", json=dict({"url": url, "events": [
        "version.registered", "version.transitioned", "alias.set", "alias.deleted", "model.deleted"]}, **body))
    assert response.status_code == 201, response.text
    return response.json()


def _source(server):
    run = server.http.post(f"{server.base_url}/runs", json={}).json()["run_id"]
    server.http.put(f"{server.base_url}/runs/{run}/artifacts/model/w.bin", data=b"weights").raise_for_status()
    return f"runs:/{run}/model"


def _move(server, name, ref, stage, comment=""):
    response = server.http.post(f"{server.base_url}/models/{name}/versions/{ref}/transitions",
                                json={"stage": stage, "comment": comment})
    assert response.status_code == 201, response.text


def _events(received):
    """Bodies accepted (2xx) in arrival order, duplicates (same delivery id) dropped as a receiver would."""
    seen, events = set(), []
    for headers, body, _, status in received:
        if status < 300 and headers["X-Registry-Delivery"] not in seen:
            seen.add(headers["X-Registry-Delivery"])
            events.append(json.loads(body))
    return events


def test_every_move_of_a_promotion_arrives_once_in_order_and_signed(server, receiver):
    verify = readme_verify()
    hook = _hook(server, receiver.url, secret=SECRET)
    assert hook["secret"] == SECRET
    source = _source(server)
    for _ in range(2):
        server.http.post(f"{server.base_url}/models/TextClassifier/versions", json={"source": source}).raise_for_status()
    _move(server, "TextClassifier", "1", "Staging", "candidate")
    _move(server, "TextClassifier", "1", "Production", "ship")
    _move(server, "TextClassifier", "2", "Staging")
    _move(server, "TextClassifier", "2", "Production", "better")
    server.http.put(f"{server.base_url}/models/TextClassifier/aliases/champion", json={"version": 2}).raise_for_status()
    server.http.delete(f"{server.base_url}/models/TextClassifier/aliases/champion").raise_for_status()
    received = receiver.wait_for(9)
    time.sleep(1)  # nothing more may come
    received = receiver.received()
    for headers, body, _, _ in received:
        assert verify(SECRET, headers["X-Registry-Signature"], body) is True
        assert verify("whsec_another_secret_00000", headers["X-Registry-Signature"], body) is False
        assert headers["Content-Type"] == "application/json"
    events = _events(received)
    assert len(received) == len(events) == 9
    assert [(e["event"], e["version"], e["from_stage"], e["to_stage"], e["cause"]) for e in events] == [
        ("version.registered", 1, None, "None", None),
        ("version.registered", 2, None, "None", None),
        ("version.transitioned", 1, "None", "Staging", None),
        ("version.transitioned", 1, "Staging", "Production", None),
        ("version.transitioned", 2, "None", "Staging", None),
        ("version.transitioned", 1, "Production", "Archived", "replaced by version 2"),
        ("version.transitioned", 2, "Staging", "Production", None),
        ("alias.set", 2, None, None, None),
        ("alias.deleted", 2, None, None, "previously version 2"),
    ]
    assert [h["X-Registry-Event"] for h, _, _, _ in received] == [e["event"] for e in events]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 9
    assert events[3]["actor"] == "admin" and events[3]["comment"] == "ship" and events[7]["alias"] == "champion"
    assert events[6]["download_url"] == "http://public.example/models/TextClassifier/versions/2/archive"
    audit = server.http.get(f"{server.base_url}/audit", params={"model": "TextClassifier"}).json()["records"]
    assert [r["id"] for r in audit] == ids  # the event id is the audit record's
    deliveries = server.http.get(f"{server.base_url}/webhooks/{hook['id']}/deliveries").json()["deliveries"]
    assert {d["status"] for d in deliveries} == {"delivered"} and len(deliveries) == 9
    assert all(len(d["attempts"]) == 1 and d["attempts"][0]["status_code"] == 200 for d in deliveries)


def test_a_receiver_down_then_a_restart_mid_backoff_still_gets_each_event_once(backend_env, receiver):
    env = dict(backend_env, REGISTRY_WEBHOOK_ALLOW_PRIVATE="1")
    first = RegistryServer(env, workers=1, threads=4).start()
    receiver.status = 503
    hook = _hook(first, receiver.url, events=["version.registered", "version.transitioned"], secret=SECRET)
    first.http.post(f"{first.base_url}/models/M/versions", json={"source": _source(first)}).raise_for_status()
    _move(first, "M", "1", "Staging")
    receiver.wait_for(2)  # the first attempt at the first event failed
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        deliveries = first.http.get(f"{first.base_url}/webhooks/{hook['id']}/deliveries").json()["deliveries"]
        if len(deliveries[-1]["attempts"]) >= 2:
            break
        time.sleep(0.1)
    oldest = deliveries[-1]
    assert [a["status_code"] for a in oldest["attempts"]][:2] == [503, 503]
    assert oldest["attempts"][0]["error"] == "the receiver answered 503"
    assert oldest["status"] == "pending" and oldest["next_attempt_at"] is not None
    assert deliveries[0]["attempts"] == []  # the later event of the model waits its turn
    first.stop()
    receiver.status = 200
    second = RegistryServer(env, workers=1, threads=4).start()
    try:
        deadline = time.monotonic() + 30
        while len(_events(receiver.received())) < 2:
            assert time.monotonic() < deadline, receiver.received()
            time.sleep(0.1)
        time.sleep(1)
        assert [e["event"] for e in _events(receiver.received())] == ["version.registered", "version.transitioned"]
        accepted = [r for r in receiver.received() if r[3] == 200]
        assert len(accepted) == 2  # each event once, after the 503s
        final = second.http.get(f"{second.base_url}/webhooks/{hook['id']}/deliveries").json()["deliveries"]
        assert [d["status"] for d in final] == ["delivered", "delivered"]
        assert [a["status_code"] for a in final[1]["attempts"]][-1] == 200
    finally:
        second.stop()


def test_a_hanging_receiver_slows_neither_the_api_nor_other_webhooks(server):
    hanging = Receiver(delay=30).start()
    healthy = Receiver().start()
    try:
        _hook(server, hanging.url, events=["version.registered"])
        _hook(server, healthy.url, events=["version.registered"])
        source = _source(server)
        latencies = []
        for _ in range(40):
            started = time.perf_counter()
            server.http.post(f"{server.base_url}/models/M/versions", json={"source": source}).raise_for_status()
            latencies.append(time.perf_counter() - started)
        healthy.wait_for(40, timeout=15)
        p99 = statistics.quantiles(latencies, n=100)[98]
        assert p99 < 0.5, latencies
        assert len(hanging.received()) <= 2  # at most two at a time per webhook, each held until its timeout
    finally:
        hanging.stop()
        healthy.stop()


@pytest.mark.parametrize("backend", ["postgres-minio"])
def test_only_one_of_two_instances_delivers(backend_env, receiver):
    env = dict(backend_env, REGISTRY_WEBHOOK_ALLOW_PRIVATE="1", REGISTRY_SECRET_KEY="s" * 40)
    one = RegistryServer(env, workers=2, threads=4).start()
    two = RegistryServer(env, workers=2, threads=4).start()
    try:
        _hook(one, receiver.url, events=["version.registered"])
        source = _source(one)
        for i in range(20):
            node = (one, two)[i % 2]
            node.http.post(f"{node.base_url}/models/M/versions", json={"source": source}).raise_for_status()
        receiver.wait_for(20)
        time.sleep(2)
        received = receiver.received()
        assert len(received) == 20
        assert sorted(json.loads(b)["version"] for _, b, _, _ in received) == list(range(1, 21))
    finally:
        one.stop()
        two.stop()


# --- the API, in process -------------------------------------------------------------------

def test_webhooks_are_managed_by_admins_and_never_show_their_secret_again(client, app, registry):
    created = client.post("/webhooks", json={"url": "https://hooks.example/x?token=abc", "events": ["alias.set"],
                                             "description": "deploy bot"})
    assert created.status_code == 201
    body = created.json
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["events"] == ["alias.set"] and body["models"] == [] and body["active"] is True
    listed = client.get("/webhooks").json["webhooks"]
    assert "secret" not in listed[0] and listed[0]["url"] == "https://hooks.example/x?token=abc"
    hook_id = body["id"]
    patched = client.patch(f"/webhooks/{hook_id}", json={"active": False, "models": ["nlp-*"]})
    assert patched.status_code == 200 and patched.json["active"] is False and patched.json["models"] == ["nlp-*"]
    from registry.db import database
    with app.app_context():
        stored = database.execute_sql("SELECT secret FROM webhook").fetchone()[0]
    assert body["secret"] not in stored
    audit = client.get("/audit", query_string={"action": "webhook_create"}).json["records"][0]
    assert audit["comment"] == "https://hooks.example/x for alias.set" and audit["subject"] == str(hook_id)
    writer = client.post("/tokens", json={"name": "w", "role": "writer"}).json["token"]
    expect_error(app.test_client().get("/webhooks", headers={"Authorization": f"Bearer {writer}"}), 403, "forbidden")
    scoped = client.post("/tokens", json={"name": "nlp", "role": "admin", "models": ["nlp-*"]}).json["token"]
    as_scoped = app.test_client()
    as_scoped.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {scoped}"
    expect_error(as_scoped.post("/webhooks", json={"url": "https://h.example/", "events": ["alias.set"]}),
                 403, "forbidden")
    assert [h["id"] for h in as_scoped.get("/webhooks").json["webhooks"]] == [hook_id]
    assert client.delete(f"/webhooks/{hook_id}").status_code == 204
    expect_error(client.get(f"/webhooks/{hook_id}"), 404, "not_found")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data",
    "http://localhost:9000/", "http://api.localhost/", "http://192.168.0.10/", "http://0.0.0.0/",
])
def test_internal_targets_are_refused(client, url):
    error = expect_error(client.post("/webhooks", json={"url": url, "events": ["alias.set"]}), 400, "validation_error")
    assert "REGISTRY_WEBHOOK_ALLOW_PRIVATE=1" in error["message"] or "loopback" in error["message"]


@pytest.mark.parametrize("url", ["ftp://hooks.example/", "https://user:pw@hooks.example/", "https:///nohost",
                                 "https://hooks.example:99999/", "http://[zz]/", "https://hooks.example/a b"])
def test_malformed_targets_are_refused(client, url):
    error = expect_error(client.post("/webhooks", json={"url": url, "events": ["alias.set"]}), 400, "validation_error")
    assert list(error["details"]) == ["url"]


@pytest.mark.parametrize("url, message", [
    ("ftp://hooks.example/", "must start with http:// or https://"),
    ("https://user:pw@hooks.example/", "must not carry credentials"),
    ("https:///nohost", "must start with http:// or https:// and name a host"),
    ("https://hooks.example:99999/", "port is not a number"),
    ("http://[zz]/", "host is not valid"),
])
def test_the_use_case_refuses_malformed_targets_itself(url, message):
    from registry.domain.errors import RegistryError
    from registry.domain.webhook_targets import check_url

    with pytest.raises(RegistryError, match=message):
        check_url(url, allow_private=True)


def test_a_name_resolving_to_loopback_is_refused_at_delivery():
    status, _, error = sender.send("http://localhost:9/hook", SECRET, "ping", 1, "{}", allow_private=False)
    assert status is None and "resolves to 127.0.0.1, a loopback, link-local or private address" in error


def test_redirects_are_not_followed(receiver):
    receiver.status = 302
    status, _, error = sender.send(receiver.url, SECRET, "ping", 1, "{}", allow_private=True)
    assert (status, error) == (302, "the receiver answered 302")
    assert [h["Host"] for h, _, _, _ in receiver.received()] == [f"127.0.0.1:{receiver.port}"]  # one request only


def test_ping_is_signed_and_recorded(backend_config, receiver):
    from registry import create_app

    app = create_app(dict(backend_config, TESTING=True, WEBHOOK_ALLOW_PRIVATE="1"))
    client = app.test_client()
    with open(f"{backend_config['DATA_DIR']}/admin.token") as f:
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {f.read().strip()}"
    hook = client.post("/webhooks", json={"url": receiver.url, "events": ["alias.set"], "secret": SECRET}).json
    ping = client.post(f"/webhooks/{hook['id']}/test")
    assert ping.status_code == 200
    assert ping.json["event"] == "ping" and ping.json["status"] == "delivered"
    assert ping.json["attempts"][0]["status_code"] == 200 and ping.json["attempts"][0]["latency_ms"] > 0
    headers, body, _, _ = receiver.received()[0]
    verify = readme_verify()
    assert verify(SECRET, headers["X-Registry-Signature"], body)
    stale = sender.signature(SECRET, int(time.time()) - 301, body)
    assert not verify(SECRET, stale, body)
    assert not verify(SECRET, headers["X-Registry-Signature"], body + b" ")
    assert headers["X-Registry-Event"] == "ping" and json.loads(body)["webhook_id"] == hook["id"]
    receiver.status = 500
    failed = client.post(f"/webhooks/{hook['id']}/test").json
    assert failed["status"] == "failed" and failed["attempts"][0]["error"] == "the receiver answered 500"
    # Another server key cannot open the stored secret: the attempt says so instead of sending.
    other = create_app(dict(backend_config, TESTING=True, WEBHOOK_ALLOW_PRIVATE="1", SECRET_KEY="x" * 40),
                       migrate=False).test_client()
    other.environ_base["HTTP_AUTHORIZATION"] = client.environ_base["HTTP_AUTHORIZATION"]
    unreadable = other.post(f"/webhooks/{hook['id']}/test").json
    assert "sealed under another server key" in unreadable["attempts"][0]["error"]
    assert len(receiver.received()) == 2


def test_a_delivery_that_keeps_failing_is_marked_failed_and_can_be_redelivered(backend_env, receiver):
    env = dict(backend_env, REGISTRY_WEBHOOK_ALLOW_PRIVATE="1", REGISTRY_WEBHOOK_RETRY_SECONDS="2")
    server = RegistryServer(env, workers=1, threads=4).start()
    try:
        receiver.status = 500
        hook = _hook(server, receiver.url, events=["version.registered"])
        server.http.post(f"{server.base_url}/models/M/versions", json={"source": _source(server)}).raise_for_status()
        url = f"{server.base_url}/webhooks/{hook['id']}/deliveries"
        deadline = time.monotonic() + 20
        while not (found := server.http.get(url).json()["deliveries"]) or found[0]["status"] != "failed":
            assert time.monotonic() < deadline, found
            time.sleep(0.2)
        assert len(found[0]["attempts"]) >= 2 and found[0]["next_attempt_at"] is None
        assert server.http.get(url, params={"status": "failed"}).json()["deliveries"][0]["id"] == found[0]["id"]
        receiver.status = 200
        again = server.http.post(f"{url}/{found[0]['id']}/redeliver")
        assert again.status_code == 200 and again.json()["status"] == "pending"
        deadline = time.monotonic() + 10
        while server.http.get(url).json()["deliveries"][0]["status"] != "delivered":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert json.loads(receiver.received()[-1][1])["event"] == "version.registered"
    finally:
        server.stop()


@pytest.mark.parametrize("url", ["http://[::1]:8080/", "http://[::ffff:127.0.0.1]/", "http://[fe80::1]/"])
def test_ipv6_internal_literals_are_refused_by_the_use_case(url):
    from registry.domain.errors import RegistryError
    from registry.domain.webhook_targets import check_url

    with pytest.raises(RegistryError, match="loopback, link-local or private address"):
        check_url(url, allow_private=False)


def test_due_gives_the_oldest_ready_delivery_of_each_model_up_to_the_limit(app):
    with app.app_context():
        hook = Webhook.create(url="https://example.com/h", events="[]", models="[]", secret="", description="",
                              active=True, after_record=0, created_by="test")
        now = utcnow()

        def delivery(model, status="pending", later=0):
            return WebhookDelivery.create(webhook=hook, model_name=model, event="e", payload="{}", status=status,
                                          attempts=0, next_attempt_at=now + datetime.timedelta(seconds=later)).id

        a1, b1, a2, c1 = delivery("A"), delivery("B"), delivery("A"), delivery("C")
        delivery("D", later=3600)  # not yet time
        delivery("E", status="delivered")
        # a2 waits behind a1: a model's events arrive in order.
        assert [d.id for d in outbox.due(8, set())] == [a1, b1, c1]
        assert [d.id for d in outbox.due(2, set())] == [a1, b1]
        assert [d.id for d in outbox.due(2, {a1})] == [b1, c1]
        assert outbox.due(2, set())[0].webhook.url == "https://example.com/h"
        WebhookDelivery.update(status="delivered").where(WebhookDelivery.id == a1).execute()
        assert [d.id for d in outbox.due(8, set())] == [b1, a2, c1]
