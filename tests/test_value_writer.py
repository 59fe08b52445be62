"""The service's multiprocess values (impl/metrics/multiprocess/writer.py), in-process on
real files: prometheus_client's format byte for byte, counts kept in memory while they
cannot be stored, files damaged by someone else written anew."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import Counter, Gauge, Histogram, Summary

from impl.metrics.multiprocess.collectors import DirectoryLabelSets
from impl.metrics.multiprocess.faults import Faults
from impl.metrics.multiprocess.snapshot import DirectoryReader
from impl.metrics.multiprocess.writer import ValueWriter
from impl.upstream.prometheus import (
    HEADER_BYTES,
    decode_used,
    install_value_class,
    installed_value_class,
)
from tests.support.examples import examples
from tests.support.mpfiles import writing_as


@pytest.fixture
def restored_value_class() -> Iterator[None]:
    saved = installed_value_class()
    yield
    install_value_class(saved)


def record(kind: str, name: str, labels: tuple[str, ...], amounts: list[float]) -> None:
    """Create one metric of `kind` and record `amounts` into its child `labels`."""
    common: dict[str, Any] = {"labelnames": ["a"] if labels else [], "registry": None}
    metric: Any
    if kind == "counter":
        metric = Counter(name, "h", **common)
    elif kind == "histogram":
        metric = Histogram(name, "h", buckets=(0.5, 2.0), **common)
    elif kind == "summary":
        metric = Summary(name, "h", **common)
    else:
        metric = Gauge(name, "h", multiprocess_mode=kind.removeprefix("gauge_"), **common)  # type: ignore[arg-type]
    child = metric.labels(*labels) if labels else metric
    for amount in amounts:
        if kind == "counter":
            child.inc(abs(amount))
        elif kind.startswith("gauge"):
            child.set(amount)
        else:
            child.observe(amount)


operations = st.lists(
    st.tuples(
        st.sampled_from(("counter", "histogram", "summary", "gauge_all", "gauge_max")),
        st.sampled_from(("m1", "m2")),
        st.sampled_from(((), ("x",), ("y\n\u00e9",))),
        st.lists(st.integers(-8, 8).map(lambda n: n / 4), max_size=3),
    ),
    max_size=12,
)


def contents(directory: Path) -> dict[str, bytes]:
    """Each file's used part (prometheus_client sizes files differently as they grow)."""
    found = {}
    for path in sorted(directory.iterdir()):
        data = path.read_bytes()
        found[path.name.rsplit("_", 1)[0]] = data[: decode_used(data)]
    return found


@settings(max_examples=examples(100), deadline=None)
@given(ops=operations)
def test_files_are_byte_for_byte_prometheus_clients(ops: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as base:
        ours, theirs = Path(base) / "ours", Path(base) / "theirs"
        for place in (ours, theirs):
            place.mkdir()
        saved = installed_value_class()
        writer = ValueWriter(ours, Faults())
        install_value_class(writer.value_class())
        try:
            for kind, name, labels, amounts in ops:
                record(kind, f"{name}_{kind}", labels, amounts)
        finally:
            writer.close(wait=0)
            install_value_class(saved)
        with writing_as(theirs, os.getpid()):
            for kind, name, labels, amounts in ops:
                record(kind, f"{name}_{kind}", labels, amounts)
        assert contents(ours) == contents(theirs)


def total(reader: DirectoryReader, family: str) -> float | None:
    snapshot = reader.read()
    for planned in snapshot.plan.families:
        if planned.name == family:
            return sum(v or 0.0 for v in planned.values(snapshot.values, snapshot.stamps))
    return None


@pytest.fixture
def writer(tmp_path: Path, restored_value_class: None) -> Iterator[ValueWriter]:
    writer = ValueWriter(tmp_path, Faults())
    install_value_class(writer.value_class())
    yield writer
    writer.close(wait=0)


def test_a_recorded_value_is_read_as_soon_as_recording_returns(
    tmp_path: Path, writer: ValueWriter
) -> None:
    reader = DirectoryReader(tmp_path)
    counter = Counter("requests", "r", ["path"], registry=None)
    for count in range(1, 201):
        counter.labels(f"/p{count % 7}").inc()  # new entries and values in place
        assert total(reader, "requests") == count


@pytest.mark.parametrize("damage", ["truncated", "half", "unlinked", "overwritten", "replaced"])
def test_a_file_damaged_by_someone_else_is_written_anew(
    tmp_path: Path, writer: ValueWriter, damage: str
) -> None:
    counter = Counter("requests", "r", ["path"], registry=None)
    for index in range(50):
        counter.labels(f"/p{index}").inc(index)
    expected = float(sum(range(50)))
    reader = DirectoryReader(tmp_path)
    assert total(reader, "requests") == expected
    [path] = tmp_path.glob("counter_*.db")
    size = path.stat().st_size
    if damage == "truncated":
        os.truncate(path, 0)
    elif damage == "half":
        os.truncate(path, decode_used(path.read_bytes()) // 2)
    elif damage == "unlinked":
        path.unlink()
    elif damage == "overwritten":
        with path.open("r+b") as file:
            file.write(b"\x07" * size)
    else:  # another file under its name
        path.unlink()
        path.write_bytes(b"garbage")
    # Left out and noted, never a crash; counting goes on in memory meanwhile.
    assert (total(reader, "requests") or 0.0) < expected
    counter.labels("/p1").inc()
    assert reader.faults.held() or damage in ("unlinked", "replaced")
    writer.upkeep()
    assert [fault.split(":")[0] for fault in writer.faults.held()] == [path.name]
    assert total(reader, "requests") == expected + 1
    assert total(DirectoryReader(tmp_path), "requests") == expected + 1


def test_counts_that_cannot_be_stored_wait_in_memory(
    tmp_path: Path, restored_value_class: None
) -> None:
    """A directory that cannot take a file (here: gone) is an OSError, not a crash: the
    counts wait, /health's problems say why, and all land once it can."""
    directory = tmp_path / "multiproc"
    directory.mkdir()
    writer = ValueWriter(directory, Faults())
    install_value_class(writer.value_class())
    try:
        counter = Counter("requests", "r", ["path"], registry=None)
        counter.labels("/a").inc(2)
        shutil.rmtree(directory)
        writer.upkeep()  # finds its file unlinked, cannot write it anew
        counter.labels("/a").inc(3)
        counter.labels("/b").inc(5)  # a new series, no file to put it in
        problems = writer.problems()
        assert len(problems) == 1 and "No such file or directory" in problems[0]
        assert len(writer.unstored_keys("counter")) == 2
        directory.mkdir()
        writer.upkeep()
        assert writer.problems() == []
        assert total(DirectoryReader(directory), "requests") == 10.0
    finally:
        writer.close(wait=0)


def test_the_series_limit_counts_label_sets_waiting_in_memory(
    tmp_path: Path, restored_value_class: None
) -> None:
    directory = tmp_path / "multiproc"
    directory.mkdir()
    writer = ValueWriter(directory, Faults())
    install_value_class(writer.value_class())
    try:
        counter = Counter("http_api_requests", "r", ["path"], registry=None)
        counter.labels("/stored").inc()
        shutil.rmtree(directory)
        writer.upkeep()
        counter.labels("/waiting").inc()
        directory.mkdir()  # listed again, but empty: only memory knows both
        label_sets = DirectoryLabelSets(directory, writer)
        with label_sets.lock():
            found = set(label_sets.label_sets("http_api_requests", ("path",)))
        assert found == {("/stored",), ("/waiting",)}
    finally:
        writer.close(wait=0)


def test_a_file_left_by_an_exited_process_with_the_pid_is_continued(
    tmp_path: Path, restored_value_class: None
) -> None:
    """As prometheus_client: the values of a predecessor's file (a reused pid) count on."""
    with writing_as(tmp_path, os.getpid()):
        Counter("requests", "r", registry=None).inc(4)
    writer = ValueWriter(tmp_path, Faults())
    install_value_class(writer.value_class())
    try:
        Counter("requests", "r", registry=None).inc(1)
        assert total(DirectoryReader(tmp_path), "requests") == 5.0
        [path] = tmp_path.iterdir()
        assert decode_used(path.read_bytes()) > HEADER_BYTES
    finally:
        writer.close(wait=0)
