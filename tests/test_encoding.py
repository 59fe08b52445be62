"""impl/metrics/encoding.py writes exactly what prometheus_client's generate_latest writes.

The property: over random registries (every metric type, label values with quotes,
backslashes, newlines and unicode, NaN, ±Inf, huge and tiny floats, fallbacks such as
set_function, Info, Enum and custom collectors), `encode_text` is byte-identical to
`generate_latest(FamilyView(...))`, the service's previous encoder, and parses to the
families generate_latest gives the registry, less `_created`.
"""

from __future__ import annotations

import math
import sys
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
from impl.metrics.kept_text import CELLS_PER_READ
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
    # A histogram needs a bound besides +Inf (prometheus_client refuses [+Inf] alone).
    bounds = sorted(
        set(
            draw(
                st.lists(st.floats(allow_nan=False), min_size=1, max_size=5).filter(
                    lambda drawn: set(drawn) != {math.inf}
                )
            )
        )
    )
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
            # Every increment that happened before this scrape, read the public way.
            before = registry.get_sample_value("events_total") or 0.0
            body = encode_text(registry).decode()
            seen = float(body.split("\nevents_total ", 1)[1].split("\n", 1)[0])
            assert seen >= before >= previous
            previous = seen
    finally:
        stop.set()
        worker.join()


# --- the text kept between scrapes: mutation, then a scrape, again and again ----------

FAST_KINDS = ("counter", "gauge", "histogram", "summary")
# A child's label value: few, so that changes often land on children already scraped;
# spaces too, which come before a line's value.
CHILD_VALUES = st.sampled_from(["", "a", 'q"', "b\\s", "n\nl", "ü", "a b", "1 2.0"])


class History:
    """A registry changed step by step as a program would change its metrics, with
    what it holds (metric objects by name, the label values of their children)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics: dict[str, Counter | Gauge | Histogram | Summary] = {}
        self.label_names: dict[str, list[str]] = {}
        self.children: dict[str, list[tuple[str, ...]]] = {}
        self.made = 0

    def add(self, data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(FAST_KINDS))
        names = data.draw(
            st.lists(LABEL_NAMES.filter(lambda n: n != "le"), max_size=2, unique=True)
        )
        name = f"m{self.made}_{kind}"
        self.made += 1
        doc = data.draw(DOCS)
        metric: Counter | Gauge | Histogram | Summary
        if kind == "counter":
            metric = Counter(name, doc, names, registry=self.registry)
        elif kind == "gauge":
            metric = Gauge(name, doc, names, registry=self.registry)
        elif kind == "summary":
            metric = Summary(name, doc, names, registry=self.registry)
        else:
            # A histogram needs a bound besides +Inf (prometheus_client refuses [+Inf] alone).
            bounds = data.draw(
                st.lists(st.floats(allow_nan=False), min_size=1, max_size=4).filter(
                    lambda drawn: set(drawn) != {math.inf}
                )
            )
            metric = Histogram(
                name, doc, names, buckets=sorted(set(bounds)), registry=self.registry
            )
        self.metrics[name] = metric
        self.label_names[name] = names
        self.children[name] = [] if names else [()]

    def child(self, data: st.DataObject, name: str) -> Counter | Gauge | Histogram | Summary:
        """An existing child or, now and then, a new one."""
        metric = self.metrics[name]
        if not self.label_names[name]:
            return metric
        known = self.children[name]
        reuse: bool = data.draw(st.booleans())
        if known and reuse:
            key = data.draw(st.sampled_from(known))
        else:
            key = tuple(data.draw(CHILD_VALUES) for _ in self.label_names[name])
            if key not in known:
                known.append(key)
        return metric.labels(*key)

    def step(self, data: st.DataObject) -> str:
        """One change, drawn; returns what it was, for the failure report."""
        if not self.metrics or data.draw(st.integers(0, 9)) == 0:
            self.add(data)
            return "new metric"
        name = data.draw(st.sampled_from(sorted(self.metrics)))
        metric = self.metrics[name]
        action = data.draw(
            st.sampled_from(
                ["value", "value", "value", "same", "remove", "clear", "unregister", "function"]
            )
        )
        if action == "same":
            return "nothing"  # scraped again unchanged: the kept bytes must still be right
        if action == "remove" and self.children[name] and self.label_names[name]:
            key = data.draw(st.sampled_from(self.children[name]))
            metric.remove(*key)
            self.children[name].remove(key)
            return f"remove {name}{key}"
        if action == "clear" and self.label_names[name]:
            metric.clear()
            self.children[name] = []
            return f"clear {name}"
        if action == "unregister":
            self.registry.unregister(metric)
            del self.metrics[name]
            return f"unregister {name}"
        child = self.child(data, name)
        if isinstance(child, Gauge) and action == "function":
            value = data.draw(FLOATS)
            child.set_function(lambda: value)
            return f"set_function {name}"
        if isinstance(child, Counter):
            if data.draw(st.integers(0, 5)) == 0:
                child.reset()
                return f"reset {name}"
            child.inc(data.draw(COUNTS))
        elif isinstance(child, Gauge):
            child.set(data.draw(FLOATS))
        else:
            child.observe(data.draw(FLOATS))
        return f"value {name}"


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_byte_identical_after_every_change_between_scrapes(data: st.DataObject) -> None:
    """Values changed, children added, removed and cleared, metrics registered and
    unregistered, a custom collector among them: every scrape still equals
    generate_latest's, filtered ones too."""
    history = History()
    history.registry.register(Families([GaugeMetricFamily("m_custom", "Custom.", value=1.5)]))
    steps = []
    for _ in range(data.draw(st.integers(1, 40))):
        steps.append(history.step(data))
        assert encode_text(history.registry) == reference(history.registry, None), steps
        if data.draw(st.integers(0, 4)) == 0:
            asked = data.draw(st.lists(st.sampled_from([*history.metrics, "m_custom"]), max_size=2))
            assert encode_text(history.registry, asked) == reference(history.registry, asked)


def test_same_value_again_and_a_signed_zero_are_written_as_now() -> None:
    """Identity, not equality, decides what is kept: 0.0 == -0.0 but their text differs."""
    registry = CollectorRegistry()
    gauge = Gauge("level", "Level.", registry=registry)
    for value in (-0.0, 0.0, -0.0, math.nan, math.nan, 5.0, 5.0, 1e6, 999999.5, math.inf):
        gauge.set(value)
        assert encode_text(registry) == reference(registry, None), value


def test_a_family_larger_than_one_read_is_written_as_now_after_changes() -> None:
    """A family of more children than one read of cells takes (CELLS_PER_READ): values
    changed on either side of each boundary between reads, and children added."""
    registry = CollectorRegistry()
    counter = Counter("events", "Events.", ["n"], registry=registry)
    histogram = Histogram("seconds", "Seconds.", ["n"], buckets=(1.0,), registry=registry)
    children = 2 * CELLS_PER_READ + 5
    for n in range(children):
        counter.labels(str(n)).inc(n)
        histogram.labels(str(n))
    assert encode_text(registry) == reference(registry, None)
    for boundary in (CELLS_PER_READ, 2 * CELLS_PER_READ):
        for n in (boundary - 1, boundary, boundary + 1):
            counter.labels(str(n)).inc(0.5)
            histogram.labels(str(n // 3)).observe(0.5)  # several cells a child: other boundaries
        counter.labels(f"new {boundary}").inc()
        assert encode_text(registry) == reference(registry, None), boundary


def test_set_function_on_a_child_beyond_the_first_check_is_seen() -> None:
    """set_function is looked for a few thousand children at a time: the last child of a
    large gauge counts as much as the first."""
    registry = CollectorRegistry()
    gauge = Gauge("level", "Level.", ["n"], registry=registry)
    for n in range(2 * CELLS_PER_READ + 5):
        gauge.labels(str(n)).set(n)
    assert encode_text(registry) == reference(registry, None)
    gauge.labels(str(2 * CELLS_PER_READ + 4)).set_function(lambda: 42.0)
    assert b'level{n="8196"} 42.0' in encode_text(registry)
    assert encode_text(registry) == reference(registry, None)


def test_a_registered_metric_object_registered_again_is_written_as_now() -> None:
    registry = CollectorRegistry()
    counter = Counter("events", "Events.", ["kind"], registry=registry)
    counter.labels("a").inc()
    encode_text(registry)
    registry.unregister(counter)
    counter.labels("b").inc(2)
    counter.remove("a")
    assert encode_text(registry) == b""
    registry.register(counter)
    other = CollectorRegistry()
    other.register(counter)  # one object in two registries: one kept text serves both
    assert encode_text(registry) == reference(registry, None) == encode_text(other)


def test_scrapes_in_several_threads_agree_with_generate_latest() -> None:
    """encode_text from several threads at once while another thread adds, changes and
    removes children: every scrape parses, none misses an increment made before it
    began, and once changes stop every thread's scrape equals generate_latest's (a text
    kept wrong by a race would stay wrong)."""
    registry = CollectorRegistry()
    steady = Counter("steady", "Only increments.", registry=registry)
    counter = Counter("events", "Events.", ["kind"], registry=registry)
    gauge = Gauge("level", "Level.", ["shard"], registry=registry)
    histogram = Histogram("sizes", "Sizes.", ["kind"], buckets=(1, 10, 100), registry=registry)
    summary = Summary("waits", "Waits.", ["kind"], registry=registry)
    stop = threading.Event()

    def change() -> None:
        step = 0
        while not stop.is_set():
            step += 1
            kind = str(step % 37)
            steady.inc()
            counter.labels(kind).inc(step % 5)
            gauge.labels(str(step % 11)).set(step / 7)
            histogram.labels(kind).observe(step % 150)
            summary.labels(kind).observe(step)
            if step % 13 == 0:
                counter.remove(kind)
                histogram.remove(kind)
            if step % 101 == 0:
                gauge.clear()

    failures: list[str] = []
    scrapes_per_thread = 60

    def scrape() -> None:
        for _ in range(scrapes_per_thread):
            before = registry.get_sample_value("steady_total") or 0.0
            body = encode_text(registry).decode()
            parsed = {f.name: f for f in text_string_to_metric_families(body)}
            if set(parsed) != {"steady", "events", "level", "sizes", "waits"}:
                failures.append(f"families {sorted(parsed)}")
            seen = parsed["steady"].samples[0].value
            if seen < before:
                failures.append(f"steady_total {seen} after {before}")

    changer = threading.Thread(target=change)
    scrapers = [threading.Thread(target=scrape) for _ in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads take turns inside a scrape, not between scrapes
    try:
        changer.start()
        for thread in scrapers:
            thread.start()
        for thread in scrapers:
            thread.join()
    finally:
        stop.set()
        changer.join()
        sys.setswitchinterval(interval)
    assert failures == []

    expected = reference(registry, None)
    results: list[bytes] = []
    barrier = threading.Barrier(4)

    def final() -> None:
        barrier.wait()
        results.append(encode_text(registry))

    finals = [threading.Thread(target=final) for _ in range(4)]
    for thread in finals:
        thread.start()
    for thread in finals:
        thread.join()
    assert results == [expected] * 4
