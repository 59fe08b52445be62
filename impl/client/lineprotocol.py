"""Prometheus metric families -> InfluxDB line protocol, as InfluxDB itself ingests them.

Two layouts, from InfluxDB's "Prometheus metric parsing formats":

- Version 1 (InfluxDB's scraper, Telegraf `metric_version = 1`): the measurement is the
  family name; labels become tags, except `le` and `quantile`; the field is `counter`,
  `gauge` or `value` (untyped); a histogram gives one field per bucket bound (`0.25`,
  `+Inf`) plus `count` and `sum`, a summary one per quantile plus `count` and `sum`.
- Version 2 (Flux `prometheus.scrape`): the measurement is `prometheus`; tags are `url`
  plus every label (`le` and `quantile` stay tags); the field key is the metric name,
  `_bucket` trimmed; `_sum` and `_count` are fields of their own.

Decisions where the formats leave room:
- NaN is dropped (as InfluxDB does), and so are infinite *values*: line protocol has no
  such floats, and a point InfluxDB would reject is worse than a missing one. A bucket
  *bound* of +Inf is a field key or tag (`+Inf`), never a value, and is kept.
- Bounds and quantiles are printed as Go prints a float64 (`1`, `0.005`, `1e+06`), since
  InfluxDB's scraper parses them to floats and prints them again.
- Counters keep the exposed name (`foo_total`) as measurement (v1) or field (v2).
- OpenMetrics-only types: info and stateset are gauges (their text 0.0.4 form), a
  gaugehistogram is a histogram; `_created` samples become a `created` field (v1).
- A label with an empty value is no label (Prometheus' rule; line protocol has no empty
  tag values). Tags are sorted by key, as InfluxDB recommends.
- Timestamps are integer nanoseconds: a sample's own, else the scrape time passed in.

Escaping follows influxd 2.x's parser: measurement: commas and spaces; tag keys, tag
values and field keys: commas, equals signs and spaces; string field values: double
quotes and backslashes. influxd reads any other backslash literally, but its scanner
pairs a backslash with the character after it: a backslash left unpaired right before
an escaped character or at the end of an element would swallow what follows, so there
(and only there) one more backslash is written. That keeps the line well-formed; influxd
then reads that one backslash doubled, as line protocol has no exact form for it. A
newline cannot appear in a line: it is written as the two characters `\\n`, as the
exposition format does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Literal, NamedTuple

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample, Timestamp

__all__ = [
    "FieldValue",
    "Version",
    "Point",
    "encode_point",
    "escape_field_key",
    "escape_measurement",
    "escape_string_field",
    "escape_tag",
    "go_float",
    "points",
    "to_line_protocol",
]

FieldValue = float | int | bool | str
TagSet = tuple[tuple[str, str], ...]
Version = Literal[1, 2]

HISTOGRAM_TYPES = frozenset({"histogram", "gaugehistogram"})
# The v1 field of a family's plain samples, by family type (`value` for any other).
V1_VALUE_FIELD = {"counter": "counter", "gauge": "gauge", "info": "gauge", "stateset": "gauge"}
# The v1 field of a suffixed sample (histogram, summary, counter extras).
V1_SUFFIX_FIELD = {
    "_count": "count",
    "_gcount": "count",
    "_sum": "sum",
    "_gsum": "sum",
    "_created": "created",
}


class Point(NamedTuple):
    measurement: str
    tags: TagSet
    fields: tuple[tuple[str, FieldValue], ...]
    timestamp_ns: int


def _escape(text: str, specials: str) -> str:
    # An odd run of backslashes before an escaped character or the end gets one more.
    return re.sub(
        rf"(?<!\\)(\\*)([{specials}]|\Z)",
        lambda m: m[1] + "\\" * (len(m[1]) % 2) + ("\\" + m[2] if m[2] else ""),
        text.replace("\r", "\\r").replace("\n", "\\n"),
    )


def escape_measurement(name: str) -> str:
    return _escape(name, ", ")


def escape_tag(text: str) -> str:
    """A tag key, tag value or field key: they escape the same characters."""
    return _escape(text, ",= ")


escape_field_key = escape_tag


def escape_string_field(value: str) -> str:
    """A string field value, quotes included."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "\\r").replace("\n", "\\n") + '"'


def _field_value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"line protocol has no {value} float")
        return repr(value)
    return escape_string_field(value)


def encode_point(point: Point) -> str:
    """One line, without the trailing newline."""
    if not point.fields:
        raise ValueError(f"a point needs at least one field: {point.measurement}")
    if not point.measurement or point.measurement.startswith("#"):
        # influxd skips a line that starts with '#' as a comment; there is no escape.
        raise ValueError(f"not a usable measurement name: {point.measurement!r}")
    head = escape_measurement(point.measurement)
    tags = "".join(f",{escape_tag(k)}={escape_tag(v)}" for k, v in point.tags)
    fields = ",".join(f"{escape_field_key(k)}={_field_value(v)}" for k, v in point.fields)
    return f"{head}{tags} {fields} {point.timestamp_ns}"


def go_float(value: float | str) -> str:
    """A float64 as Go's fmt.Sprint prints it (strconv 'g', shortest): `1`, `0.005`,
    `1e+06`, `+Inf`; InfluxDB's scraper names bucket and quantile fields this way."""
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    # repr is the shortest string that reads back as the same float, like Go's.
    exact = Decimal(repr(number)).normalize()
    negative, digit_tuple, exponent = exact.as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    decimal_exponent = len(digits) + exponent - 1
    if -4 <= decimal_exponent < 6:  # Go's switch to %e for shortest
        return f"{exact:f}"
    mantissa = f"{digits[0]}.{digits[1:]}".rstrip(".")
    return f"{'-' * negative}{mantissa}e{decimal_exponent:+03d}"


def _timestamp_ns(sample: Sample, default_ns: int) -> int:
    stamp = sample.timestamp
    if stamp is None:
        return default_ns
    if isinstance(stamp, Timestamp):
        return stamp.sec * 1_000_000_000 + stamp.nsec
    # The text format carries milliseconds, parsed to float seconds: round off float noise.
    return round(float(stamp) * 1000) * 1_000_000


def _v1_field(family: Metric, sample: Sample, url: str) -> tuple[str, dict[str, str], str]:
    """The measurement, labels and field key of a sample in layout 1 (which has no url)."""
    labels = dict(sample.labels)
    suffix = sample.name[len(family.name) :] if sample.name.startswith(family.name) else ""
    if family.type in HISTOGRAM_TYPES and suffix == "_bucket" and "le" in labels:
        key = go_float(labels.pop("le"))
    elif family.type == "summary" and suffix == "" and "quantile" in labels:
        key = go_float(labels.pop("quantile"))
    else:
        key = V1_SUFFIX_FIELD.get(suffix) or V1_VALUE_FIELD.get(family.type, "value")
    measurement = family.name + "_total" if family.type == "counter" else family.name
    return measurement, labels, key


def _v2_field(family: Metric, sample: Sample, url: str) -> tuple[str, dict[str, str], str]:
    labels = {**sample.labels, "url": url}
    key = sample.name
    if family.type in HISTOGRAM_TYPES and key.endswith("_bucket") and "le" in labels:
        key = key[: -len("_bucket")]
        labels["le"] = go_float(labels["le"])
    elif family.type == "summary" and "quantile" in labels:
        labels["quantile"] = go_float(labels["quantile"])
    return "prometheus", labels, key


def points(
    families: Iterable[Metric], version: Version, *, timestamp_ns: int, url: str = ""
) -> list[Point]:
    """The points InfluxDB would store for `families` scraped at `timestamp_ns`, one per family,
    tags and time, in first-seen order. `url` is the v2 `url` tag (the scraped URL)."""
    layout = {1: _v1_field, 2: _v2_field}.get(version)
    result: list[Point] = []
    for family in families:
        if layout is None:
            raise ValueError(f"line protocol layout version must be 1 or 2, got {version!r}")
        grouped: dict[tuple[str, TagSet, int], dict[str, FieldValue]] = {}
        for sample in family.samples:
            if sample.native_histogram is not None:
                continue  # no line protocol layout for native histograms
            measurement, labels, key = layout(family, sample, url)
            if math.isfinite(sample.value):
                tags = tuple(sorted((k, v) for k, v in labels.items() if v != ""))
                point = (measurement, tags, _timestamp_ns(sample, timestamp_ns))
                grouped.setdefault(point, {})[key] = float(sample.value)
        result.extend(Point(m, t, tuple(f.items()), ns) for (m, t, ns), f in grouped.items())
    return result


def to_line_protocol(
    families: Iterable[Metric], version: Version, *, timestamp_ns: int, url: str = ""
) -> str:
    """Line protocol text, one point per line, each line ending in a newline."""
    found = points(families, version, timestamp_ns=timestamp_ns, url=url)
    return "".join(encode_point(point) + "\n" for point in found)
