"""Schemathesis against openapi.yaml and a real `registry serve`, on both backends.

Every response must be a non-5xx that conforms to the documented schema,
status codes, headers and content types; schema-violating input must be
refused. The server is seeded with a model, versions and files, and half of
the generated names, run ids and paths are drawn from them, so the fuzzer
reaches the code behind the 404s. The run is bounded (examples per
operation, fixed seed) so CI stays fast.
"""
import os
import re
import subprocess
import sys

import pytest

from tests.servers import RegistryServer

# Each test starts its own server processes.
pytestmark = pytest.mark.servers

ROOT = os.path.join(os.path.dirname(__file__), "..")
EXAMPLES_PER_OPERATION = int(os.environ.get("REGISTRY_FUZZ_EXAMPLES", "25"))


def _seed(server):
    base, http = server.base_url, server.http
    run_id = http.post(f"{base}/runs", json={"name": "fuzz"}, timeout=10).json()["run_id"]
    for path, data in {"w.bin": b"weights" * 100, "cfg/config.json": b"{}"}.items():
        assert http.put(f"{base}/runs/{run_id}/artifacts/{path}", data=data, timeout=10).status_code == 201
    for _ in range(3):
        http.post(f"{base}/models/Fuzz/versions", json={"source": f"runs:/{run_id}"}, timeout=10)
    for version, stage in [(1, "Staging"), (1, "Production"), (2, "Staging")]:
        http.post(f"{base}/models/Fuzz/versions/{version}/transitions", json={"stage": stage}, timeout=10)
    return run_id


def _config(tmp_path, run_id):
    with open(os.path.join(ROOT, "tests", "fuzz", "schemathesis.toml")) as f:
        static = f.read()
    known = f"""
[dictionaries.models]
values = ["Fuzz"]
[dictionaries.runs]
values = ["{run_id}"]
[dictionaries.files]
values = ["w.bin", "cfg/config.json"]
[dictionaries.refs]
values = ["1", "2", "3", "latest", "production", "Staging"]

[parameters]
"path.name" = {{ dictionary = "models", probability = 0.5 }}
"path.run_id" = {{ dictionary = "runs", probability = 0.5 }}
"path.path" = {{ dictionary = "files", probability = 0.5 }}
"path.ref" = {{ dictionary = "refs", probability = 0.5 }}
"""
    path = tmp_path / "schemathesis.toml"
    path.write_text(static + known)
    return str(path)


def test_schemathesis_finds_nothing(backend_env, tmp_path):
    server = RegistryServer(backend_env, workers=2, threads=8).start()
    try:
        config = _config(tmp_path, _seed(server))
        schemathesis = os.path.join(os.path.dirname(sys.executable), "schemathesis")
        result = subprocess.run(
            [schemathesis, "--config-file", config,
             "run", os.path.join(ROOT, "openapi.yaml"), "--url", server.base_url,
             "--header", f"Authorization: Bearer {server.token}",
             "--checks", "all", "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", "20261128",
             # The artifact-path pattern is strict; generating from it is slow, not wrong.
             "--suppress-health-check", "filter_too_much",
             "--generation-database", "none", "--no-color", "--request-timeout", "30"],
            capture_output=True, text=True, timeout=900, cwd=tmp_path,
        )
        output = result.stdout + result.stderr
        generated = re.search(r"(\d+) generated[^\n]*", output)
        print(f"\nschemathesis: {generated.group(0) if generated else 'no count'}; exit {result.returncode}")
        assert result.returncode == 0, output[-20000:]
        # The token survived the run (the fuzzer cannot revoke the token it uses).
        assert server.http.get(f"{server.base_url}/models", timeout=10).status_code == 200
    finally:
        server.stop()
