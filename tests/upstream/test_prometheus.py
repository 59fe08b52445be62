"""The assumptions impl/upstream/prometheus.py makes about prometheus_client's private
names, each checked against what prometheus_client's public collect() says, so that an
upgrade that breaks one turns its test red."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, metrics
from prometheus_client.registry import Collector

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
    assert not sampled_by_function(children(gauge)[1])
    gauge.labels("b").set_function(lambda: 9.0)
    assert sampled_by_function(children(gauge)[1])
    assert _collected_values(gauge) == [1.0, 9.0]


@pytest.mark.usefixtures("created_switch")
def test_created_samples_enabled_follows_the_public_switch() -> None:
    disable_created_metrics()
    assert created_samples_enabled() is _makes_created_samples() is False
    enable_created_metrics()
    assert created_samples_enabled() is _makes_created_samples() is True
