"""Collected families written from kept line starts (impl/metrics/collected_text.py) are
generate_latest's bytes: at the first scrape (generate_latest's own text, from which the
starts are cut) and at later ones (the starts kept, the values new), whatever the labels
hold, with timestamps, labels that change at every scrape, and families too large to keep."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from impl.metrics.collected_text import CollectedText


class _Single(Collector):
    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterator[Metric]:
        yield self._family


def expected(family: Metric) -> bytes:
    return generate_latest(_Single(family))


def gauge(labels: list[tuple[str, str]], values: list[float], stamp: float | None) -> Metric:
    family = GaugeMetricFamily("collected_g", 'help with \\ and\nnewline "q"', labels=["a", "b"])
    for (a, b), value in zip(labels, values, strict=True):
        family.add_metric([a, b], value, timestamp=stamp)
    return family


label_values = st.text(alphabet=st.sampled_from(' ab"\\\n{}=,é'), max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    labels=st.lists(st.tuples(label_values, label_values), max_size=5, unique=True),
    data=st.data(),
    stamp=st.none() | st.floats(min_value=0, max_value=4e9),
)
def test_first_and_later_scrapes_are_generate_latests_bytes(
    labels: list[tuple[str, str]], data: st.DataObject, stamp: float | None
) -> None:
    text = CollectedText()
    numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**20), 10**20)
    for _ in range(3):  # a miss, then hits with other values
        values = data.draw(st.lists(numbers, min_size=len(labels), max_size=len(labels)))
        family = gauge(labels, values, stamp)
        assert text.encode(family) == expected(family)


def test_labels_that_change_at_every_scrape_and_a_family_too_large_to_keep() -> None:
    text = CollectedText()
    for scrape in range(3):
        family = CounterMetricFamily("collected_c", "c", labels=["at"])
        family.add_metric([f"scrape {scrape}"], scrape)
        assert text.encode(family) == expected(family)
    large = gauge([(str(n), "x") for n in range(5000)], [float(n) for n in range(5000)], None)
    assert text.encode(large) == expected(large)
    assert text.encode(large) == expected(large)
