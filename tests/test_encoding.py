"""impl/metrics/encoding.py writes exactly what prometheus_client's generate_latest writes.

The property: over random registries (every metric type, label values with quotes,
backslashes, newlines and unicode, NaN, ±Inf, huge and tiny floats, fallbacks such as
set_function, Info, Enum and custom collectors), `encode_text` is byte-identical to
`generate_latest(FamilyView(...))`, the service's previous encoder, and parses to the
families generate_latest gives the registry, less `_created`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    generate_latest,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from impl.metrics.encoding import encode_text
from impl.metrics.exposition import FamilyView
from tests.support.examples import examples

EXTREMES = [0.0, -0.0, 1.0, 0.1, 1e-300, 5e-324, 1e308, -1e308, 1234567.0, 1e16, 123456789012.5]
FLOATS = st.one_of(st.floats(), st.sampled_from(EXTREMES + [math.inf, -math.inf, math.nan]))
COUNTS = st.one_of(st.floats(min_value=0), st.sampled_from([0.0, 1.0, 1e300, math.inf]))
# Quotes, backslashes, newlines, escape look-alikes and non-ASCII, mixed with any text.
LABEL_VALUES = st.one_of(
    st.sampled_from(["", '"', "\\", "\n", "\\n", 'a"b\\c\nd', "ünïcødé", "日本", "🙂", "le"]),
    st.text(max_size=12),
)
# Legacy names and UTF-8 ones, which generate_latest escapes to underscores.
LABEL_NAMES = st.sampled_from(["a", "b", "code", "method", "z_9", "_x", "a.b", "région", "Zed"])
METRIC_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True) | st.sampled_from(
    ["dotted.name", "ünï_metric", "x_total", "y_bucket", "z_created"]
)
SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum", "_info", "_gsum", "_gcount")
DOCS = st.sampled_from(["", "Help.", "back\\slash", "new\nline", 'quote " and ünï'])


class Families(Collector):
    """A custom collector, as a user's exporter would register one."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


Build = Callable[[CollectorRegistry, str], None]


@st.composite
def label_sets(draw: st.DrawFn, names: Sequence[str]) -> list[tuple[str, ...]]:
    values = st.tuples(*(LABEL_VALUES for _ in names))
    return draw(st.lists(values, max_size=4, unique=True))


@st.composite
def wrappers(draw: st.DrawFn) -> Build:
    """A prometheus_client metric object with children and values."""
    kind = draw(st.sampled_from(["counter", "gauge", "histogram", "summary", "info", "enum"]))
    label_names = draw(st.lists(LABEL_NAMES, max_size=3, unique=True))
    children = draw(label_sets(label_names))
    doc = draw(DOCS)
    amounts = draw(st.lists(FLOATS if kind != "counter" else COUNTS, min_size=1, max_size=4))
    bounds = sorted(set(draw(st.lists(st.floats(allow_nan=False), min_size=1, max_size=5))))
    use_function = draw(st.booleans())
    function_value = draw(FLOATS)
    reset = draw(st.booleans())
    info = draw(st.dictionaries(st.sampled_from(["version", "os", "x.y"]), LABEL_VALUES))

    def build(registry: CollectorRegistry, name: str) -> None:
        metric: Counter | Gauge | Histogram | Summary | Info | Enum
        if kind == "counter":
            metric = Counter(name, doc, label_names, registry=registry)
        elif kind == "gauge":
            metric = Gauge(name, doc, label_names, registry=registry)
        elif kind == "histogram":
            metric = Histogram(name, doc, label_names, buckets=bounds, registry=registry)
        elif kind == "summary":
            metric = Summary(name, doc, label_names, registry=registry)
        elif kind == "info":
            metric = Info(name, doc, label_names, registry=registry)
        else:
            metric = Enum(name, doc, label_names, states=["a", "b"], registry=registry)
        for child in children if label_names else [()]:
            target = metric.labels(*child) if label_names else metric
            for amount in amounts:
                if isinstance(target, Counter):
                    target.inc(amount, exemplar={"trace_id": "abc"})
                elif isinstance(target, Gauge):
                    target.set(amount)
                elif isinstance(target, Histogram | Summary):
                    target.observe(amount)
            if isinstance(target, Counter) and reset:
                target.reset()  # stores int 0, which the format prints as 0.0
            if isinstance(target, Gauge) and use_function:
                target.set_function(lambda: function_value)  # not the value last set
            if isinstance(target, Info):
                target.info(info)
            if isinstance(target, Enum):
                target.state("b")

    return build


@st.composite
def custom_families(draw: st.DrawFn) -> Build:
    """A custom collector yielding metrics_core families, timestamps and created included."""
    kind = draw(
        st.sampled_from(
            ["counter", "gauge", "histogram", "summary", "info", "stateset", "gh", "unknown"]
        )
    )
    doc = draw(DOCS)
    labels = draw(LABEL_VALUES)
    value = draw(FLOATS)
    count = draw(COUNTS)
    whole = draw(st.integers(min_value=0, max_value=2**63))
    timestamp = draw(st.none() | st.floats(min_value=0, max_value=4e9))

    def build(registry: CollectorRegistry, name: str) -> None:
        family: Metric
        if kind == "counter":
            family = CounterMetricFamily(name, doc, labels=["l"])
            family.add_metric([labels], count, created=1.5, timestamp=timestamp)
        elif kind == "gauge":
            family = GaugeMetricFamily(name, doc, labels=["l"])
            family.add_metric([labels], value, timestamp=timestamp)
        elif kind == "histogram":
            family = HistogramMetricFamily(name, doc, labels=["l"])
            family.add_metric([labels], [("1.0", 1), ("+Inf", count)], value, timestamp)
        elif kind == "summary":
            family = SummaryMetricFamily(name, doc, labels=["l"])
            family.add_metric([labels], whole, value, timestamp)
        elif kind == "info":
            family = InfoMetricFamily(name, doc, labels=["l"])
            family.add_metric([labels], {"version": labels})
        elif kind == "stateset":
            family = StateSetMetricFamily(name, doc, labels=["l"])
            family.add_metric([labels], {"on": True, "off": False})
        elif kind == "gh":
            family = GaugeHistogramMetricFamily(name, doc, labels=["l"])
            family.add_metric([labels], [("1.0", 1), ("+Inf", 2)], value)
        else:
            family = UnknownMetricFamily(name, doc, labels=["l"])
            family.add_metric([labels], value)
        registry.register(Families([family]))

    return build


@st.composite
def registries(draw: st.DrawFn) -> tuple[CollectorRegistry, list[str]]:
    """A registry of uniquely named metrics, and every name a scraper could ask for."""
    builds = draw(st.lists(wrappers() | custom_families(), max_size=6))
    names = draw(st.lists(METRIC_NAMES, min_size=len(builds), max_size=len(builds), unique=True))
    registry = CollectorRegistry()
    for build, name in zip(builds, names, strict=True):
        try:
            build(registry, name)
        except ValueError:
            continue  # a name the registry or the metric type refuses (a clash, `x_total`...)
    asked = [s.name for f in registry.collect() for s in f.samples] + names
    return registry, asked


def reference(registry: Collector, names: list[str] | None) -> bytes:
    return generate_latest(FamilyView(registry, names, drop_created=True))


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registries())
def test_byte_identical_to_generate_latest(built: tuple[CollectorRegistry, list[str]]) -> None:
    registry, _ = built
    assert encode_text(registry) == reference(registry, None)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registries(), st.data())
def test_name_filter_byte_identical(
    built: tuple[CollectorRegistry, list[str]], data: st.DataObject
) -> None:
    registry, asked = built
    suffixed = [n + suffix for n in asked for suffix in SUFFIXES]
    pool = asked + suffixed + ["absent"]
    names = data.draw(st.lists(st.sampled_from(pool), max_size=4))
    assert encode_text(registry, names) == reference(registry, names)
    for name in set(pool):  # every single name, so no selection rule is left to chance
        assert encode_text(registry, [name]) == reference(registry, [name]), name


def comparable(body: bytes, drop_created: bool) -> list[tuple[object, ...]]:
    """Families as tuples, NaN made comparable; optionally without `_created` samples."""
    result = []
    for family in text_string_to_metric_families(body.decode("utf-8")):
        if drop_created and family.type == "gauge" and family.name.endswith("_created"):
            continue  # generate_latest's separate gauge family for a parent's `_created`
        samples = tuple(
            (s.name, tuple(sorted(s.labels.items())), repr(s.value), s.timestamp)
            for s in family.samples
            if not (drop_created and s.name.endswith("_created"))
        )
        result.append((family.name, family.type, family.documentation, samples))
    return sorted(result, key=lambda family: str(family[0]))


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registries())
def test_parses_to_generate_latest_families(built: tuple[CollectorRegistry, list[str]]) -> None:
    registry, _ = built
    # A family of its own named `*_created` would be indistinguishable from the ones
    # generate_latest splits off a parent, so such registries are left to the tests above.
    collected = [f.name for f in registry.collect()]
    assume(not any(name.endswith("_created") for name in collected))
    # Two collectors may yield a family of the same name (the registry only checks
    # collectors that describe themselves); both encoders then write two blocks, which
    # the parser reads as one family or two depending on what lies between them.
    assume(len(set(collected)) == len(collected))
    assert comparable(encode_text(registry), False) == comparable(generate_latest(registry), True)


def test_every_increment_before_a_scrape_is_in_it() -> None:
    registry = CollectorRegistry()
    counter = Counter("events", "Events.", ["kind"], registry=registry)
    histogram = Histogram("sizes", "Sizes.", registry=registry)
    for done in range(1, 50):
        counter.labels("a").inc()
        histogram.observe(done)
        body = encode_text(registry).decode()
        assert f'events_total{{kind="a"}} {float(done)}\n' in body
        assert f"sizes_count {float(done)}\n" in body


def test_concurrent_scrapes_never_miss_an_earlier_increment() -> None:
    registry = CollectorRegistry()
    counter = Counter("events", "Events.", registry=registry)
    stop = threading.Event()

    def increment() -> None:
        while not stop.is_set():
            counter.inc()

    worker = threading.Thread(target=increment)
    worker.start()
    try:
        previous = 0.0
        for _ in range(200):
            before = counter._value.get()  # every increment that happened before this scrape
            body = encode_text(registry).decode()
            seen = float(body.split("\nevents_total ", 1)[1].split("\n", 1)[0])
            assert seen >= before >= previous
            previous = seen
    finally:
        stop.set()
        worker.join()
