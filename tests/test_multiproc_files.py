"""Reading a worker's file (impl/metrics/multiprocess/files.py) in pieces: garbage is
refused at its first piece, whatever size its length field claims."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from impl.metrics.multiprocess.files import DamagedFile, HeldFile, KeyCache
from impl.upstream import prometheus as upstream
from tests.support.mpfiles import bytes_read

CLAIMED = 2_000_000_000  # a sparse file: nothing on disk, two gigabytes to a reader
MOST_READ = 1 << 20


def held(path: Path) -> HeldFile:
    opened = HeldFile.open(str(path.parent), path.name, path.stat().st_ino, KeyCache())
    assert opened is not None
    return opened


def key(n: int) -> bytes:
    return f'["m{n}", "m{n}_total", {{}}, "help"]'.encode()


def sparse_file(path: Path, used: int, head: bytes = b"") -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.ftruncate(fd, used)
        os.pwrite(fd, upstream.encode_used(used) + bytes(4) + head, 0)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "head",
    [
        b"",  # zeros: a key of no bytes
        upstream.encode_entry(key(0)),  # one good entry, then zeros
        (CLAIMED - 64).to_bytes(4, "little"),  # a key that fills the file
    ],
    ids=["zeros", "one-entry-then-zeros", "one-huge-key"],
)
def test_a_file_that_claims_gigabytes_of_garbage_is_refused_at_its_first_piece(
    tmp_path: Path, head: bytes
) -> None:
    path = tmp_path / "counter_999999.db"
    sparse_file(path, CLAIMED, head)
    handle = held(path)
    before = bytes_read()
    with pytest.raises(DamagedFile) as damaged:
        handle.refresh()
    assert bytes_read() - before < MOST_READ
    assert "not prometheus_client's format" in damaged.value.cause
    handle.close()


def test_a_file_read_in_many_pieces_decodes_every_key(tmp_path: Path) -> None:
    """Entries straddling the pieces' ends, as a real file's do."""
    entries = b"".join(upstream.encode_entry(key(n)) for n in range(5000))
    used = upstream.HEADER_BYTES + len(entries)
    path = tmp_path / "counter_1.db"
    path.write_bytes(upstream.encode_used(used) + bytes(4) + entries + bytes(4096))
    handle = held(path)
    assert handle.refresh() is True
    assert [k.metric for k in handle.keys] == [f"m{n}" for n in range(5000)]
    assert handle.values() == (0.0,) * 5000
    assert handle.refresh() is False  # nothing new: nothing parsed again
    handle.close()
