"""prometheus_client's private names, for the version pinned in pyproject.toml; each
function states one assumption, tested in tests/upstream/test_prometheus.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import repeat
from operator import attrgetter, contains, methodcaller
from typing import Any, NamedTuple

from prometheus_client import metrics as client_metrics
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.values import MutexValue

# --- the text encoder (impl/metrics/encoding.py, impl/metrics/kept_text.py) ----------
# It reads Counter, Gauge, Histogram and Summary objects in place instead of collecting
# a Sample per value, and keeps their text between scrapes.


def plain_registry_collectors(registry: Collector) -> list[Collector] | None:
    """The collectors of a CollectorRegistry without target_info, in registration order
    (the order its collect() follows), read under its lock; None for anything else,
    whose families only its own collect() knows."""
    if type(registry) is not CollectorRegistry or registry._target_info:
        return None
    with registry._lock:
        return list(registry._collector_to_names)


class WrapperInfo(NamedTuple):
    """What a metric object's family is called and how it is described."""

    name: str  # without the type's suffix (`x` for a counter serving `x_total`)
    type: str  # "counter", "gauge", "histogram" or "summary"
    documentation: str
    label_names: tuple[str, ...]


def wrapper_info(wrapper: Any) -> WrapperInfo:
    """Read at every scrape: a metric object's name and labels are fixed at creation,
    but nothing stops its documentation being reassigned."""
    return WrapperInfo(
        wrapper._name, wrapper._type, wrapper._documentation, tuple(wrapper._labelnames)
    )


def children(wrapper: Any) -> tuple[list[tuple[str, ...]], list[Any]]:
    """A metric object's children and their label values, both in the order collect()
    writes them (insertion order of its dict), taken together under its lock. A metric
    without labels is its own only child. No object is allocated per child: two lists."""
    if not wrapper._labelnames:
        return [()], [wrapper]
    with wrapper._lock:
        metrics = wrapper._metrics
        return list(metrics), list(metrics.values())


def value_cells(child: Any, kind: str) -> list[Any]:
    """The value objects behind a child's samples, in the order its samples come:
    one for a counter or gauge; count and sum for a summary; every bucket (not yet
    cumulative) and the sum for a histogram. Made once, in the child's constructor:
    neither reset() nor set_function() replaces them, so they can be kept."""
    if kind == "summary":
        return [child._count, child._sum]
    if kind == "histogram":
        return [*child._buckets, child._sum]
    return [child._value]


def cell_reader(cells: Sequence[Any]) -> Callable[[Any], float]:
    """How to read each of `cells`: a MutexValue's number in place, without its lock
    (an attribute read is atomic; the lock only makes inc's read-modify-write one
    step), so that a scrape reads each value at C speed; any other value class (the
    multiprocess files' MmapedValue checks for a fork first) through its get()."""
    if all(type(cell) is MutexValue for cell in cells):
        return _IN_PLACE
    return _LOCKED


_IN_PLACE: Callable[[Any], float] = attrgetter("_value")
_LOCKED: Callable[[Any], float] = methodcaller("get")


def histogram_bounds(wrapper: Any) -> list[float]:
    """A histogram's upper bounds, sorted, +Inf last."""
    return list(wrapper._upper_bounds)


def sampled_by_function(children: Sequence[Any]) -> bool:
    """Whether any gauge child has had set_function called: it replaces the child's
    `_child_samples` by an attribute of its own, and only collect() calls the function.
    Checked at every scrape, at C speed, since it can happen at any time."""
    return any(map(contains, map(_INSTANCE_DICT, children), repeat("_child_samples")))


_INSTANCE_DICT = attrgetter("__dict__")  # vars(), at half its cost


def created_samples_enabled() -> bool:
    """Whether metric objects make `_created` samples (PROMETHEUS_DISABLE_CREATED_SERIES,
    disable_created_metrics()): the text format leaves them out, but `name[]` can still
    select a family by them."""
    return bool(client_metrics._use_created)
