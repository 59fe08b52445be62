"""What MultiProcessCollector computes, planned once per set of keys, evaluated per scrape.

MultiProcessCollector decodes, groups and merges everything at every collection. Here
the plan (`Planner.build`: which values make which line, and each line's text up to its
value) depends only on the sources' keys (the archive's groups and the files), so it is
rebuilt only when a key appears; a scrape evaluates it (`PlannedFamily.values`, or line
by line, `.value_of` and `.run_values`, for the lines whose values changed: kept.py).

The rules are MultiProcessCollector's, source by source in order (the archive's groups,
then the files as listed): counters, summaries, histograms and gauges `sum` add (from
0.0); gauges `min`/`max` keep the first smallest/largest; `mostrecent` the value with the
latest timestamp after 0; `all` the last value, per pid. A histogram series' buckets are
added per bound, then accumulated in bound order, and its `_count` is the last bucket.
Family type, help and gauge mode come from the first source holding the family (the
mode: the last), as there.

Only the order differs, so as not to depend on the directory's listing order: families
by name (as every format of the service), series by their label pairs, and within a
series a histogram's buckets, `_count`, `_sum` (the single-process order, where
MultiProcessCollector puts `_sum` first), a summary's `_count`, `_sum`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import escape_label_name, escape_metric_name
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from impl.metrics.encoding import escape_value, help_line
from impl.metrics.multiprocess.files import Key, Labels, SourceKeys

# prometheus_client's own float formatting (Go's style), left unannotated upstream.
go_float: Callable[[float], str] = floatToGoString


class Line(NamedTuple):
    sample: str
    labels: Labels  # sorted by name, `le` and `pid` included
    prefix: str  # the line's text before its value


@dataclass
class Series:
    """One label set of a family: per sample (bucket), the indices of its values."""

    samples: dict[str, list[int]] = field(default_factory=dict)
    buckets: dict[float, list[int]] = field(default_factory=dict)  # histograms


@dataclass
class _Family:
    name: str
    type: str
    help: str
    mode: str = ""  # gauges' multiprocess mode
    series: dict[Labels, Series] = field(default_factory=dict)


@dataclass
class PlannedFamily:
    """A family's lines in output order, with the indices and the rule for each."""

    name: str
    type: str
    help: str
    header: str
    lines: list[Line]
    indices: list[tuple[int, ...]]
    rule: str  # sum, min, max, mostrecent, last, histogram
    bucket_runs: list[tuple[int, int]]  # per histogram series: (first line, buckets)
    sample_names: frozenset[str]

    def values(self, values: Sequence[float], stamps: Sequence[float]) -> list[float | None]:
        """Every line's current value; None for a `mostrecent` gauge never set with a timestamp."""
        rule = self.rule
        if rule != "sum" and rule != "histogram":
            return [_chosen(rule, indices, values, stamps) for indices in self.indices]
        out: list[float | None] = [_sum(indices, values) for indices in self.indices]
        for first, count in self.bucket_runs:
            out[first : first + count + 1] = self.run_values(first, count, values)
        return out

    def value_of(self, line: int, values: Sequence[float], stamps: Sequence[float]) -> float | None:
        """One line's current value, as `values` gives it; not for a histogram's buckets
        and `_count` (`run_values`)."""
        rule, indices = self.rule, self.indices[line]
        if rule != "sum" and rule != "histogram":
            return _chosen(rule, indices, values, stamps)
        return _sum(indices, values)

    def run_values(self, first: int, count: int, values: Sequence[float]) -> list[float]:
        """A histogram series' buckets, accumulated in bound order, then its `_count`."""
        out, running = [], 0.0
        for at in range(first, first + count):
            running += _sum(self.indices[at], values)
            out.append(running)
        out.append(running)  # `_count`
        return out

    def metric(self, values: Sequence[float | None]) -> Metric:
        metric = Metric(self.name, self.help, self.type)
        metric.samples = [
            Sample(line.sample, dict(line.labels), value)
            for line, value in zip(self.lines, values, strict=True)
            if value is not None
        ]
        return metric


def _sum(indices: tuple[int, ...], values: Sequence[float]) -> float:
    total = 0.0  # from 0.0, in source order, as there: the same float every time
    for index in indices:
        total += values[index]
    return total


def _chosen(
    rule: str, indices: tuple[int, ...], values: Sequence[float], stamps: Sequence[float]
) -> float | None:
    """The value a gauge's rule picks among a line's values."""
    if rule == "mostrecent":
        return _most_recent(indices, values, stamps)
    if rule == "min":  # the first smallest, as there
        return values[min(indices, key=values.__getitem__)]
    if rule == "max":
        return values[max(indices, key=values.__getitem__)]
    return values[indices[-1]]  # last


def _most_recent(
    indices: tuple[int, ...], values: Sequence[float], stamps: Sequence[float]
) -> float | None:
    latest, chosen = 0.0, None
    for index in indices:
        if latest < stamps[index]:
            latest, chosen = stamps[index], values[index]
    return chosen


class Plan(NamedTuple):
    families: list[PlannedFamily]
    needs_stamps: bool


class Planner:
    """Builds plans, keeping each line's text: a rebuild renders only the lines that are new."""

    def __init__(self) -> None:
        self._lines: dict[tuple[str, Labels, float | None], Line] = {}
        self._used: dict[tuple[str, Labels, float | None], Line] = {}

    def build(self, sources: Sequence[SourceKeys]) -> Plan:
        """The plan for `sources`, whose values will be concatenated in this order."""
        families: dict[str, _Family] = {}
        index = 0
        for source in sources:
            kind, _, mode = source.kind.partition("_")
            for key in source.keys:
                family = families.get(key.metric)
                if family is None:
                    family = families[key.metric] = _Family(key.metric, kind, key.help)
                if kind == "gauge":
                    family.mode = mode
                _place(family, key, source.pid, index)
                index += 1
        planned = [_plan(family, self._line) for family in families.values()]
        self._lines, self._used = self._used, {}
        return Plan(planned, any(family.rule == "mostrecent" for family in planned))

    def _line(self, sample: str, labels: Labels, bound: float | None) -> Line:
        key = (sample, labels, bound)
        line = self._lines.get(key)
        if line is None:
            if bound is not None:
                labels = tuple(sorted((*labels, ("le", go_float(bound)))))
            name = escape_metric_name(sample)
            text = ",".join(f'{escape_label_name(k)}="{escape_value(v)}"' for k, v in labels)
            line = Line(sample, labels, f"{name}{{{text}}} " if labels else f"{name} ")
        self._used[key] = line
        return line


def _place(family: _Family, key: Key, pid: str, index: int) -> None:
    bound = key.bound if family.type == "histogram" else None  # a bucket's
    labels = key.labels if bound is None else key.without_le
    if family.type == "gauge":
        # Where the mode drops the pid, a label so named goes too (as there).
        labels = tuple(sorted((*labels, ("pid", pid))))
    series = family.series.get(labels)
    if series is None:
        series = family.series[labels] = Series()
    if bound is None:
        series.samples.setdefault(key.sample, []).append(index)
    else:
        series.buckets.setdefault(bound, []).append(index)


def _plan(family: _Family, line: Callable[[str, Labels, float | None], Line]) -> PlannedFamily:
    rule = "histogram" if family.type == "histogram" else "sum"
    if family.type == "gauge":
        mode = family.mode.removeprefix("live")
        rule = mode if mode in ("min", "max", "sum", "mostrecent") else "last"
    drop_pid = family.type == "gauge" and rule != "last"  # the modes that drop it
    series = _without_pid(family) if drop_pid else family.series
    lines: list[Line] = []
    indices: list[tuple[int, ...]] = []
    runs: list[tuple[int, int]] = []
    for labels in sorted(series):
        one = series[labels]
        if one.buckets:
            runs.append((len(lines), len(one.buckets)))
            for bound in sorted(one.buckets):
                lines.append(line(family.name + "_bucket", labels, bound))
                indices.append(tuple(one.buckets[bound]))
            lines.append(line(family.name + "_count", labels, None))
            indices.append(())
        for sample in sorted(one.samples, key=lambda name: _rank(family, name)):
            lines.append(line(sample, labels, None))
            indices.append(tuple(one.samples[sample]))
    shown = family.name + "_total" if family.type == "counter" else family.name
    exposed = escape_metric_name(shown)
    header = help_line(exposed, family.help) + f"# TYPE {exposed} {family.type}\n"
    return PlannedFamily(
        family.name,
        family.type,
        family.help,
        header,
        lines,
        indices,
        rule,
        runs,
        frozenset(line.sample for line in lines),
    )


def _without_pid(family: _Family) -> dict[Labels, Series]:
    merged: dict[Labels, Series] = {}
    for labels, one in family.series.items():
        target = merged.setdefault(tuple(pair for pair in labels if pair[0] != "pid"), Series())
        for sample, indices in one.samples.items():
            target.samples.setdefault(sample, []).extend(indices)
    for one in merged.values():
        for indices in one.samples.values():
            indices.sort()  # sources in order, as read
    return merged


def _rank(family: _Family, sample: str) -> tuple[int, str]:
    if family.type == "histogram" and sample == family.name + "_sum":
        return (1, sample)
    if family.type == "summary":
        order = {family.name + "_count": 0, family.name + "_sum": 1}
        return (order.get(sample, 2), sample)
    return (0, sample)
