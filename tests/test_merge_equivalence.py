"""The multiprocess text served equals prometheus_client's, folded or not.

Over random directories of worker files (metric types and gauge modes, label sets,
live and exited processes, exited ones folded into the archive or left as files),
the service's text equals what MultiProcessCollector and generate_latest make of
the same files before any fold, with families by name and lines in the service's
order (tests/support/mpfiles.py: in_service_order says exactly what is reordered).

Values are quarters of integers: their sums are exact, so they do not depend on the
order of addition, which for MultiProcessCollector is the directory's listing order.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import mark_process_dead

from impl.metrics.encoding import encode_text
from impl.metrics.exposition import FamilyView
from impl.metrics.multiprocess.collectors import DirectoryCollector
from impl.metrics.multiprocess.directory import ARCHIVE_NAME
from impl.metrics.multiprocess.fold import fold_process
from tests.support.examples import examples
from tests.support.mpfiles import prometheus_client_text, writing_as

GAUGE_MODES = sorted(Gauge._MULTIPROC_MODES)
LABEL_NAMES = ("a", "b", "code", "path_x")
BOUNDS = (0.25, 0.5, 1.0, 2.5, 10.0)
FATES = ("live", "exited", "folded")

quarters = st.integers(-400, 400).map(lambda n: n / 4)
amounts = st.integers(0, 400).map(lambda n: n / 4)
# Mostly from a few values, so that processes share series; any text now and then.
label_values = st.one_of(
    st.sampled_from(("", "x", 'say "hi"', "back\\slash", "new\nline", "é")),
    st.text(max_size=4),
)


@dataclass(frozen=True)
class Definition:
    kind: str  # counter, gauge, histogram, summary
    mode: str
    labels: tuple[str, ...]
    help: str
    buckets: tuple[float, ...]


definitions = st.builds(
    Definition,
    kind=st.sampled_from(("counter", "gauge", "histogram", "summary")),
    mode=st.sampled_from(GAUGE_MODES),
    labels=st.lists(st.sampled_from(LABEL_NAMES), max_size=2, unique=True).map(tuple),
    help=st.text(max_size=6),
    buckets=st.lists(st.sampled_from(BOUNDS), min_size=1, unique=True).map(
        lambda b: tuple(sorted(b))
    ),
)


@dataclass(frozen=True)
class Process:
    pid: int
    fate: str
    # (definition index, label values, amount)
    writes: tuple[tuple[int, tuple[str, ...], float], ...]


def processes(count: int) -> st.SearchStrategy[list[Process]]:
    write = st.tuples(st.integers(0, count - 1), st.lists(label_values, min_size=2, max_size=2))
    one = st.builds(
        lambda fate, writes, amounts_: (fate, writes, amounts_),
        st.sampled_from(FATES),
        st.lists(write, max_size=6),
        st.lists(quarters, min_size=6, max_size=6),
    )
    pids = st.lists(st.integers(100, 999), min_size=1, max_size=4, unique=True)
    return pids.flatmap(
        lambda ps: st.lists(one, min_size=len(ps), max_size=len(ps)).map(
            lambda specs: [
                Process(
                    pid, fate, tuple((i, tuple(v), a) for (i, v), a in zip(w, am, strict=False))
                )
                for pid, (fate, w, am) in zip(ps, specs, strict=True)
            ]
        )
    )


def create(definition: Definition, index: int) -> Any:
    name = f"m{index}_{definition.kind}"
    common: dict[str, Any] = {"labelnames": definition.labels, "registry": None}
    if definition.kind == "counter":
        return Counter(name, definition.help, **common)
    if definition.kind == "gauge":
        return Gauge(name, definition.help, multiprocess_mode=definition.mode, **common)  # type: ignore[arg-type]
    if definition.kind == "histogram":
        return Histogram(name, definition.help, buckets=definition.buckets, **common)
    return Summary(name, definition.help, **common)


def record(metric: Any, definition: Definition, values: tuple[str, ...], amount: float) -> None:
    child = metric.labels(*values[: len(definition.labels)]) if definition.labels else metric
    if definition.kind == "counter":
        child.inc(abs(amount))
    elif definition.kind == "gauge":
        child.set(amount)
    else:
        child.observe(amount)


def write_processes(directory: Path, defs: list[Definition], procs: list[Process]) -> None:
    for process in procs:
        with writing_as(directory, process.pid):
            metrics = [create(d, i) for i, d in enumerate(defs)]
            for index, values, amount in process.writes:
                record(metrics[index], defs[index], values, amount)


def served_text(collector: DirectoryCollector) -> bytes:
    registry = CollectorRegistry()
    registry.register(collector)
    text = encode_text(registry)
    # The collected families (OpenMetrics, /health) carry the same samples in order.
    assert generate_latest(FamilyView(registry, None, drop_created=True)) == text
    return text


def fresh_text(directory: Path) -> bytes:
    """What a new reader, which keeps nothing, serves; its files let go of after."""
    with contextlib.closing(DirectoryCollector(directory)) as collector:
        return served_text(collector)


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    defs=st.lists(definitions, min_size=1, max_size=4),
    data=st.data(),
)
def test_text_equals_multiprocesscollector_folded_or_not(
    defs: list[Definition], data: st.DataObject
) -> None:
    procs = data.draw(processes(len(defs)))
    with tempfile.TemporaryDirectory() as tmp:
        directory, unfolded = Path(tmp) / "dir", Path(tmp) / "unfolded"
        directory.mkdir()
        write_processes(directory, defs, procs)
        collector = DirectoryCollector(directory)
        # Every process still running: the same files on both sides.
        assert served_text(collector) == prometheus_client_text(directory)

        # What prometheus_client's directory holds once the exited ones are marked dead.
        shutil.copytree(directory, unfolded)
        for process in procs:
            if process.fate != "live":
                mark_process_dead(process.pid, str(unfolded))  # type: ignore[no-untyped-call]
        folded = {p.pid for p in procs if p.fate == "folded"}
        archived = [f for f in directory.glob("*.db") if pid_of(f) in folded and live(f) is False]
        # The service's: some exited processes folded, the others marked dead.
        for process in procs:
            if process.fate == "folded":
                fold_process(directory, process.pid)
            elif process.fate == "exited":
                mark_process_dead(process.pid, str(directory))  # type: ignore[no-untyped-call]
        expected = prometheus_client_text(unfolded)
        # The same reader (keys, handles and plan kept from the first scrape), and a new one.
        assert served_text(collector) == expected
        collector.close()
        assert fresh_text(directory) == expected
        # A folded process leaves no file; the archive holds what it wrote.
        assert not [f for f in directory.glob("*.db") if pid_of(f) in folded]
        assert (directory / ARCHIVE_NAME).exists() == bool(archived)


def pid_of(path: Path) -> int:
    return int(path.stem.rsplit("_", 1)[1])


def live(path: Path) -> bool:
    return path.name.startswith("gauge_live")


def test_name_selection_on_merged_families(tmp_path: Path) -> None:
    with writing_as(tmp_path, 321):
        Counter("picked", "p", registry=None).inc(3)
        Histogram("other_seconds", "o", registry=None).observe(0.2)
    registry = CollectorRegistry()
    registry.register(DirectoryCollector(tmp_path))
    assert encode_text(registry, ["picked_total"]) == (
        b"# HELP picked_total p\n# TYPE picked_total counter\npicked_total 3.0\n"
    )
    assert b"other_seconds_bucket" in encode_text(registry, ["other_seconds_count"])
    assert encode_text(registry, ["nothing"]) == b""


@pytest.mark.parametrize("mode", GAUGE_MODES)
@pytest.mark.parametrize("folded_first", [True, False])
def test_each_gauge_mode_across_the_archive_and_files(
    tmp_path: Path, mode: str, folded_first: bool
) -> None:
    """Three processes set the same series, in this order of time: one that stays
    (a middle value), then two that exit (the lowest, then the highest) and are folded
    in either order: the rule of each mode picks across the archive and the files."""
    directory, unfolded = tmp_path / "dir", tmp_path / "unfolded"
    directory.mkdir()
    for pid, value in ((203, 2.5), (201, -7.0), (202, 9.25)):
        with writing_as(directory, pid):
            gauge = Gauge("g", "h", ["a"], multiprocess_mode=mode, registry=None)  # type: ignore[arg-type]
            gauge.labels("x").set(value)
            gauge.labels(str(pid)).set(value)
    shutil.copytree(directory, unfolded)
    for pid in (201, 202):
        mark_process_dead(pid, str(unfolded))  # type: ignore[no-untyped-call]
    for pid in (201, 202) if folded_first else (202, 201):
        fold_process(directory, pid)
    assert fresh_text(directory) == prometheus_client_text(unfolded)


def test_a_reused_pid_adds_to_what_its_predecessor_left(tmp_path: Path) -> None:
    """prometheus_client: a new process with an exited one's pid appends to its files
    and counts on from its values. Here the first was folded (its files gone), the
    second starts afresh, and archive plus file give the same text."""
    directory, unfolded = tmp_path / "dir", tmp_path / "unfolded"
    directory.mkdir()

    def first() -> None:
        Counter("c", "h", ["a"], registry=None).labels("x").inc(5)
        Gauge("g", "h", ["a"], registry=None).labels("x").set(4)
        Gauge("g_kept", "h", registry=None).set(11)
        Histogram("h", "h", registry=None, buckets=(1.0,)).observe(0.5)

    def second() -> None:
        Counter("c", "h", ["a"], registry=None).labels("x").inc(3)
        Gauge("g", "h", ["a"], registry=None).labels("x").set(-2)
        Histogram("h", "h", registry=None, buckets=(1.0,)).observe(3)

    with writing_as(directory, 300):
        first()
    shutil.copytree(directory, unfolded)
    fold_process(directory, 300)
    for place in (directory, unfolded):
        with writing_as(place, 300):
            second()
    fold_process(directory, 300)
    text = fresh_text(directory)
    assert text == prometheus_client_text(unfolded)
    assert b'c_total{a="x"} 8.0' in text and b'g{a="x",pid="300"} -2.0' in text
    assert b'g_kept{pid="300"} 11.0' in text
