"""The assumptions impl/upstream/prometheus.py makes about prometheus_client's private
names and file format, each checked against the installed version (its public collect(),
its own multiprocess files): an upgrade that breaks one turns its test red."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, metrics, values
from prometheus_client.multiprocess import mark_process_dead
from prometheus_client.registry import Collector

from impl.upstream import prometheus as upstream
from impl.upstream.prometheus import (
    cell_reader,
    children,
    created_samples_enabled,
    histogram_bounds,
    plain_registry_collectors,
    sampled_by_function,
    value_cells,
    wrapper_info,
)
from tests.support.mpfiles import writing_as

# prometheus_client's public switches, unannotated upstream.
disable_created_metrics: Callable[[], None] = metrics.disable_created_metrics
enable_created_metrics: Callable[[], None] = metrics.enable_created_metrics

# --- the text encoder -------------------------------------------------------------------


def _makes_created_samples() -> bool:
    counter = Counter("c", "C.", registry=None)
    return any(s.name == "c_created" for s in next(iter(counter.collect())).samples)


@pytest.fixture
def created_switch() -> Iterator[None]:
    """Whatever a test sets prometheus_client's `_created` switch to, it is put back."""
    was = _makes_created_samples()
    yield
    (enable_created_metrics if was else disable_created_metrics)()


def _collected_values(metric: Collector) -> list[float]:
    return [s.value for family in metric.collect() for s in family.samples]


def test_plain_registry_collectors_are_collected_in_registration_order() -> None:
    registry = CollectorRegistry()
    second = Gauge("b", "B.", registry=registry)
    first = Counter("a", "A.", registry=registry)
    assert plain_registry_collectors(registry) == [second, first]
    assert [f.name for f in registry.collect()] == ["b", "a"]
    registry.unregister(second)
    assert plain_registry_collectors(registry) == [first]


def test_registries_with_target_info_or_of_other_kinds_are_not_plain() -> None:
    assert plain_registry_collectors(CollectorRegistry(target_info={"env": "x"})) is None
    assert plain_registry_collectors(Counter("c", "C.", registry=None)) is None


def test_wrapper_info_is_the_collected_family() -> None:
    counter = Counter("requests_total", "Handled.", ["path", "code"], registry=None)
    family = next(iter(counter.collect()))
    info = wrapper_info(counter)
    assert (
        (info.name, info.type, info.documentation)
        == (
            family.name,
            family.type,
            family.documentation,
        )
        == ("requests", "counter", "Handled.")
    )
    assert info.label_names == ("path", "code")


def test_children_come_in_the_order_collect_writes_them() -> None:
    gauge = Gauge("g", "G.", ["k"], registry=None)
    for key in ("z", "a", "m"):
        gauge.labels(key).set(len(key))
    gauge.remove("a")
    gauge.labels("a").set(1)  # back, now last
    keys, kids = children(gauge)
    assert keys == [("z",), ("m",), ("a",)]
    assert kids == [gauge.labels(*key) for key in keys]
    assert [s.labels["k"] for s in next(iter(gauge.collect())).samples] == ["z", "m", "a"]
    alone = Gauge("alone", "A.", registry=None)
    assert children(alone) == ([()], [alone])


@pytest.mark.parametrize("kind", ["counter", "gauge", "summary", "histogram"])
@pytest.mark.usefixtures("created_switch")
def test_value_cells_hold_the_values_collect_reports(kind: str) -> None:
    disable_created_metrics()
    metric: Any
    if kind == "counter":
        metric = Counter("m", "M.", registry=None)
        metric.inc(2.5)
    elif kind == "gauge":
        metric = Gauge("m", "M.", registry=None)
        metric.set(-4.0)
    elif kind == "summary":
        metric = Summary("m", "M.", registry=None)
        metric.observe(3.0)
        metric.observe(4.0)
    else:
        metric = Histogram("m", "M.", buckets=(1, 5), registry=None)
        for amount in (0.5, 3, 3, 9):
            metric.observe(amount)
    cells = value_cells(metric, kind)
    read = cell_reader(cells)
    values = [read(cell) for cell in cells]
    if kind == "histogram":
        # Buckets as counted (collect() makes them cumulative), then the sum.
        assert values == [1.0, 2.0, 1.0, 15.5]
        assert _collected_values(metric) == [1.0, 3.0, 4.0, 4.0, 15.5]
    else:
        assert values == _collected_values(metric)


def test_value_cells_outlive_reset_and_set_function() -> None:
    counter = Counter("c", "C.", registry=None)
    counter.inc(5)
    cells = value_cells(counter, "counter")
    counter.reset()
    counter.inc(2)
    assert cell_reader(cells)(cells[0]) == _collected_values(counter)[0] == 2.0
    gauge = Gauge("g", "G.", registry=None)
    cells = value_cells(gauge, "gauge")
    gauge.set_function(lambda: 7.0)
    assert value_cells(gauge, "gauge") == cells


def test_cell_reader_reads_a_mutex_value_in_place_and_anything_else_through_get() -> None:
    counter = Counter("c", "C.", registry=None)
    counter.inc(3)
    cell = value_cells(counter, "counter")[0]
    read = cell_reader([cell])
    assert read(cell) == cell.get() == 3.0
    # The encoder keeps a line while its value is the same object: unchanged, it is.
    assert read(cell) is read(cell)

    class Stored:  # a value class of another kind, as multiprocess mode's
        def get(self) -> float:
            return 42.0

    assert cell_reader([cell, Stored()])(Stored()) == 42.0


def test_histogram_bounds_are_the_le_labels_in_order() -> None:
    histogram = Histogram("h", "H.", buckets=(0.5, 2, 5), registry=None)
    bounds = histogram_bounds(histogram)
    assert bounds == [0.5, 2.0, 5.0, float("inf")]
    les = [s.labels["le"] for s in next(iter(histogram.collect())).samples if "le" in s.labels]
    assert [float(le) for le in les] == bounds


def test_set_function_is_seen_on_the_child_it_was_called_on() -> None:
    gauge = Gauge("g", "G.", ["k"], registry=None)
    gauge.labels("a").set(1)
    gauge.labels("b").set(2)
    assert not sampled_by_function(children(gauge)[1], 4096)
    gauge.labels("b").set_function(lambda: 9.0)
    assert sampled_by_function(children(gauge)[1], 4096)
    assert _collected_values(gauge) == [1.0, 9.0]


@pytest.mark.usefixtures("created_switch")
def test_created_samples_enabled_follows_the_public_switch() -> None:
    disable_created_metrics()
    assert created_samples_enabled() is _makes_created_samples() is False
    enable_created_metrics()
    assert created_samples_enabled() is _makes_created_samples() is True


# ---- Multiprocess backend -------------------------------------------------------------


@pytest.fixture
def restored_value_class() -> Iterator[None]:
    saved = upstream.installed_value_class()
    yield
    upstream.install_value_class(saved)


class Recording:
    """A value class that records how prometheus_client calls it."""

    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Recording.calls.append((args, kwargs))
        self.value = 0.0

    def inc(self, amount: float) -> None:
        self.value += amount

    def set(self, value: float, timestamp: float | None = None) -> None:
        self.value = value

    def get(self) -> float:
        return self.value

    def set_exemplar(self, exemplar: object) -> None:
        pass

    def get_exemplar(self) -> None:
        return None


def test_children_make_their_values_with_the_installed_class(restored_value_class: None) -> None:
    """values.ValueClass is read when each child is created, with these arguments."""
    Recording.calls = []
    upstream.install_value_class(Recording)
    assert upstream.installed_value_class() is Recording
    Counter("c", "help c", ["a"], registry=None).labels("x").inc(2)
    Gauge("g", "help g", multiprocess_mode="max", registry=None).set(3)
    assert Recording.calls == [
        (("counter", "c", "c_total", ("a",), ("x",), "help c"), {}),
        (("gauge", "g", "g", (), (), "help g"), {"multiprocess_mode": "max"}),
    ]
    histogram = Histogram("h", "help h", buckets=(1.0,), registry=None)
    summary = Summary("s", "help s", registry=None)
    names = [args[2] for args, _ in Recording.calls[2:]]
    assert names == ["h_sum", "h_bucket", "h_bucket", "s_count", "s_sum"]
    histogram.observe(0.5)
    summary.observe(2.0)


def test_the_in_process_class_writes_no_file(
    restored_value_class: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    upstream.install_value_class(upstream.in_process_value_class())
    registry = CollectorRegistry()
    Counter("c", "h", registry=registry).inc(5)
    assert registry.get_sample_value("c_total") == 5.0
    assert list(tmp_path.iterdir()) == []
    assert upstream.in_process_value_class() is values.MutexValue


def test_file_names_are_kind_and_pid(tmp_path: Path) -> None:
    with writing_as(tmp_path, 4242):
        Counter("c", "h", registry=None).inc()
        Histogram("h", "h", registry=None).observe(1)
        Summary("s", "h", registry=None).observe(1)
        for mode in sorted(upstream.GAUGE_MODES):
            Gauge(f"g_{mode}", "h", multiprocess_mode=mode, registry=None).set(1)  # type: ignore[arg-type]
    expected = {upstream.file_kind(t, "") for t in ("counter", "histogram", "summary")}
    expected |= {upstream.file_kind("gauge", mode) for mode in upstream.GAUGE_MODES}
    names = {path.name for path in tmp_path.iterdir()}
    assert names == {upstream.file_name(kind, 4242) for kind in expected}
    assert {upstream.parse_file_name(name) for name in names} == {(k, 4242) for k in expected}
    assert upstream.parse_file_name("counter_12.db.tmp") is None
    assert upstream.parse_file_name("gauge_unknownmode_1.db") is None


def test_live_gauge_files_are_the_ones_mark_process_dead_removes(tmp_path: Path) -> None:
    with writing_as(tmp_path, 77):
        for mode in sorted(upstream.GAUGE_MODES):
            Gauge(f"g_{mode}", "h", multiprocess_mode=mode, registry=None).set(1)  # type: ignore[arg-type]
    before = {path.name for path in tmp_path.iterdir()}
    mark_process_dead(77, str(tmp_path))  # type: ignore[no-untyped-call]
    removed = before - {path.name for path in tmp_path.iterdir()}
    assert removed == {name for name in before if name.startswith(upstream.LIVE_GAUGE_PREFIX)}
    assert removed


def test_the_file_format_is_prometheus_clients(tmp_path: Path) -> None:
    """Header, entries, keys and values as MmapedDict writes them; a new file's size."""
    with writing_as(tmp_path, 5):
        counter = Counter("requests", "help \u00e9", ["path", "code"], registry=None)
        counter.labels("/ping", "204").inc(3)
        counter.labels("/metrics", "200").inc(0.25)
    [path] = tmp_path.iterdir()
    data = path.read_bytes()
    assert len(data) == upstream.INITIAL_FILE_BYTES
    used = upstream.decode_used(data)
    assert data[: upstream.HEADER_BYTES] == upstream.encode_used(used) + bytes(4)
    entries = upstream.parse_entries(data, upstream.HEADER_BYTES, used)
    keys = [
        upstream.encode_key("requests", "requests_total", ["path", "code"], labels, "help \u00e9")
        for labels in (["/ping", "204"], ["/metrics", "200"])
    ]
    assert [key for key, _ in entries] == keys
    assert [upstream.decode_value(data, at) for _, at in entries] == [(3.0, 0.0), (0.25, 0.0)]
    layout = b"".join(upstream.encode_entry(key) for key in keys)
    assert len(layout) == used - upstream.HEADER_BYTES
    first_value_at = entries[0][1]
    assert data[upstream.HEADER_BYTES : first_value_at] == layout[: first_value_at - 8]
    assert upstream.decode_key(keys[0]) == (
        "requests",
        "requests_total",
        {"path": "/ping", "code": "204"},
        "help \u00e9",
    )


@pytest.mark.parametrize(
    "raw",
    [b"", b"\xff", b"[]", b'["a", "b", {}, 3]', b'["a", "b", {"x": 1}, "h"]', b'{"a": 1}'],
)
def test_decode_key_refuses_what_is_not_a_key(raw: bytes) -> None:
    with pytest.raises(ValueError):
        upstream.decode_key(raw)


def test_parse_entries_refuses_entries_that_do_not_tile() -> None:
    entry = upstream.encode_entry(b'["m", "m", {}, "h"]')
    data = upstream.encode_used(8 + len(entry)) + bytes(4) + entry
    assert len(upstream.parse_entries(data, 8, 8 + len(entry))) == 1
    for used in (8 + len(entry) - 8, 8 + len(entry) + 8, 12):
        with pytest.raises(ValueError):
            upstream.parse_entries(data + bytes(16), 8, used)
