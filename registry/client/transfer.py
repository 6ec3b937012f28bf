"""The pipeline steps: push a directory as a run's files, pull a version into a directory.

Both stream (a file is never held whole), run files in parallel, and resume:
push skips files already stored with the same sha256, pull continues a
``.part`` file with a Range request. Pull checks every file's sha256 against
the version's manifest and fails on a mismatch.
"""
import concurrent.futures
import hashlib
import json
import os
import posixpath
import sys

from tqdm import tqdm

from .api import Client
from .errors import Corrupt
from .errors import Refused

MANIFEST = ".registry-manifest.json"
CHUNK = 1024 * 1024


def _bar(total: int, label: str, quiet: bool):
    # Progress on a terminal; nothing in CI logs.
    hidden = quiet or not sys.stderr.isatty() or bool(os.environ.get("CI"))
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, disable=hidden,
                file=sys.stderr, leave=False)


def sha256_of(path: str, limit: int | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        remaining = limit
        while remaining is None or remaining > 0:
            chunk = f.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not chunk:
                break
            digest.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
    return digest.hexdigest()


class _Counting:
    """A file that reports what was read to a progress bar (requests streams it as the body)."""

    def __init__(self, f, bar):
        self.f, self.bar = f, bar

    def read(self, size=-1):
        chunk = self.f.read(size)
        self.bar.update(len(chunk))
        return chunk

    def tell(self):
        return self.f.tell()

    def seek(self, offset, whence=0):
        return self.f.seek(offset, whence)


def push(client: Client, directory: str, run_id: str | None = None, experiment: str | None = None,
         name: str | None = None, workers: int = 4, quiet: bool = False) -> tuple[str, int, int]:
    """Upload every file under ``directory``; return (run id, files uploaded, files already there)."""
    if not os.path.isdir(directory):
        raise Refused("validation_error", f"{directory} is not a directory.")
    run_id = run_id or client.create_run(name=name, experiment=experiment)["run_id"]
    stored = {f["path"]: f["sha256"] for f in client.run_files(run_id)["files"]}
    local = []
    for root, _, names in os.walk(directory):
        for filename in sorted(names):
            full = os.path.join(root, filename)
            local.append((os.path.relpath(full, directory).replace(os.sep, "/"), full))
    todo = [(path, full) for path, full in sorted(local) if stored.get(path) != sha256_of(full)]
    with _bar(sum(os.path.getsize(full) for _, full in todo), "push", quiet) as bar:
        def upload(item):
            path, full = item
            with open(full, "rb") as f:
                client.upload(run_id, path, _Counting(f, bar), os.path.getsize(full))

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(upload, todo))
    return run_id, len(todo), len(local) - len(todo)


def _target(directory, path):
    # The server validates paths; a client still never writes outside the directory.
    if path.startswith("/") or ".." in path.split("/") or "\\" in path:
        raise Corrupt("unsafe_path", f"The manifest names {path!r}, which is not a safe relative path.")
    return os.path.join(directory, *path.split("/"))


def read_manifest(directory: str) -> dict | None:
    try:
        with open(os.path.join(directory, MANIFEST)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def pull(client: Client, name: str, ref: str, directory: str, if_changed: bool = False, workers: int = 4,
         quiet: bool = False) -> tuple[dict, bool]:
    """Fetch version ``ref`` of ``name`` into ``directory``; return (the version, whether anything was fetched)."""
    version = client.get_version(name, ref)
    manifest = {"name": version["name"], "version": version["version"], "files": version["files"]}
    if if_changed and read_manifest(directory) == manifest:
        return version, False
    os.makedirs(directory, exist_ok=True)
    number = version["version"]  # the ref may move while we download; the files may not
    with _bar(sum(f["size"] for f in version["files"]), f"{name} v{number}", quiet) as bar:
        def fetch(entry):
            _fetch(client, name, number, entry, _target(directory, entry["path"]), bar)

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(fetch, version["files"]))
    temporary = os.path.join(directory, MANIFEST + ".part")
    with open(temporary, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    os.replace(temporary, os.path.join(directory, MANIFEST))
    return version, True


def _fetch(client, name, number, entry, target, bar):
    size, wanted = entry["size"], entry["sha256"]
    if os.path.isfile(target) and os.path.getsize(target) == size and sha256_of(target) == wanted:
        bar.update(size)
        return
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    partial = target + ".part"
    offset = os.path.getsize(partial) if os.path.isfile(partial) else 0
    if offset > size:
        offset = 0
    digest = hashlib.sha256()
    if offset:
        with open(partial, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    if offset < size:
        response = client.open_file(name, number, entry["path"], offset)
        try:
            if offset and response.status_code != 206:  # the server sent it all: start over
                offset, digest = 0, hashlib.sha256()
            bar.update(offset)
            with open(partial, "r+b" if offset else "wb") as f:
                f.seek(offset)
                f.truncate()
                for chunk in response.iter_content(CHUNK):
                    f.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        finally:
            response.close()
    else:
        bar.update(size)
    if digest.hexdigest() != wanted:
        os.remove(partial)
        raise Corrupt("digest_mismatch", f"{posixpath.basename(entry['path'])}: sha256 {digest.hexdigest()} does not "
                                         f"match the manifest's {wanted}; the partial file was removed.")
    os.replace(partial, target)
