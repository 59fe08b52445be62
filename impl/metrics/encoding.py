"""The text format 0.0.4 as /metrics serves it: exactly the bytes of
`generate_latest(FamilyView(registry, names, drop_created=True))` (tests/test_encoding.py
proves it over random registries), about 4x faster at 10k-100k samples (bench/results/).

Profiled, `generate_latest` spends a third to a half of its time in `collect()`, building
a `Sample` and a label dict per sample, and most of the rest re-sorting and re-escaping
label sets sample by sample. For prometheus_client's own Counter, Gauge, Histogram and
Summary, each child's value is read and its line written directly, label names sorted
once per family. Everything else (custom collectors, Info, Enum, subclasses, gauges with
`set_function`, registries with target_info) goes through `generate_latest`, one family
at a time, so the two paths only differ in speed. The internals read (`_metrics`,
`_value`, ...) are those of the prometheus_client pinned in pyproject.toml; the property
test fails on any drift.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from prometheus_client import metrics as client_metrics
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics import Counter, Gauge, Histogram, Summary
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import escape_label_name, escape_metric_name
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from impl.metrics.names import selects, wanted_names

# prometheus_client's own float formatting (Go's style), left unannotated upstream.
_go_float: Callable[[float], str] = floatToGoString
# Exact classes only: a subclass may override how its samples are made.
_FAST_TYPES: tuple[type, ...] = (Counter, Gauge, Histogram, Summary)
# Types whose `_created` samples the text format leaves out (influxd has none).
_CREATED_TYPES = frozenset({"counter", "histogram", "summary"})


def escape_value(value: str) -> str:
    """A label value as generate_latest escapes it."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def help_line(name: str, documentation: str) -> str:
    escaped = documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {escaped}\n"


class _Single(Collector):
    """One already-collected family, for encoding it with generate_latest."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterator[Metric]:
        yield self._family


def _encode_generic(family: Metric, wanted: frozenset[str] | None) -> bytes:
    if not selects(wanted, family.name, (s.name for s in family.samples)):
        return b""
    if family.type in _CREATED_TYPES:
        kept = Metric(family.name, family.documentation, family.type, family.unit)
        kept.samples = [s for s in family.samples if not s.name.endswith("_created")]
        family = kept
    return generate_latest(_Single(family))


class _Labels:
    """The label names of one wrapper, escaped and in the order the format sorts them."""

    def __init__(self, names: Sequence[str], extra: str | None = None) -> None:
        # generate_latest sorts each sample's labels by raw name; a family's are fixed: sort once.
        self.order = sorted(range(len(names)), key=names.__getitem__)
        self.prefixes = [f'{escape_label_name(names[i])}="' for i in self.order]
        # Where `le` (a histogram's bucket label) falls among the sorted names.
        ordered = [names[i] for i in self.order]
        self.extra_at = bisect_left(ordered, extra) if extra is not None else 0

    def parts(self, values: Sequence[str]) -> list[str]:
        return [
            f'{prefix}{escape_value(values[i])}"'
            for prefix, i in zip(self.prefixes, self.order, strict=True)
        ]


def _children(wrapper: Any) -> list[tuple[tuple[str, ...], Any]]:
    """A snapshot of (label values, child), taken under the wrapper's lock."""
    if not wrapper._labelnames:
        return [((), wrapper)]
    with wrapper._lock:
        return list(wrapper._metrics.items())


def _sample_names(wrapper: Any) -> tuple[str, ...]:
    name: str = wrapper._name
    created = (name + "_created",) if client_metrics._use_created else ()
    if wrapper._type == "counter":
        return (name + "_total", *created)
    if wrapper._type == "gauge":
        return (name,)
    if wrapper._type == "summary":
        return (name + "_count", name + "_sum", *created)
    sums = (name + "_sum",) if wrapper._upper_bounds[0] >= 0 else ()
    return (name + "_bucket", name + "_count", *sums, *created)


def _header(wrapper: Any, exposed_name: str) -> str:
    exposed = escape_metric_name(exposed_name)
    return help_line(exposed, wrapper._documentation) + f"# TYPE {exposed} {wrapper._type}\n"


def _encode_single_values(wrapper: Any, children: list[Any], suffix: str) -> str:
    """Counters and gauges: one sample per child."""
    name = escape_metric_name(wrapper._name + suffix)
    lines = [_header(wrapper, wrapper._name + suffix)]
    append = lines.append
    labels = _Labels(wrapper._labelnames)
    for values, child in children:
        value = _go_float(child._value.get())
        if values:
            append(f"{name}{{{','.join(labels.parts(values))}}} {value}\n")
        else:
            append(f"{name} {value}\n")
    return "".join(lines)


def _encode_summary(wrapper: Any, children: list[Any]) -> str:
    count_name = escape_metric_name(wrapper._name + "_count")
    sum_name = escape_metric_name(wrapper._name + "_sum")
    lines = [_header(wrapper, wrapper._name)]
    append = lines.append
    labels = _Labels(wrapper._labelnames)
    for values, child in children:
        label_text = "{" + ",".join(labels.parts(values)) + "}" if values else ""
        append(f"{count_name}{label_text} {_go_float(child._count.get())}\n")
        append(f"{sum_name}{label_text} {_go_float(child._sum.get())}\n")
    return "".join(lines)


def _encode_histogram(wrapper: Any, children: list[Any]) -> str:
    name: str = wrapper._name
    bucket_name = escape_metric_name(name + "_bucket")
    count_name = escape_metric_name(name + "_count")
    sum_name = escape_metric_name(name + "_sum")
    with_sum = wrapper._upper_bounds[0] >= 0
    bounds = [f'le="{_go_float(bound)}"' for bound in wrapper._upper_bounds]
    lines = [_header(wrapper, name)]
    append = lines.append
    labels = _Labels(wrapper._labelnames, extra="le")
    at = labels.extra_at
    for values, child in children:
        parts = labels.parts(values)
        before = ",".join(parts[:at]) + "," if at else ""
        after = "," + ",".join(parts[at:]) if at < len(parts) else ""
        cumulative = 0.0
        for bound, bucket in zip(bounds, child._buckets, strict=True):
            cumulative += bucket.get()
            append(f"{bucket_name}{{{before}{bound}{after}}} {_go_float(cumulative)}\n")
        label_text = "{" + ",".join(parts) + "}" if parts else ""
        append(f"{count_name}{label_text} {_go_float(cumulative)}\n")
        if with_sum:
            append(f"{sum_name}{label_text} {_go_float(child._sum.get())}\n")
    return "".join(lines)


def _encode_wrapper(wrapper: Any, wanted: frozenset[str] | None) -> bytes:
    children = _children(wrapper)
    if wanted is not None and not selects(
        wanted, wrapper._name, _sample_names(wrapper) if children else ()
    ):
        return b""
    kind = wrapper._type
    if kind == "gauge" and any("_child_samples" in vars(child) for _, child in children):
        # set_function replaces a child's sampling: only collect() knows its value.
        return b"".join(_encode_generic(family, wanted) for family in wrapper.collect())
    if kind == "summary":
        text = _encode_summary(wrapper, children)
    elif kind == "histogram":
        text = _encode_histogram(wrapper, children)
    else:
        text = _encode_single_values(wrapper, children, "_total" if kind == "counter" else "")
    return text.encode("utf-8")


class EncodedFamily(ABC):
    """A family that writes its own text: what a collector's `text_families()` may
    return beside collected families (impl/metrics/multiprocess/collectors.py does, for the
    merged multiprocess families). Its bytes must be what generate_latest writes."""

    name: str

    @abstractmethod
    def encode(self, wanted: frozenset[str] | None) -> bytes:
        """The family's text, HELP and TYPE included; empty when `wanted` leaves it out."""


def _sources(registry: Collector) -> list[tuple[str, Any]]:
    """(family name, wrapper or collected family) in generate_latest's order, sorted."""
    collectors: list[Collector]
    if type(registry) is CollectorRegistry and not registry._target_info:
        with registry._lock:
            collectors = list(registry._collector_to_names)
    else:
        collectors = [registry]
    sources: list[tuple[str, Any]] = []
    for collector in collectors:
        if type(collector) in _FAST_TYPES:
            sources.append((collector._name, collector))  # type: ignore[attr-defined]
        else:
            text_families = getattr(collector, "text_families", None)
            families = collector.collect() if text_families is None else text_families()
            sources.extend((family.name, family) for family in families)
    # Stable, like FamilyView's sorted(): same-named families keep collection order.
    sources.sort(key=itemgetter(0))
    return sources


def encode_text(registry: Collector, names: Iterable[str] | None = None) -> bytes:
    """The text format of `registry`, without `_created`, restricted to `names`."""
    wanted = wanted_names(names)
    chunks = [
        _encode_generic(source, wanted)
        if isinstance(source, Metric)
        else source.encode(wanted)
        if isinstance(source, EncodedFamily)
        else _encode_wrapper(source, wanted)
        for _, source in _sources(registry)
    ]
    return b"".join(chunks)
