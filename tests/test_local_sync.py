"""The local driver's writes reach the disk window by window, and the file is whole either way."""
import os

import pytest

from registry.storage import local

MiB = 1024 * 1024


class _Recorder:
    def __init__(self, real):
        self.real, self.calls = real, []

    def __call__(self, fd, offset, length, flags):
        self.calls.append((offset, length, flags))
        return self.real(fd, offset, length, flags)


def _write(path, sizes):
    data = [os.urandom(n) for n in sizes]
    with open(path, "wb") as f:
        writes = local._SyncedWrites(f)
        for chunk in data:
            writes.write([chunk])
        writes.finish()
    return b"".join(data)


def test_each_window_is_started_and_the_one_before_it_waited_for(tmp_path, monkeypatch):
    assert local._SyncedWrites._range is not None  # Linux with glibc: the path that runs in production
    recorder = _Recorder(local._SyncedWrites._range)
    monkeypatch.setattr(local._SyncedWrites, "_range", recorder)
    monkeypatch.setattr(local._SyncedWrites, "SYNC_BYTES", MiB)
    expected = _write(tmp_path / "blob", [MiB // 2] * 7)
    assert (tmp_path / "blob").read_bytes() == expected
    write, wait = local._WRITE, local._WAIT_BEFORE | local._WRITE | local._WAIT_AFTER
    # Never a length of 0, which would mean "to the end of the file".
    assert recorder.calls == [(0, MiB, write),
                              (MiB, MiB, write), (0, MiB, wait),
                              (2 * MiB, MiB, write), (MiB, MiB, wait)]


@pytest.mark.parametrize("sizes", [[], [1], [MiB, MiB, MiB, 5], [MiB - 1, 2, MiB, 7]])
def test_without_sync_file_range_every_window_is_fdatasynced_and_the_file_is_whole(tmp_path, monkeypatch, sizes):
    synced = []
    monkeypatch.setattr(local._SyncedWrites, "_range", None)
    monkeypatch.setattr(local._SyncedWrites, "SYNC_BYTES", MiB)
    real_fdatasync = os.fdatasync
    monkeypatch.setattr(local.os, "fdatasync", lambda fd: synced.append(fd) or real_fdatasync(fd))
    expected = _write(tmp_path / "blob", sizes)
    assert (tmp_path / "blob").read_bytes() == expected
    assert len(synced) == sum(sizes) // MiB


def test_chunks_handed_over_together_are_written_in_order(tmp_path):
    with open(tmp_path / "blob", "wb") as f:
        writes = local._SyncedWrites(f)
        writes.write([b"ab", b"", b"cde"])
        writes.write([b"f"])
        writes.finish()
    assert (tmp_path / "blob").read_bytes() == b"abcdef"
