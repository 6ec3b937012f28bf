"""Fixtures. Tests marked by backend run twice: SQLite + local disk, PostgreSQL + MinIO.

PostgreSQL and MinIO are real servers started once per session (tests/servers.py);
each test gets its own database and bucket.
"""
import os

import pytest
import requests
import werkzeug.test
from click.testing import CliRunner

from registry import create_app
from registry.cli import main
from registry.db import database
from tests.servers import MinioServer
from tests.servers import PostgresServer

BACKENDS = ["sqlite-local", "postgres-minio"]


def _repr_with_body(response):
    # pytest prints this for a failed `assert response.status_code == 201`: show what the user saw.
    body = response.get_data(as_text=True) if hasattr(response, "get_data") else response.text
    status = getattr(response, "status", None) or response.status_code
    return f"<response {status}: {body[:1000]!r}>"


werkzeug.test.TestResponse.__repr__ = _repr_with_body
requests.Response.__repr__ = _repr_with_body


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer().start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def minio():
    server = MinioServer().start()
    yield server
    server.destroy()


@pytest.fixture
def own_minio():
    """A MinIO of this test's own, to stop or freeze."""
    server = MinioServer().start()
    yield server
    server.destroy()


@pytest.fixture
def own_postgres():
    """A PostgreSQL of this test's own, to stop or freeze."""
    server = PostgresServer().start()
    yield server
    server.destroy()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def backend_config(request, backend, tmp_path):
    """Settings (REGISTRY_* without the prefix) for a fresh registry on ``backend``."""
    config = {"DATA_DIR": str(tmp_path / "data")}
    if backend == "postgres-minio":
        pg = request.getfixturevalue("postgres")
        mn = request.getfixturevalue("minio")
        dbname = pg.create_database()
        request.addfinalizer(lambda: pg.drop_database(dbname))
        config["DATABASE_URL"] = pg.url(dbname)
        config["STORAGE_URL"] = mn.url()
    return config


@pytest.fixture
def backend_env(backend_config):
    """The same settings as environment variables, for subprocesses."""
    return {f"REGISTRY_{key}": str(value) for key, value in backend_config.items()}


@pytest.fixture
def app(backend_config):
    app = create_app(dict(backend_config, TESTING=True))
    yield app
    _release_database()


def _release_database():
    if not database.is_closed():
        database.close()
    close_all = getattr(database.obj, "close_all", None)
    if close_all:  # pooled PostgreSQL: let DROP DATABASE proceed
        close_all()


def body_of(response):
    """The JSON body of a Flask test response or a requests response."""
    return response.json() if callable(response.json) else response.json


def expect_error(response, status, code):
    """Assert the status and the envelope's error code; return the error. Failures show the body."""
    shown = getattr(response, "text", None) or response.get_data(as_text=True)
    assert response.status_code == status, f"expected {status} {code}, got {response.status_code}: {shown}"
    error = body_of(response)["error"]
    assert error["code"] == code, f"expected {code}, got {shown}"
    assert error["message"], shown
    return error


def admin_token(data_dir):
    """The token the service wrote on first start."""
    with open(os.path.join(data_dir, "admin.token")) as f:
        return f.read().strip()


@pytest.fixture
def token(backend_config, app):
    return admin_token(backend_config["DATA_DIR"])


@pytest.fixture
def anonymous(app):
    """A client that sends no token."""
    return app.test_client()


@pytest.fixture
def client(app, token):
    """A client authenticated with the first-start admin token."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def storage(app):
    return app.extensions["registry_storage"]


@pytest.fixture
def cli(app, backend_env):
    """Runs `registry ...` in this process against the app's backend; returns click's Result."""
    runner = CliRunner()
    clean = {k: None for k in os.environ if k.startswith("REGISTRY_")}

    def invoke(*args):
        return runner.invoke(main, list(args), env=dict(clean, **backend_env), catch_exceptions=False)

    yield invoke
    _release_database()


class Registry:
    """Small client for test setup: the calls a training job or CI makes."""

    def __init__(self, client):
        self.client = client

    def run(self, files, **body):
        response = self.client.post("/runs", json=body)
        assert response.status_code == 201, response.json
        run_id = response.json["run_id"]
        for path, data in files.items():
            uploaded = self.client.put(f"/runs/{run_id}/artifacts/{path}", data=data)
            assert uploaded.status_code == 201, uploaded.json
        return run_id

    def register(self, name, source, **body):
        response = self.client.post(f"/models/{name}/versions", json=dict(body, source=source))
        assert response.status_code == 201, response.json
        return response.json

    def model(self, name, source, versions, moves=()):
        """Register ``versions`` versions of ``name`` from ``source``, then apply (ref, stage) moves."""
        for _ in range(versions):
            self.register(name, source)
        for ref, stage in moves:
            self.move(name, ref, stage)

    def move(self, name, ref, stage, comment=""):
        response = self.client.post(f"/models/{name}/versions/{ref}/transitions",
                                    json={"stage": stage, "comment": comment})
        assert response.status_code == 201, response.json
        return response.json


@pytest.fixture
def registry(client):
    return Registry(client)


def pytest_report_header(config):
    return f"registry tests: backends {', '.join(BACKENDS)}; MinIO {os.environ.get('REGISTRY_MINIO_BIN', 'auto')}"


def pytest_terminal_summary(terminalreporter):
    """The last lines: outcomes per backend, so a run shows both were exercised."""
    counts = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call" and outcome == "passed":
                continue
            backend = next((b for b in BACKENDS if b in getattr(report, "nodeid", "")), "backend-independent")
            counts.setdefault(backend, {}).setdefault(outcome, 0)
            counts[backend][outcome] += 1
    terminalreporter.section("tests per backend")
    for backend in (*BACKENDS, "backend-independent"):
        if backend in counts:
            terminalreporter.write_line(f"{backend}: " + ", ".join(f"{n} {outcome}"
                                                                  for outcome, n in counts[backend].items()))
