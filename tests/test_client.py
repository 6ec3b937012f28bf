"""The client CLI and library against `registry serve` on both backends: the three callers' steps,
resume, corruption, a retried promote, exit codes, and memory on a large file."""
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import yaml

from registry.client import Client
from registry.client import Refused
from registry.client.api import ENDPOINTS
from registry.storage import storage_from_url
from tests.servers import RegistryServer
from tests.servers import free_port

ROOT = os.path.join(os.path.dirname(__file__), "..")
pytestmark = pytest.mark.servers


@pytest.fixture
def server(backend_env):
    s = RegistryServer(backend_env, workers=2, threads=8).start()
    s.backend_env = backend_env
    yield s
    s.stop()


def cli(server, *args, token=None, url=None, check=False):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(REGISTRY_URL=url or server.base_url, REGISTRY_TOKEN=token or server.token)
    result = subprocess.run([sys.executable, "-m", "registry.cli", *args], env=env, capture_output=True, text=True,
                            timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _tree(root, files):
    for path, data in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)


def test_the_three_callers_push_register_promote_pull_check(server, tmp_path):
    weights = os.urandom(3 * 1024 * 1024)
    _tree(tmp_path / "job", {"model/weights.bin": weights, "model/config.json": b"{}", "metrics.txt": b"acc 0.9"})
    pushed = cli(server, "push", str(tmp_path / "job"), "--experiment", "clf", "--name", "nightly", check=True)
    run_id = pushed.stdout.strip()
    assert len(run_id) == 32 and "3 file(s) uploaded, 0 already there" in pushed.stderr
    again = cli(server, "push", str(tmp_path / "job"), "--run", run_id, check=True)
    assert again.stdout.strip() == run_id and "0 file(s) uploaded, 3 already there" in again.stderr

    assert cli(server, "register", "TextClassifier", f"runs:/{run_id}/model", check=True).stdout == "1\n"
    gate = cli(server, "check", "TextClassifier", "1", "--stage", "Production")
    assert gate.returncode == 1 and "TextClassifier version 1 is in None, not Production" in gate.stderr
    cli(server, "promote", "TextClassifier", "1", "--to", "Staging", check=True)
    moved = cli(server, "promote", "TextClassifier", "1", "--to", "Production", "--comment", "ship", check=True)
    assert moved.stdout == "TextClassifier version 1: Staging -> Production\n"
    assert cli(server, "check", "TextClassifier", "production", "--stage", "Production").returncode == 0

    out = tmp_path / "deploy"
    pulled = cli(server, "pull", "TextClassifier@production", "-o", str(out), check=True)
    assert pulled.stdout == f"TextClassifier version 1 (Production): downloaded in {out}\n"
    assert (out / "weights.bin").read_bytes() == weights and (out / "config.json").read_bytes() == b"{}"
    manifest = json.loads((out / ".registry-manifest.json").read_text())
    assert manifest["version"] == 1 and {f["path"] for f in manifest["files"]} == {"weights.bin", "config.json"}
    # --if-changed: that version is there, so nothing is fetched (a damaged local copy stays as it is).
    (out / "config.json").write_bytes(b"[]")
    same = cli(server, "pull", "TextClassifier@production", "-o", str(out), "--if-changed", check=True)
    assert "unchanged" in same.stdout and (out / "config.json").read_bytes() == b"[]"
    cli(server, "pull", "TextClassifier@production", "-o", str(out), check=True)
    assert (out / "config.json").read_bytes() == b"{}"
    history = server.http.get(f"{server.base_url}/models/TextClassifier/history").json()["transitions"]
    assert [(h["to_stage"], h["comment"]) for h in history][-1] == ("Production", "ship")


def test_exit_codes(server, tmp_path):
    _tree(tmp_path / "job", {"model/w.bin": b"w"})
    run_id = cli(server, "push", str(tmp_path / "job"), check=True).stdout.strip()
    cli(server, "register", "M", f"runs:/{run_id}/model", check=True)
    refused = cli(server, "promote", "M", "1", "--to", "Production")
    assert refused.returncode == 3 and "invalid_transition: Cannot move a version from None to Production" in refused.stderr
    reader = server.http.post(f"{server.base_url}/tokens", json={"name": "r", "role": "reader"}).json()["token"]
    assert cli(server, "promote", "M", "1", "--to", "Staging", token=reader).returncode == 4
    assert cli(server, "pull", "Nope@production", "-o", str(tmp_path / "x")).returncode == 5
    assert cli(server, "pull", "no-ref", "-o", str(tmp_path / "x")).returncode == 2
    started = time.monotonic()
    down = cli(server, "check", "M", "1", "--stage", "None", url=f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 6 and "unreachable" in down.stderr and time.monotonic() - started < 30
    assert cli(server, "check", "M", "1", "--stage", "None").returncode == 0


def _flip_a_byte(server, digest):
    """Damage a stored blob in place, as a failing disk would."""
    env = server.backend_env
    storage = storage_from_url(env.get("REGISTRY_STORAGE_URL") or
                               "file://" + os.path.join(env["REGISTRY_DATA_DIR"], "blobs"))
    key, = [k for k in storage.blob_keys() if hashlib.sha256(b"".join(storage.open(k))).hexdigest() == digest]
    if not hasattr(storage, "client"):
        path = os.path.join(storage.root, *key.split("/"))
        with open(path, "r+b") as f:
            first = f.read(1)
            f.seek(0)
            f.write(bytes([first[0] ^ 0xFF]))
        return
    from io import BytesIO

    data = bytearray(b"".join(storage.open(key)))
    data[0] ^= 0xFF
    storage.client.put_object(storage.bucket, key, BytesIO(bytes(data)), len(data))


def test_a_corrupted_file_fails_the_pull(server, tmp_path):
    _tree(tmp_path / "job", {"model/w.bin": b"weights" * 1000})
    run_id = cli(server, "push", str(tmp_path / "job"), check=True).stdout.strip()
    cli(server, "register", "M", f"runs:/{run_id}/model", check=True)
    _flip_a_byte(server, hashlib.sha256(b"weights" * 1000).hexdigest())
    broken = cli(server, "pull", "M@1", "-o", str(tmp_path / "out"))
    assert broken.returncode == 7
    assert "digest_mismatch: w.bin: sha256" in broken.stderr and "does not match the manifest's" in broken.stderr
    assert not (tmp_path / "out" / "w.bin").exists() and not (tmp_path / "out" / "w.bin.part").exists()
    assert not (tmp_path / "out" / ".registry-manifest.json").exists()


def test_an_interrupted_pull_resumes_with_a_range_request(server, tmp_path):
    big = os.urandom(64 * 1024 * 1024)
    _tree(tmp_path / "job", {"model/big.bin": big})
    run_id = cli(server, "push", str(tmp_path / "job"), check=True).stdout.strip()
    cli(server, "register", "M", f"runs:/{run_id}/model", check=True)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(REGISTRY_URL=server.base_url, REGISTRY_TOKEN=server.token)
    # Slow reads keep the download going long enough to be cut mid-file.
    slow = ("import time, registry.client.transfer as t; t.CHUNK = 64 * 1024; "
            "real = t.hashlib.sha256\n"
            "class S:\n  def __init__(s): s.d = real()\n  def update(s, b): time.sleep(0.002); s.d.update(b)\n"
            "  def hexdigest(s): return s.d.hexdigest()\n"
            "t.hashlib = type('H', (), {'sha256': staticmethod(S)})\n"
            "from registry.cli import main; main()")
    first = subprocess.Popen([sys.executable, "-c", slow, "pull", "M@1", "-o", str(out), "--workers", "1"], env=env)
    partial = out / "big.bin.part"
    deadline = time.monotonic() + 60
    while not (partial.exists() and partial.stat().st_size > 4 * 1024 * 1024):
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    cut = partial.stat().st_size
    assert 0 < cut < len(big)
    cli(server, "pull", "M@1", "-o", str(out), check=True)
    assert (out / "big.bin").read_bytes() == big and not partial.exists()
    assert '"GET /models/M/versions/1/files/big.bin HTTP/1.1" 206' in server.output()


class _DroppingProxy:
    """Forwards to the server, but drops the answer to the first request containing ``marker``."""

    def __init__(self, upstream_port, marker):
        self.upstream_port, self.marker, self.dropped = upstream_port, marker.encode(), 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client):
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        state = {"drop": False}

        def forward():
            try:
                while data := client.recv(65536):
                    if self.marker in data and self.dropped == 0:
                        self.dropped, state["drop"] = 1, True
                    upstream.sendall(data)
                upstream.shutdown(socket.SHUT_WR)
            except OSError:  # the other direction closed both sockets
                pass

        threading.Thread(target=forward, daemon=True).start()
        try:
            while data := upstream.recv(65536):
                if state["drop"]:  # the server acted; the client never hears of it
                    break
                client.sendall(data)
        except OSError:
            pass
        for end in (client, upstream):  # shutdown wakes the other thread's recv; close alone does not
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()


def test_a_promote_retried_after_a_dropped_answer_acts_once(server, tmp_path):
    _tree(tmp_path / "job", {"model/w.bin": b"w"})
    run_id = cli(server, "push", str(tmp_path / "job"), check=True).stdout.strip()
    cli(server, "register", "M", f"runs:/{run_id}/model", check=True)
    proxy = _DroppingProxy(server.port, "/transitions")
    moved = cli(server, "promote", "M", "1", "--to", "Staging", "--comment", "once", url=f"http://127.0.0.1:{proxy.port}")
    assert moved.returncode == 0, moved.stderr
    assert proxy.dropped == 1
    history = server.http.get(f"{server.base_url}/models/M/history").json()["transitions"]
    assert [(h["from_stage"], h["to_stage"]) for h in history] == [(None, "None"), ("None", "Staging")]


def test_the_library_has_a_method_for_every_endpoint_and_raises_with_the_code(server):
    with open(os.path.join(ROOT, "openapi.yaml")) as f:
        documented = {(method.upper(), path) for path, ops in yaml.safe_load(f)["paths"].items() for method in ops
                      if method != "parameters"}
    assert set(ENDPOINTS) == documented
    client = Client(server.base_url, server.token)
    assert client.health()["status"] == "ok"
    with pytest.raises(Refused) as refused:
        client.transition("Nope", "1", "Sideways")
    assert refused.value.code == "validation_error" and refused.value.status == 400
    assert "registry_model_versions{stage=\"Production\"}" in client.metrics()
    report = client.collect_garbage(dry_run=True, grace_seconds=60)
    assert (report["dry_run"], report["grace_seconds"], report["bytes_freed"]) == (True, 60, 0)


def _peak_rss_mib(server, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(REGISTRY_URL=server.base_url, REGISTRY_TOKEN=server.token)
    wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024); sys.exit(r.returncode)")
    result = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "registry.cli", *args], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_push_and_pull_of_a_large_file_keep_memory_flat(server, tmp_path):
    job = tmp_path / "job" / "model"
    job.mkdir(parents=True)
    with open(job / "big.bin", "wb") as f:
        for _ in range(256):
            f.write(os.urandom(1024 * 1024))
    push_peak = _peak_rss_mib(server, "push", str(tmp_path / "job"), "--name", "big")
    run_id = server.http.get(f"{server.base_url}/runs").json()["runs"][0]["run_id"]
    server.http.post(f"{server.base_url}/models/Big/versions", json={"source": f"runs:/{run_id}/model"}).raise_for_status()
    pull_peak = _peak_rss_mib(server, "pull", "Big@1", "-o", str(tmp_path / "out"))
    assert (tmp_path / "out" / "big.bin").stat().st_size == 256 * 1024 * 1024
    assert push_peak < 100 and pull_peak < 100, (push_peak, pull_peak)
