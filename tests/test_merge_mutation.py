"""The multiprocess text stays prometheus_client's while the files change between scrapes.

A worker's reader keeps its plan and each family's text between scrapes, rewriting only
the lines whose values changed (impl/metrics/multiprocess/kept.py). Here one reader
scrapes a directory again and again while values change in place, series and files
appear, and exited processes are folded; each of its scrapes must equal what
MultiProcessCollector makes of the same files (of a copy where the folded processes are
only marked dead, as in tests/test_merge_equivalence.py), and what a new reader makes of
the directory, which keeps nothing. A file that turns to garbage, or is cut short, costs
the kept reader what it costs a new one, and no more once it is mended.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.multiprocess import mark_process_dead

from impl.metrics.multiprocess.collectors import DirectoryCollector
from impl.metrics.multiprocess.faults import Faults
from impl.metrics.multiprocess.fold import fold_process
from tests.support.examples import examples
from tests.support.mpfiles import prometheus_client_text, writing_as
from tests.test_merge_equivalence import (
    Definition,
    Process,
    definitions,
    fresh_text,
    processes,
    served_text,
    write_processes,
)


def zero_sign_settled(text: bytes, defs: list[Definition]) -> bytes:
    """`text` with -0.0 written 0.0 in the families of min and max gauges. Between
    processes holding 0.0 and -0.0 (equal numbers), MultiProcessCollector keeps the one
    whose file name sorts first, an order the archive of folded processes does not keep:
    either sign may show there (README, deliberate differences). Every other line, and
    every other family, is compared byte for byte."""
    names = {
        f"m{index}_gauge".encode()
        for index, definition in enumerate(defs)
        if definition.kind == "gauge" and definition.mode.removeprefix("live") in ("min", "max")
    }
    lines = text.split(b"\n")
    for at, line in enumerate(lines):
        if line.endswith(b" -0.0") and line.split(b" ")[0].split(b"{")[0] in names:
            lines[at] = line[: -len(b"-0.0")] + b"0.0"
    return b"\n".join(lines)


def same_writes_new_amounts(process: Process, amounts: list[float]) -> Process:
    """The series `process` wrote, written again: only values change, no key appears."""
    writes = tuple(
        (index, values, amount)
        for (index, values, _), amount in zip(process.writes, amounts, strict=False)
    )
    return Process(process.pid, "live", writes)


# A step between two scrapes: more writes (new pids, new series, values changed in place),
# the same series with new values (-0.0 among them: its text differs from 0.0's), or
# one process folded (its files into the archive) where prometheus_client marks it dead.
steps = st.one_of(
    st.tuples(st.just("write"), st.integers(0, 3)),
    st.tuples(
        st.just("again"),
        st.lists(st.one_of(st.integers(-40, 40).map(lambda n: n / 4), st.just(-0.0)), max_size=6),
    ),
    st.tuples(st.just("fold"), st.integers(0, 3)),
)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    defs=st.lists(definitions, min_size=1, max_size=4),
    plan=st.lists(steps, min_size=1, max_size=5),
    data=st.data(),
)
def test_a_kept_reader_follows_every_change_between_scrapes(
    defs: list[Definition], plan: list[tuple[str, object]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory, unfolded = Path(tmp) / "dir", Path(tmp) / "unfolded"
        directory.mkdir()
        unfolded.mkdir()
        written: list[Process] = []
        folded: set[int] = set()

        def write(procs: list[Process]) -> None:
            procs = [p for p in procs if p.pid not in folded]  # a folded pid never returns
            for place in (directory, unfolded):
                write_processes(place, defs, procs)
            written.extend(procs)

        write(data.draw(processes(len(defs))))
        with contextlib.closing(DirectoryCollector(directory)) as collector:
            assert served_text(collector) == prometheus_client_text(unfolded)
            for kind, arg in plan:
                if kind == "write":
                    write(data.draw(processes(len(defs))))
                elif kind == "again" and written:
                    assert isinstance(arg, list)
                    write([same_writes_new_amounts(written[-1], arg)])
                elif kind == "fold" and written:
                    assert isinstance(arg, int)
                    pid = written[arg % len(written)].pid
                    if pid not in folded:
                        folded.add(pid)
                        fold_process(directory, pid)
                        mark_process_dead(pid, str(unfolded))  # type: ignore[no-untyped-call]
                text = served_text(collector)
                expected = prometheus_client_text(unfolded)
                assert zero_sign_settled(text, defs) == zero_sign_settled(expected, defs)
                assert text == fresh_text(directory)


def test_only_a_timestamp_changing_changes_a_mostrecent_gauge(tmp_path: Path) -> None:
    """Two processes set a `mostrecent` series to different values; the first sets its
    own value again, the same bits: only its timestamp changed, and now it is the latest."""

    def set_as(pid: int, value: float) -> None:
        with writing_as(tmp_path, pid):
            Gauge("g", "h", multiprocess_mode="mostrecent", registry=None).set(value)
        time.sleep(0.01)  # the next set's timestamp is later

    set_as(401, 1.5)
    set_as(402, 2.5)
    collector = DirectoryCollector(tmp_path)
    assert b"\ng 2.5\n" in served_text(collector)
    set_as(401, 1.5)
    text = served_text(collector)
    assert b"\ng 1.5\n" in text
    assert text == prometheus_client_text(tmp_path)


def test_a_timestamp_counts_in_a_file_of_another_mode(tmp_path: Path) -> None:
    """A family written as `max` by some processes and `mostrecent` by others takes the
    mode of the file read last (as there), and weighs the timestamps of every file that
    holds it: each set again to the same value, the text follows."""

    def set_as(pid: int, mode: str, value: float) -> None:
        with writing_as(tmp_path, pid):
            Gauge("g", "h", multiprocess_mode=mode, registry=None).set(value)  # type: ignore[arg-type]
        time.sleep(0.01)

    modes = {410: "max", 411: "mostrecent", 412: "max", 413: "mostrecent"}
    for pid, mode in modes.items():
        set_as(pid, mode, pid / 4)
    with contextlib.closing(DirectoryCollector(tmp_path)) as collector:
        served_text(collector)
        for pid, mode in modes.items():
            set_as(pid, mode, pid / 4)  # the same bits: only the timestamp moves
            text = served_text(collector)
            assert text == fresh_text(tmp_path)
            assert text == prometheus_client_text(tmp_path)


def test_zero_turning_negative_and_nan_are_written(tmp_path: Path) -> None:
    """0.0 and -0.0 are equal as floats and written differently; NaN equals nothing."""
    with writing_as(tmp_path, 500):
        gauge = Gauge("g", "h", multiprocess_mode="max", registry=None)
        collector = DirectoryCollector(tmp_path)
        shown = []
        for value in (0.0, -0.0, -0.0, math.nan, math.nan, 0.0):
            gauge.set(value)
            text = served_text(collector)
            assert text == fresh_text(tmp_path)
            shown.append(text.rsplit(b" ", 1)[1])
    assert shown == [b"0.0\n", b"-0.0\n", b"-0.0\n", b"NaN\n", b"NaN\n", b"0.0\n"]


def test_a_histogram_bucket_changing_rewrites_the_buckets_above_it(tmp_path: Path) -> None:
    with writing_as(tmp_path, 600):
        histogram = Histogram("h", "h", ["a"], buckets=(1.0, 2.0, 3.0), registry=None)
        counter = Counter("c", "h", registry=None)
        collector = DirectoryCollector(tmp_path)
        for observed in (2.5, 0.5, 1.5, 9.0, 0.5):
            histogram.labels("x").observe(observed)
            histogram.labels("y").observe(observed * 2)
            counter.inc()
            assert served_text(collector) == prometheus_client_text(tmp_path)


def test_a_damaged_file_costs_a_kept_reader_what_it_costs_a_new_one(tmp_path: Path) -> None:
    """Cut short, then garbage, then mended (its bytes as they were): each time the kept
    reader's text is a new reader's, and the faults say so."""
    with writing_as(tmp_path, 700):
        Counter("c", "h", ["a"], registry=None).labels("x").inc(3)
        Histogram("h", "h", registry=None).observe(0.2)
    with writing_as(tmp_path, 701):
        Counter("c", "h", ["a"], registry=None).labels("x").inc(4)
    faults = Faults()
    collector = DirectoryCollector(tmp_path, faults=faults)
    whole = served_text(collector)
    assert whole == prometheus_client_text(tmp_path)
    victim = tmp_path / "counter_700.db"
    original = victim.read_bytes()
    used = int.from_bytes(original[:4], "little")
    for damaged in (original[: used - 8], b"\x07" * len(original)):
        fd = os.open(victim, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, damaged)  # in place: the same inode, held by the reader
        finally:
            os.close(fd)
        text = served_text(collector)
        assert text == fresh_text(tmp_path)
        assert b'c_total{a="x"} 4.0' in text
        assert any(fault.startswith(victim.name) for fault in faults.held())
    victim.write_bytes(original)
    assert served_text(collector) == whole


def test_a_closed_reader_holds_no_file(tmp_path: Path) -> None:
    """The fresh readers above are closed: each holds every file (and the archive) open."""
    for pid in (800, 801):
        with writing_as(tmp_path, pid):
            Counter("c", "h", registry=None).inc()
    fold_process(tmp_path, 801)
    before = len(os.listdir("/proc/self/fd"))
    collector = DirectoryCollector(tmp_path)
    text = served_text(collector)
    assert len(os.listdir("/proc/self/fd")) == before + 2  # the file and the archive
    collector.close()
    assert len(os.listdir("/proc/self/fd")) == before
    assert b"c_total 2.0" in text
