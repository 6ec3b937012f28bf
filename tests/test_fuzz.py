"""Schemathesis against openapi.yaml and a real `registry serve`, on both backends.

Every response must be a non-5xx that conforms to the documented schema,
status codes, headers and content types; schema-violating input must be
refused. The server is seeded with a model, versions and files, and half of
the generated names, run ids and paths are drawn from them, so the fuzzer
reaches the code behind the 404s. The run is bounded (examples per
operation, fixed seed) so CI stays fast.
"""
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from registry.api.errors import STATUS as ERROR_CODES
from tests.fuzz import hostile
from tests.servers import RegistryServer
from tests.servers import leftover_uploads

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
    assert http.put(f"{base}/models/Fuzz/aliases/champion", json={"version": 1}, timeout=10).status_code == 200
    logged = http.post(f"{base}/runs/{run_id}/log", json={"metrics": [{"key": "acc", "value": 0.5}],
                                                          "params": [{"key": "lr", "value": "0.1"}]}, timeout=10)
    assert logged.status_code == 200
    hook = http.post(f"{base}/webhooks", json={"url": "https://hooks.example/fuzz", "events": ["alias.set"]}, timeout=10)
    assert hook.status_code == 201 and hook.json()["id"] == 1
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
values = ["1", "2", "3", "latest", "production", "Staging", "@champion"]
[dictionaries.aliases]
values = ["champion"]
[dictionaries.experiments]
values = ["Default"]
[dictionaries.metrics]
values = ["acc"]

[parameters]
"path.name" = {{ dictionary = "models", probability = 0.5 }}
"path.run_id" = {{ dictionary = "runs", probability = 0.5 }}
"path.path" = {{ dictionary = "files", probability = 0.5 }}
"path.ref" = {{ dictionary = "refs", probability = 0.5 }}
"path.alias" = {{ dictionary = "aliases", probability = 0.5 }}
"path.experiment_name" = {{ dictionary = "experiments", probability = 0.5 }}
"path.key" = {{ dictionary = "metrics", probability = 0.5 }}
"""
    path = tmp_path / "schemathesis.toml"
    path.write_text(static + known)
    return str(path)


def test_schemathesis_finds_nothing(backend_env, tmp_path):
    server = RegistryServer(backend_env, workers=2, threads=8).start()
    try:
        run_id = _seed(server)
        config = _config(tmp_path, run_id)
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
        _hostile_corpus(server, run_id)
    finally:
        server.stop()


def _json_operations(run_id):
    """(method, path) of every operation whose body is JSON, with the seeded names filled in."""
    with open(os.path.join(ROOT, "openapi.yaml")) as f:
        paths = yaml.safe_load(f)["paths"]
    values = {"name": "Fuzz", "ref": "3", "run_id": run_id, "alias": "champion", "experiment_name": "Default",
              "key": "acc", "webhook_id": "1", "delivery_id": "1"}
    for template, operations in sorted(paths.items()):
        for method, operation in sorted(operations.items()):
            if method in ("post", "put", "patch") and "application/json" in operation.get("requestBody", {}).get("content", {}):
                yield method.upper(), re.sub(r"{(\w+)}", lambda m: values[m.group(1)], template)


def _hostile_corpus(server, run_id):
    """Every hostile body against every operation with a body: a JSON 4xx (or a 2xx), never a 5xx."""
    cases = []
    for method, path in _json_operations(run_id):
        for name, body in hostile.JSON_BODIES.items():
            cases.append((f"{method} {path} json:{name}", method, path, hostile.length_framing(body), body,
                          b"application/json"))
        for name, body in hostile.CHUNKED_BODIES.items():
            cases.append((f"{method} {path} chunked:{name}", method, path, b"Transfer-Encoding: chunked\r\n",
                          body, b"application/json"))
    upload = f"/runs/{run_id}/artifacts/hostile.bin"
    for name, body in hostile.CHUNKED_BODIES.items():
        cases.append((f"PUT upload chunked:{name}", "PUT", upload, b"Transfer-Encoding: chunked\r\n", body,
                      b"application/octet-stream"))
    for name, framing in hostile.FRAMINGS.items():
        for method, path, ctype in (("POST", "/models", b"application/json"),
                                    ("PUT", upload, b"application/octet-stream")):
            cases.append((f"{method} {path} framing:{name}", method, path, framing, b"3\r\nabc\r\n0\r\n\r\n", ctype))
    failures = []
    for label, method, path, framing, body, ctype in cases:
        status, head, answer = hostile.send(server.port, method, path, server.token, framing, body, ctype)
        problem = _problem(status, head, answer)
        if problem:
            failures.append(f"{label}: {problem}")
    print(f"hostile corpus: {len(cases)} requests, {len(failures)} failures")
    assert failures == []
    assert server.http.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
    assert leftover_uploads(server.env.get("REGISTRY_STORAGE_URL") or
                            "file://" + os.path.join(server.env["REGISTRY_DATA_DIR"], "blobs")) == []


def _problem(status, head, answer):
    if status is None:
        return "no answer (connection dropped)"
    if status >= 500:
        return f"{status}: {answer[:300]!r}"
    if status >= 400:
        if "application/json" not in head:
            return f"{status} without a JSON body: {answer[:300]!r}"
        code = json.loads(answer)["error"]["code"]
        if ERROR_CODES.get(code) != status:
            return f"{status} with code {code!r}"
    return None
