"""Real PostgreSQL, MinIO and registry (gunicorn) processes for tests and benchmarks.

Nothing here is mocked: each class starts the real server on a free loopback
port in a throwaway directory. A server that cannot start raises, so a run
that needs it fails instead of silently skipping.
"""
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import requests

MINIO_USER = "registry-test"
MINIO_PASSWORD = "registry-test-secret"
PG_USER = "registry"
PG_PASSWORD = "registry-test-pw"
MINIO_CANDIDATES = (
    os.environ.get("REGISTRY_MINIO_BIN", ""),
    shutil.which("minio") or "",
    *sorted(glob.glob(os.path.expanduser("~/.cache/registry-ci/minio-*/minio")), reverse=True),
)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def freeze(pids):
    """SIGSTOP ``pids`` and return once every thread of each has stopped.

    kill() returns before a running thread of the target has stopped, and such
    a thread can still answer a request sent just after (seen with MinIO).
    """
    _signal(pids, signal.SIGSTOP)
    wait_until(lambda: all(_stopped(pid) for pid in pids), 10, f"processes {pids} to stop")


def _stopped(pid):
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        states = []
        for task in tasks:
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return True  # gone (or a thread that just exited)
    return all(state in ("T", "t", "Z", "X") for state in states)


def thaw(pids):
    _signal(pids, signal.SIGCONT)


def _signal(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:  # a backend whose client went away has exited
            pass


def wait_until(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready within {timeout}s")


def _world_readable_tempdir(prefix):
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    return path


class PostgresServer:
    """A throwaway PostgreSQL cluster (Debian's postgresql package)."""

    def __init__(self):
        self.base = _world_readable_tempdir("registry-pg-")
        self.data = os.path.join(self.base, "data")
        self.port = free_port()
        self.bindir = self._bindir()
        self._as_postgres = os.geteuid() == 0

    @staticmethod
    def _bindir():
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
        found = shutil.which("initdb")
        if found:
            candidates.insert(0, found)
        if not candidates:
            raise RuntimeError("PostgreSQL is not installed: run scripts/install-deps (apt-get install postgresql)")
        return os.path.dirname(os.path.realpath(candidates[0]))

    def _run(self, *args):
        command = [os.path.join(self.bindir, args[0]), *args[1:]]
        if self._as_postgres:  # initdb refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self):
        if not os.path.exists(self.data):
            pwfile = os.path.join(self.base, "pw")
            with open(pwfile, "w") as f:
                f.write(PG_PASSWORD)
            if self._as_postgres:
                user = pwd.getpwnam("postgres")
                os.chown(self.base, user.pw_uid, user.pw_gid)
                os.chown(pwfile, user.pw_uid, user.pw_gid)
            self._run("initdb", "-D", self.data, "-U", PG_USER, f"--pwfile={pwfile}",
                      "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8")
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", os.path.join(self.base, "log"), "-w", "start")
        return self

    def stop(self):
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def pids(self):
        """The postmaster and every backend: what SIGSTOP must reach to freeze the server."""
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            postmaster = int(f.readline())
        with open(f"/proc/{postmaster}/task/{postmaster}/children") as f:
            return [postmaster, *(int(pid) for pid in f.read().split())]

    def destroy(self):
        try:
            self.stop()
        except subprocess.SubprocessError:
            pass
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, dbname="postgres"):
        return f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self):
        import psycopg2

        name = "t_" + uuid.uuid4().hex[:16]
        conn = psycopg2.connect(self.url())
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        conn.close()
        return name

    def drop_database(self, name):
        import psycopg2

        conn = psycopg2.connect(self.url())
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.close()


class MinioServer:
    """A MinIO server built from source (see scripts/install-deps)."""

    def __init__(self, certs_dir=None):
        self.binary = next((c for c in MINIO_CANDIDATES if c and os.access(c, os.X_OK)), None)
        if self.binary is None:
            raise RuntimeError("MinIO is not built: run scripts/install-deps (or set REGISTRY_MINIO_BIN)")
        self.base = tempfile.mkdtemp(prefix="registry-minio-")
        self.port = free_port()
        self.process = None
        self.certs_dir = certs_dir  # public.crt + private.key: serve TLS

    def start(self):
        env = dict(os.environ, MINIO_ROOT_USER=MINIO_USER, MINIO_ROOT_PASSWORD=MINIO_PASSWORD,
                   MINIO_BROWSER="off", MINIO_UPDATE="off")
        log = open(os.path.join(self.base, "log"), "ab")
        self.process = subprocess.Popen(
            [self.binary, "server", os.path.join(self.base, "data"), "--quiet",
             "--address", f"127.0.0.1:{self.port}", "--console-address", f"127.0.0.1:{free_port()}",
             *(["--certs-dir", self.certs_dir] if self.certs_dir else [])],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        scheme = "https" if self.certs_dir else "http"
        health = f"{scheme}://127.0.0.1:{self.port}/minio/health/ready"
        verify = os.path.join(self.certs_dir, "public.crt") if self.certs_dir else True
        wait_until(lambda: requests.get(health, timeout=1, verify=verify).status_code == 200, 60, "MinIO")
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, bucket=None, scheme="minio"):
        bucket = bucket or "t-" + uuid.uuid4().hex[:20]
        return f"{scheme}://{MINIO_USER}:{MINIO_PASSWORD}@127.0.0.1:{self.port}/{bucket}"


class RegistryServer:
    """``registry serve`` (gunicorn, threaded workers) as a separate process."""

    def __init__(self, env, workers=2, threads=8, cwd=None):
        self.cwd = cwd
        self.port = free_port()
        self.env = dict(os.environ, **env)
        self.workers = workers
        self.threads = threads
        self.process = None
        self.base_url = f"http://127.0.0.1:{self.port}"

    @classmethod
    def on_embedded_default(cls, cwd, workers=2, threads=4):
        """A server configured by nothing but its working directory (SQLite + ./registry-data)."""
        server = cls(env={}, workers=workers, threads=threads, cwd=cwd)
        server.env = without_registry_settings()
        return server

    def start(self):
        self.log = tempfile.NamedTemporaryFile(prefix="registry-serve-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            self.command(),
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.cwd,
        )
        wait_until(self._ready, 60, "registry serve")
        data_dir = self.env.get("REGISTRY_DATA_DIR") or os.path.join(self.cwd or os.getcwd(), "registry-data")
        with open(os.path.join(data_dir, "admin.token")) as f:
            self.token = f.read().strip()
        # An HTTP session authenticated with the first-start admin token.
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {self.token}"
        return self

    def command(self):
        return [sys.executable, "-m", "registry.cli", "serve", "--port", str(self.port),
                "--workers", str(self.workers), "--threads", str(self.threads)]

    def _ready(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"registry serve exited: {self.output()}")
        return requests.get(self.base_url + "/healthz", timeout=1).status_code == 200

    def output(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def worker_pids(self):
        with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as f:
            return [int(pid) for pid in f.read().split()]

    def stop(self):
        if getattr(self, "_stopped", False):
            return
        self._stopped = True
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
        os.unlink(self.log.name)
        if getattr(self, "http", None) is not None:
            self.http.close()


def leftover_uploads(storage_url):
    """Upload keys left in storage, and on MinIO its unfinished multipart uploads too."""
    from registry.storage import storage_from_url

    storage = storage_from_url(storage_url)
    leftovers = storage.upload_keys()
    if hasattr(storage, "client"):
        listed = storage.client._list_multipart_uploads(bucket_name=storage.bucket)  # MinIO: no prefix filter
        leftovers += [f"multipart:{upload.object_name}" for upload in listed.uploads]
    return leftovers


def without_registry_settings():
    """This process's environment minus every REGISTRY_* variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


def _proc_status_bytes(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for process {pid}")


def peak_rss_bytes(pid):
    """VmHWM: the highest resident set size the process has had (since clear_refs)."""
    return _proc_status_bytes(pid, "VmHWM")


def current_rss_bytes(pid):
    return _proc_status_bytes(pid, "VmRSS")


def reset_peak_rss(pids):
    """Reset each process's peak RSS to its current RSS; return {pid: that RSS}."""
    baseline = {}
    for pid in pids:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        baseline[pid] = current_rss_bytes(pid)
    return baseline


def peak_rss_growth(baseline):
    """{pid: how far its RSS rose above the baseline at its peak since reset_peak_rss}."""
    return {pid: peak_rss_bytes(pid) - rss for pid, rss in baseline.items()}
