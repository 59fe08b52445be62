"""Folding an exited worker: every interleaving of a scrape with a fold counts it once.

impl/metrics/multiprocess/fold.py writes the argument down; here each step of a scrape (R1 the
archive, R2 the listing, R3 the archive again) is placed before, between and after
each step of a fold (live gauges, W2, W3, W4), in every order that can happen, with
and without handles kept from an earlier scrape, and the total must be exact.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge

from impl.metrics.encoding import encode_text
from impl.metrics.multiprocess.collectors import DirectoryCollector
from impl.metrics.multiprocess.directory import ARCHIVE_NAME, ARCHIVE_TEMPORARY
from impl.metrics.multiprocess.files import DamagedFile, HeldFile
from impl.metrics.multiprocess.fold import (
    MAX_ARCHIVE_BYTES,
    Folder,
    fold_process,
    fold_steps,
    load_archive,
)
from impl.metrics.multiprocess.snapshot import DirectoryReader
from tests.support.mpfiles import bytes_read, writing_as

EARLIER, DEAD, LIVE = 400, 500, 600
COUNTS = {EARLIER: 100.0, DEAD: 40.0, LIVE: 2.0}
STEPS = ("live gauges", "W2", "W3", "W4")


def write(directory: Path, pid: int, count: float) -> None:
    with writing_as(directory, pid):
        Counter("requests", "r", registry=None).inc(count)
        Gauge("inflight", "i", multiprocess_mode="livesum", registry=None).set(1)


def total(collector: DirectoryCollector, name: str = "requests_total") -> float:
    registry = CollectorRegistry()
    registry.register(collector)
    for line in encode_text(registry).decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """An archive holding an earlier worker, a dead worker's files, a live worker's."""
    for pid, count in COUNTS.items():
        write(tmp_path, pid, count)
    fold_process(tmp_path, EARLIER)
    return tmp_path


class SteppedReader(DirectoryReader):
    """A reader that runs `act(point)` just before its R2 and just before its R3."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.act: Callable[[str], None] = lambda point: None

    def _hold_files(self) -> list[HeldFile]:
        self.act("before R2")
        held = super()._hold_files()
        self.act("before R3")
        return held


def count(reader: DirectoryReader, family: str = "requests") -> float | None:
    snapshot = reader.read()
    [planned] = [f for f in snapshot.plan.families if f.name == family]
    [value] = planned.values(snapshot.values, snapshot.stamps)
    return value


def placements() -> Iterator[tuple[int, int, int]]:
    """How many fold steps are done before R1, before R2, before R3."""
    yield from itertools.combinations_with_replacement(range(len(STEPS) + 1), 3)


@pytest.mark.parametrize("warm", [False, True], ids=["fresh-reader", "kept-handles"])
@pytest.mark.parametrize("placement", list(placements()), ids=str)
def test_a_scrape_during_a_fold_counts_the_dead_worker_once(
    directory: Path, placement: tuple[int, int, int], warm: bool
) -> None:
    expected = sum(COUNTS.values())
    reader = SteppedReader(directory)
    if warm:  # handles on the dead worker's files, kept from an earlier scrape
        assert count(reader) == expected
    steps = fold_steps(directory, DEAD)
    done: list[str] = []

    def advance(to: int) -> None:
        while len(done) < to:
            done.append(next(steps))

    before_r1, before_r2, before_r3 = placement
    advance(before_r1)
    reader.act = lambda point: advance(before_r2 if point == "before R2" else before_r3)
    assert count(reader) == expected, done
    reader.act = lambda point: None
    advance(len(STEPS))
    assert done == list(STEPS)
    assert count(reader) == expected  # after the fold, with the same reader
    assert count(DirectoryReader(directory)) == expected


def test_a_fold_leaves_the_archive_and_the_live_files(directory: Path) -> None:
    fold_process(directory, DEAD)
    names = sorted(p.name for p in directory.iterdir())
    assert names == sorted([ARCHIVE_NAME, f"counter_{LIVE}.db", f"gauge_livesum_{LIVE}.db"])
    archive = load_archive(directory)
    assert archive.pending == frozenset()
    assert total(DirectoryCollector(directory)) == sum(COUNTS.values())
    # The dead worker's live gauge is gone, not archived; the live one's stays.
    assert total(DirectoryCollector(directory), "inflight") == 1.0


def test_a_file_that_cannot_be_unlinked_stays_pending(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left in place, the folded file must stay excluded: pending keeps it after W4,
    and the next fold removes it."""
    real_unlink = os.unlink
    dead_file = f"counter_{DEAD}.db"

    def failing_unlink(path: object, *args: object, **kwargs: object) -> None:
        if str(path).endswith(dead_file):
            raise PermissionError(1, "Operation not permitted")
        real_unlink(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "unlink", failing_unlink)
    fold_process(directory, DEAD)
    assert (directory / dead_file).exists()
    assert {name for name, _ in load_archive(directory).pending} == {dead_file}
    assert total(DirectoryCollector(directory)) == sum(COUNTS.values())
    monkeypatch.setattr(os, "unlink", real_unlink)
    write(directory, 700, 5)
    fold_process(directory, 700)
    assert not (directory / dead_file).exists()
    assert load_archive(directory).pending == frozenset()
    assert total(DirectoryCollector(directory)) == sum(COUNTS.values()) + 5


def test_a_held_archive_keeps_its_inode_from_later_versions(directory: Path) -> None:
    """Readers tell archive versions apart by inode, holding the one they read open:
    a freed inode may be given to the very next file (file systems reuse them at
    once), a held one cannot. The temporary version is never left behind."""
    fold_process(directory, DEAD)
    assert not (directory / ARCHIVE_TEMPORARY).exists()
    held = os.open(directory / ARCHIVE_NAME, os.O_RDONLY)
    try:
        before = os.fstat(held).st_ino
        for pid in range(701, 706):
            write(directory, pid, 1)
            fold_process(directory, pid)
            assert (directory / ARCHIVE_NAME).stat().st_ino != before
    finally:
        os.close(held)


@pytest.mark.parametrize("damage", ["unlinked", "overwritten"])
def test_the_arbiter_publishes_anew_an_archive_someone_else_damaged(
    directory: Path, damage: str
) -> None:
    """The arbiter keeps the archive it published in memory: one removed or overwritten
    under it is published anew at its next upkeep, the fault written into it for every
    reader to show. Meanwhile a reader leaves it out (a reader that holds the version
    overwritten in place keeps counting from what it read), and says so."""
    folder = Folder.load(directory)
    folder.fold(DEAD)
    earlier = DirectoryReader(directory)
    assert count(earlier) == sum(COUNTS.values())
    if damage == "unlinked":
        (directory / ARCHIVE_NAME).unlink()
        witness = earlier
    else:
        (directory / ARCHIVE_NAME).write_text('{"format": 2, "entries": [["x"]]}', "utf-8")
        witness = DirectoryReader(directory)
    assert count(witness) == COUNTS[LIVE]  # the archived counts missing, nothing else
    assert [fault.split(":")[0] for fault in witness.faults.held()] == [ARCHIVE_NAME]
    folder.upkeep()
    fresh = DirectoryReader(directory)
    assert count(fresh) == count(earlier) == count(witness) == sum(COUNTS.values())
    assert fresh.faults.held() == [f"{ARCHIVE_NAME}: {damage}; published anew"]
    folder.upkeep()  # as published: left alone
    assert len(load_archive(directory).faults) == 1


@pytest.mark.parametrize(
    "claimed", [2_000_000_000, MAX_ARCHIVE_BYTES + 1], ids=["2GB", "just-over"]
)
def test_an_archive_larger_than_any_written_is_refused_unread(
    directory: Path, claimed: int
) -> None:
    """Whoever can write into the directory can put a file claiming gigabytes under the
    archive's name: every worker would read it whole. It is refused from its size (or
    at MAX_ARCHIVE_BYTES if it grew meanwhile), said, and published anew. A sparse file:
    nothing on disk, its size to a reader."""
    folder = Folder.load(directory)
    folder.fold(DEAD)
    path = directory / ARCHIVE_NAME
    path.unlink()
    with path.open("wb") as planted:
        planted.truncate(claimed)
    before = bytes_read()
    reader = DirectoryReader(directory)
    assert count(reader) == COUNTS[LIVE]  # the archived counts missing, nothing else
    assert bytes_read() - before < 1 << 20
    [fault] = reader.faults.held()
    assert fault.startswith(f"{ARCHIVE_NAME}: ") and "larger than any archive written" in fault
    with pytest.raises(DamagedFile):
        load_archive(directory)
    folder.upkeep()
    assert count(DirectoryReader(directory)) == sum(COUNTS.values())
