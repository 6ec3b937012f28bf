"""The README's shell examples, run as written against a real `registry serve`.

Every ```sh block of README.md is either run here, in README order and in one
shell (so variables carry over, as for a reader pasting them), or named in
NOT_RUN with the reason. The only rewrite is the port: the server listens on
a free one instead of 5000.
"""
import io
import json
import os
import re
import subprocess
import sys
import tarfile

import pytest

from registry.api.errors import STATUS as ERROR_CODES
from tests.servers import RegistryServer

pytestmark = pytest.mark.servers

README = os.path.join(os.path.dirname(__file__), "..", "README.md")
RUN = ("First calls", "Tokens and roles", "Worked examples: training, CI, deployment", "MLflow clients",
       "Garbage collection")
NOT_RUN = {
    "(first screen)": "scripts/serve and scripts/test: CI runs scripts/test itself, and this test starts the server",
    "Running with PostgreSQL and MinIO": "needs Docker or root's PostgreSQL accounts; tests/servers.py starts the "
                                         "same servers for every postgres-minio test",
}


def shell_blocks():
    """[(section, code)] for every ```sh block; section is the nearest ## heading above it."""
    with open(README) as f:
        text = f.read()
    section, blocks = "(first screen)", []
    for match in re.finditer(r"^## ([^\n]+)$|^```sh\n(.*?)^```", text, re.M | re.S):
        if match.group(1):
            section = match.group(1).strip()
        else:
            blocks.append((section, match.group(2)))
    return blocks


def test_every_shell_block_is_run_or_excused():
    sections = {section for section, _ in shell_blocks()}
    assert sections == set(RUN) | set(NOT_RUN)


@pytest.fixture
def workdir(tmp_path):
    # The examples call .venv/bin/registry from where the service was started.
    os.symlink(os.path.dirname(os.path.dirname(sys.executable)), tmp_path / ".venv")
    return tmp_path


def test_the_worked_examples_run_as_written(workdir):
    server = RegistryServer.on_embedded_default(str(workdir)).start()
    try:
        script = "\n".join(code for section, code in shell_blocks() if section in RUN)
        # The resume example, run again on the complete file, must leave it as it is.
        resume = next(code for _, code in shell_blocks() if " -C - " in code)
        script += "\n" + resume[resume.index("URL="):]
        script = script.replace("localhost:5000", f"localhost:{server.port}")
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=workdir, env=server.env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        _check_what_the_examples_did(server, workdir)
    finally:
        server.stop()


def _check_what_the_examples_did(server, workdir):
    weights = (workdir / "weights.bin").read_bytes()
    assert len(weights) == 1024 * 1024
    assert (workdir / "deploy" / "weights.bin").read_bytes() == weights
    with tarfile.open(fileobj=io.BytesIO((workdir / "model.tar").read_bytes())) as tar:
        assert sorted(tar.getnames()) == ["config.json", "weights.bin"]
        assert tar.extractfile("weights.bin").read() == weights
        assert tar.extractfile("config.json").read() == b'{"labels": 2}\n'
    base, http = server.base_url, server.http
    version = http.get(f"{base}/models/TextClassifier/versions/1", timeout=10).json()
    second = http.get(f"{base}/models/TextClassifier/versions/production", timeout=10).json()
    assert (version["stage"], second["version"], second["stage"]) == ("Archived", 2, "Production")
    history = http.get(f"{base}/models/TextClassifier/history", timeout=10).json()["transitions"]
    assert [(t["version"], t["to_stage"], t["actor"], t["comment"], t["cause"]) for t in history] == [
        (1, "None", "ci", f"registered from {version['source']}", None),
        (1, "Staging", "ci", "ci #41", None),
        (1, "Production", "release", "eval passed", None),
        (2, "None", "ci", f"registered from {second['source']}", None),  # the client CLI from here on
        (2, "Staging", "ci", "ci #42", None),
        (1, "Archived", "release", "eval passed", "replaced by version 2"),
        (2, "Production", "release", "eval passed", None),
    ]
    assert (workdir / "deploy-cli" / "weights.bin").read_bytes() == weights
    assert json.loads((workdir / "deploy-cli" / ".registry-manifest.json").read_text())["version"] == 2
    run = http.get(f"{base}/runs/{version['run_id']}", timeout=10).json()
    assert (run["experiment"], run["status"], run["params"]) == ("spam", "FINISHED", {"lr": "3e-5"})
    assert version["lineage"]["metrics"] == {"val_accuracy": 0.94}
    quickstart = http.get(f"{base}/runs?experiment=quickstart", timeout=10).json()["runs"]
    assert [(r["name"], r["created_by"], r["status"], r["metrics"]["acc"]["value"]) for r in quickstart] == [
        ("first", "ci", "FINISHED", 0.9)]
    tokens = {t["name"]: t for t in http.get(f"{base}/tokens", timeout=10).json()["tokens"]}
    assert tokens["ci"]["models"] == ["TextClassifier"] and tokens["ci"]["expires_at"] is not None
    assert tokens["scratch"]["models"] == ["Text*", "Img?"] and tokens["scratch"]["revoked_at"] is not None
    assert http.get(f"{base}/audit/verify", timeout=10).json()["ok"] is True


def test_the_readme_lists_every_error_code():
    with open(README) as f:
        text = f.read()
    api = " ".join(text[text.index("Every error is"):text.index("## Storage design")].split())
    listed = dict(re.findall(r"`([a-z_]+)` (?:/ `[a-z_]+` )*(\d{3})", api))
    # "a / b / c 409" lists several codes before one status.
    for group in re.findall(r"((?:`[a-z_]+` / )+`[a-z_]+`) (\d{3})", api):
        for code in re.findall(r"`([a-z_]+)`", group[0]):
            listed[code] = group[1]
    assert {code: int(status) for code, status in listed.items()} == ERROR_CODES


def test_every_claim_names_a_real_test():
    with open(os.path.join(os.path.dirname(__file__), "README_CLAIMS.md")) as f:
        named = re.findall(r"`(tests/test_\w+\.py)::(test_\w+)`", f.read())
    assert len(named) >= 60
    root = os.path.join(os.path.dirname(__file__), "..")
    missing = []
    for path, name in named:
        with open(os.path.join(root, path)) as f:
            if not re.search(rf"^def {name}\(", f.read(), re.M):
                missing.append(f"{path}::{name}")
    assert missing == []
