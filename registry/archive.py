"""A version's files as one streamed tar, with its exact length known up front.

Known length means a Content-Length header, so a deployment job's curl can
tell a truncated download from a complete one.
"""
import tarfile

BLOCK = 512
_END_OF_ARCHIVE = b"\0" * (2 * BLOCK)


def _header(path, size, mtime):
    info = tarfile.TarInfo(name=path)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    # PAX carries long and non-ASCII paths without truncation.
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8")


def _padding(size):
    return b"\0" * (-size % BLOCK)


def plan(files, mtime):
    """Return [(header bytes, file)] and the archive's total length in bytes."""
    entries = [(_header(f.path, f.size, mtime), f) for f in files]
    length = sum(len(header) + f.size + len(_padding(f.size)) for header, f in entries)
    return entries, length + len(_END_OF_ARCHIVE)


def stream(storage, entries, keys):
    """Yield the tar's bytes, reading each blob from storage (``keys`` by digest) as it is reached."""
    for header, f in entries:
        yield header
        yield from storage.open(keys[f.sha256])
        pad = _padding(f.size)
        if pad:
            yield pad
    yield _END_OF_ARCHIVE
