"""The text format 0.0.4 as /metrics serves it: exactly the bytes of
`generate_latest(FamilyView(registry, names, drop_created=True))` (tests/test_encoding.py
proves it over random registries, and over random changes between scrapes), several
times faster (bench/results/).

Profiled, `generate_latest` spends a third to a half of its time in `collect()`, building
a `Sample` and a label dict per sample, and most of the rest re-sorting and re-escaping
label sets sample by sample, at every scrape. For prometheus_client's own Counter, Gauge,
Histogram and Summary, the text is kept between scrapes instead, and only the lines whose
value changed are written again (impl/metrics/kept_text.py). Everything else (custom
collectors, Info, Enum, subclasses, gauges with `set_function`, registries with
target_info) is collected at every scrape and written as `generate_latest` writes it, one
family at a time, from headers and line starts that generate_latest itself wrote once
(impl/metrics/collected_text.py), so the two paths only differ in speed. encode_text may
run in several threads at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from prometheus_client.metrics import Counter, Gauge, Histogram, Summary
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from impl.metrics.collected_text import CollectedText
from impl.metrics.kept_text import CELLS_PER_READ, KeptFamilies
from impl.metrics.text_format import escape_value, help_line
from impl.upstream.prometheus import (
    children,
    created_samples_enabled,
    histogram_bounds,
    plain_registry_collectors,
    sampled_by_function,
    wrapper_info,
)
from sysinfo_contract.names import selects, wanted_names

# impl/metrics/multiprocess/merge.py writes its lines with the same escaping.
__all__ = ["EncodedFamily", "encode_text", "escape_value", "help_line"]

# Exact classes only: a subclass may override how its samples are made.
_FAST_TYPES: tuple[type, ...] = (Counter, Gauge, Histogram, Summary)
# Types whose `_created` samples the text format leaves out (influxd has none).
_CREATED_TYPES = frozenset({"counter", "histogram", "summary"})
# The text of every metric object encoded, for as long as the object lives: the signature
# of encode_text has no place for it, and it needs no reset, since every scrape reads
# every value.
_KEPT = KeptFamilies()
# The headers and line starts of collected families (custom collectors), likewise.
_COLLECTED = CollectedText()


def _encode_generic(family: Metric, wanted: frozenset[str] | None) -> bytes:
    if not selects(wanted, family.name, (s.name for s in family.samples)):
        return b""
    if family.type in _CREATED_TYPES:
        kept = Metric(family.name, family.documentation, family.type, family.unit)
        kept.samples = [s for s in family.samples if not s.name.endswith("_created")]
        family = kept
    return _COLLECTED.encode(family)


def _sample_names(wrapper: Any, name: str, kind: str) -> tuple[str, ...]:
    created = (name + "_created",) if created_samples_enabled() else ()
    if kind == "counter":
        return (name + "_total", *created)
    if kind == "gauge":
        return (name,)
    if kind == "summary":
        return (name + "_count", name + "_sum", *created)
    sums = (name + "_sum",) if histogram_bounds(wrapper)[0] >= 0 else ()
    return (name + "_bucket", name + "_count", *sums, *created)


def _encode_wrapper(wrapper: Any, wanted: frozenset[str] | None) -> bytes:
    info = wrapper_info(wrapper)
    keys, kids = children(wrapper)
    if wanted is not None:
        sample_names = _sample_names(wrapper, info.name, info.type) if kids else ()
        if not selects(wanted, info.name, sample_names):
            return b""
    if info.type == "gauge" and sampled_by_function(kids, CELLS_PER_READ):
        # set_function replaces a child's sampling: only collect() knows its value.
        return b"".join(_encode_generic(family, wanted) for family in wrapper.collect())
    return _KEPT.of(wrapper, info).encode(info, keys, kids)


class EncodedFamily(ABC):
    """A family that writes its own text: what a collector's `text_families()` may
    return beside collected families (impl/metrics/multiprocess/collectors.py does, for the
    merged multiprocess families). Its bytes must be what generate_latest writes."""

    name: str

    @abstractmethod
    def encode(self, wanted: frozenset[str] | None) -> bytes:
        """The family's text, HELP and TYPE included; empty when `wanted` leaves it out."""


def _sources(registry: Collector) -> list[tuple[str, Any]]:
    """(family name, metric object, collected or encoded family) in generate_latest's
    order, sorted by name."""
    collectors = plain_registry_collectors(registry)
    sources: list[tuple[str, Any]] = []
    for collector in collectors if collectors is not None else [registry]:
        if type(collector) in _FAST_TYPES:
            sources.append((wrapper_info(collector).name, collector))
        else:
            text_families = getattr(collector, "text_families", None)
            families = collector.collect() if text_families is None else text_families()
            sources.extend((family.name, family) for family in families)
    # Stable, like FamilyView's sorted(): same-named families keep collection order.
    sources.sort(key=itemgetter(0))
    return sources


def _encode_source(source: Any, wanted: frozenset[str] | None) -> bytes:
    if isinstance(source, Metric):
        return _encode_generic(source, wanted)
    if isinstance(source, EncodedFamily):
        return source.encode(wanted)
    return _encode_wrapper(source, wanted)


def encode_text(registry: Collector, names: Iterable[str] | None = None) -> bytes:
    """The text format of `registry`, without `_created`, restricted to `names`."""
    wanted = wanted_names(names)
    return b"".join(_encode_source(source, wanted) for _, source in _sources(registry))
