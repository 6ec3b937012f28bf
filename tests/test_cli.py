"""The command line: migrations, start-up errors, and `registry serve` itself."""
import os
import subprocess
import sys

import pytest
import requests

from tests.conftest import expect_error
from tests.servers import RegistryServer
from tests.servers import free_port
from tests.servers import without_registry_settings

# Each test starts its own server processes.
pytestmark = pytest.mark.servers


def _registry(*args, env=None, cwd=None, timeout=60):
    clean = without_registry_settings()
    return subprocess.run(
        [sys.executable, "-m", "registry.cli", *args],
        env=dict(clean, **(env or {})), cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


def test_db_upgrade_applies_once(backend_env):
    first = _registry("db", "upgrade", env=backend_env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "applied [1, 2, 3, 4, 5, 6]; schema is at version 6"
    second = _registry("db", "upgrade", env=backend_env)
    assert second.stdout.strip() == "applied nothing; schema is at version 6"


def test_concurrent_migrations_are_safe(backend_env):
    processes = [
        subprocess.Popen([sys.executable, "-m", "registry.cli", "db", "upgrade"],
                         env=dict(os.environ, **backend_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    failed = [(p.returncode, err.strip().splitlines()[-1:]) for p, (_, err) in zip(processes, outputs, strict=True)
              if p.returncode]
    assert failed == []
    applied = [out for out, _ in outputs if out.startswith("applied [1, 2, 3, 4, 5, 6]")]
    assert len(applied) == 1


@pytest.mark.parametrize("env,setting", [
    ({"REGISTRY_DATABASE_URL": "mysql://x"}, "REGISTRY_DATABASE_URL"),
    ({"REGISTRY_DATABASE_URL": "sqlite://relative.db"}, "REGISTRY_DATABASE_URL"),
    ({"REGISTRY_STORAGE_URL": "minio://host:9000/bucket"}, "REGISTRY_STORAGE_URL"),
    ({"REGISTRY_STORAGE_URL": "minio://a:b@localhost:notaport/bucket"}, "REGISTRY_STORAGE_URL"),
    ({"REGISTRY_STORAGE_URL": "ftp://a:b@host/bucket"}, "REGISTRY_STORAGE_URL"),
    ({"REGISTRY_STORAGE_URL": "minio://a:b@localhost:9000/Bad_Bucket"}, "REGISTRY_STORAGE_URL"),
    ({"REGISTRY_MAX_UPLOAD_BYTES": "lots"}, "REGISTRY_MAX_UPLOAD_BYTES"),
])
def test_bad_configuration_is_one_clear_line(tmp_path, env, setting):
    result = _registry("db", "upgrade", env=dict(env, REGISTRY_DATA_DIR=str(tmp_path)))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {setting}: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("below", ["", "/inner"])
def test_a_data_dir_that_is_a_file_is_one_clear_line(tmp_path, below):
    (tmp_path / "afile").write_text("not a directory")
    for command in (("db", "upgrade"), ("serve",)):
        result = _registry(*command, env={"REGISTRY_DATA_DIR": str(tmp_path / "afile") + below})
        assert result.returncode == 2
        assert result.stderr.startswith(f"error: REGISTRY_DATA_DIR: {tmp_path / 'afile'}")
        assert "is a file" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_or_refusing_dependencies_fail_at_start(tmp_path, minio, postgres):
    port = free_port()
    for scheme in ("minio", "s3"):
        down = _registry("serve", env={"REGISTRY_DATA_DIR": str(tmp_path),
                                       "REGISTRY_STORAGE_URL": f"{scheme}://k:s@127.0.0.1:{port}/bucket"})
        assert down.returncode == 2
        # The one line, and no retry warnings from urllib3 before it.
        assert down.stderr.startswith("error: REGISTRY_STORAGE_URL:"), down.stderr
        assert "Retrying" not in down.stderr and "Traceback" not in down.stderr
    wrong_key = _registry("serve", env={"REGISTRY_DATA_DIR": str(tmp_path),
                                        "REGISTRY_STORAGE_URL": minio.url().replace("registry-test-secret", "nope1234")})
    assert wrong_key.returncode == 2
    assert "error: REGISTRY_STORAGE_URL:" in wrong_key.stderr and "nope1234" not in wrong_key.stderr
    bad_db = _registry("serve", env={"REGISTRY_DATA_DIR": str(tmp_path),
                                     "REGISTRY_DATABASE_URL": postgres.url("postgres").replace("registry-test-pw", "bad")})
    assert bad_db.returncode == 2
    assert bad_db.stderr.startswith("error: REGISTRY_DATABASE_URL:") and "Traceback" not in bad_db.stderr
    assert "bad@" not in bad_db.stderr


def test_serve_runs_on_the_embedded_default_with_nothing_configured(tmp_path):
    server = RegistryServer.on_embedded_default(str(tmp_path), threads=2).start()
    try:
        assert requests.get(server.base_url + "/readyz", timeout=5).json()["status"] == "ok"
        expect_error(requests.get(server.base_url + "/models", timeout=5), 401, "unauthorized")
        created = server.http.post(server.base_url + "/models", json={"name": "M"}, timeout=5)
        assert created.status_code == 201
        assert (tmp_path / "registry-data" / "registry.db").exists()
        assert (tmp_path / "registry-data" / "blobs").is_dir()
        assert (tmp_path / "registry-data" / "admin.token").stat().st_mode & 0o777 == 0o600
        assert "Server" not in created.headers  # no banner, through a real gunicorn
    finally:
        server.stop()


def test_openapi_command_prints_the_document(tmp_path):
    result = _registry("openapi", "--format", "json", env={"REGISTRY_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0
    assert '"openapi": "3.0.3"' in result.stdout
