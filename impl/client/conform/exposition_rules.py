"""The rules a scraper relies on in a metrics body, checked on families already parsed
(parsing.py) and on their raw metadata lines: prometheus_client's text parser is
lenient, so what promtool lints and what the format states are checked here.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric

from impl.client.conform.parsing import (
    Parsed,
    exposed_name,
    media_type_parameters,
    parse_openmetrics,
)

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
HISTOGRAM_TYPES = ("histogram", "gaugehistogram")
MAX_PROBLEMS = 8  # per rule: enough to act on, short enough to read
TEXT_VERSION = "0.0.4"
OPENMETRICS_VERSIONS = ("1.0.0", "0.0.1")
EOF_LINE = "# EOF"
MAX_EXEMPLAR_LABEL_CHARS = 128  # OpenMetrics 1.0: the exemplar's label set, names and values


def _limited(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], f"and {len(problems) - MAX_PROBLEMS} more"]


def help_type_problems(parsed: Parsed) -> list[str]:
    problems = []
    for family in parsed.families:
        names = {family.name, exposed_name(family)}
        missing = [
            kind
            for kind, seen in (("HELP", parsed.help_names), ("TYPE", set(parsed.types)))
            if not names & seen
        ]
        if missing:
            problems.append(f"{exposed_name(family)} has no {' and no '.join(missing)} line")
    return _limited(problems)


def name_problems(parsed: Parsed) -> list[str]:
    problems: list[str] = []
    for family in parsed.families:
        for sample in family.samples:
            if not METRIC_NAME.match(sample.name):
                problems.append(f"invalid metric name {sample.name!r}")
            for label in sample.labels:
                if not LABEL_NAME.match(label):
                    problems.append(f"{sample.name}: invalid label name {label!r}")
                elif label.startswith("__"):
                    problems.append(f"{sample.name}: label name {label!r} is reserved (__)")
    return _limited(list(dict.fromkeys(problems)))


def counter_total_problems(parsed: Parsed) -> list[str]:
    """promtool's rule, on the TYPE lines: the parser would add a missing `_total`.
    OpenMetrics names a counter family without it, by definition."""
    if parsed.openmetrics:
        return []
    return _limited(
        [
            f"counter {name} does not end in _total"
            for name, kind in parsed.types.items()
            if kind == "counter" and not name.endswith("_total")
        ]
    )


def _bound(le: str) -> float | None:
    try:
        return float(le)
    except ValueError:
        return None


@dataclass
class HistogramProblems:
    cumulative: list[str] = field(default_factory=list)
    inf: list[str] = field(default_factory=list)
    count: list[str] = field(default_factory=list)


def histogram_problems(parsed: Parsed) -> HistogramProblems:
    found = HistogramProblems()
    for family in parsed.families:
        if family.type not in HISTOGRAM_TYPES:
            continue
        # Per series (the labels but `le`): its buckets, and its _count samples.
        series: dict[str, tuple[list[tuple[str, float]], list[float]]] = {}
        for sample in family.samples:
            others = sorted((k, v) for k, v in sample.labels.items() if k != "le")
            key = "{" + ",".join(f'{k}="{v}"' for k, v in others) + "}" if others else ""
            buckets, counts = series.setdefault(key, ([], []))
            if sample.name.endswith("_bucket"):
                buckets.append((sample.labels.get("le", ""), sample.value))
            elif sample.name.endswith(("_count", "_gcount")):
                counts.append(sample.value)
        for labels, (buckets, counts) in series.items():
            _judge_series(family.name + labels, buckets, counts[-1:], found)
    return HistogramProblems(_limited(found.cumulative), _limited(found.inf), _limited(found.count))


def _judge_series(
    where: str, buckets: list[tuple[str, float]], count: list[float], found: HistogramProblems
) -> None:
    bounds = [(_bound(le), le, value) for le, value in buckets]
    invalid = [le for bound, le, _ in bounds if bound is None or math.isnan(bound)]
    if invalid:
        found.cumulative.append(f"{where}: le {invalid[0]!r} is not a number")
        return
    ordered = sorted((bound, le, value) for bound, le, value in bounds if bound is not None)
    for (_, low_le, low), (_, high_le, high) in itertools.pairwise(ordered):
        if high < low:
            found.cumulative.append(
                f"{where}: bucket le={high_le} ({high:g}) is below le={low_le} ({low:g})"
            )
            break
    if not ordered or ordered[-1][0] != math.inf:
        found.inf.append(f'{where}: no le="+Inf" bucket')
    elif not count:
        found.count.append(f"{where}: no _count sample")
    elif count[0] != ordered[-1][2]:
        found.count.append(f"{where}: _count is {count[0]:g}, the +Inf bucket {ordered[-1][2]:g}")


def content_type_problems(content_type: str, media_type: str) -> list[str]:
    """The format version the media type names (influxd: text 0.0.4)."""
    version = media_type_parameters(content_type).get("version")
    if media_type == "text/plain" and version != TEXT_VERSION:
        return [f"{content_type}: text/plain without version={TEXT_VERSION}"]
    if media_type == "application/openmetrics-text" and version not in OPENMETRICS_VERSIONS:
        return [f"{content_type}: OpenMetrics without version=1.0.0"]
    return []


def openmetrics_problems(text: str, content_type: str) -> list[str]:
    problems = content_type_problems(content_type, "application/openmetrics-text")
    lines = text.splitlines()
    if not lines or lines[-1] != EOF_LINE:
        problems.append("the body does not end with the line # EOF")
    parsed = parse_openmetrics(text)
    if parsed.error:
        problems.append(f"OpenMetrics parser: {parsed.error}")
    return problems


def exemplar_problems(families: Iterable[Metric]) -> tuple[int, list[str]]:
    """How many exemplars there are, and what is wrong with them: an exemplar must sit
    on a counter's `_total` or a bucket, and its value must fall inside that bucket."""
    seen, problems = 0, []
    for family in families:
        previous_le = -math.inf
        for sample in family.samples:
            name, exemplar = sample.name, sample.exemplar
            bound = _bound(sample.labels.get("le", "")) if name.endswith("_bucket") else None
            if exemplar is not None:
                seen += 1
                labels = exemplar.labels
                if not name.endswith(("_bucket", "_total")):
                    problems.append(
                        f"{name}: an exemplar on a sample that is neither a bucket nor a counter"
                    )
                if sum(len(k) + len(v) for k, v in labels.items()) > MAX_EXEMPLAR_LABEL_CHARS:
                    problems.append(f"{name}: exemplar labels longer than 128 characters")
                problems += [
                    f"{name}: invalid exemplar label {k!r}"
                    for k in labels
                    if not LABEL_NAME.match(k)
                ]
                if math.isnan(exemplar.value):
                    problems.append(f"{name}: exemplar value is NaN")
                if bound is not None and not previous_le < exemplar.value <= bound:
                    problems.append(
                        f"{name}{{le={sample.labels['le']}}}: exemplar value "
                        f"{exemplar.value:g} is outside the bucket"
                    )
            previous_le = bound if bound is not None and bound != math.inf else -math.inf
    return seen, _limited(problems)
