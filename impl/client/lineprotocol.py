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
- NaN is dropped (as InfluxDB does). So are +Inf and -Inf *values*: line protocol has
  no infinite floats, and a point InfluxDB would reject is worse than a missing one. A
  bucket *bound* of +Inf is a field key or tag (`+Inf`), never a value, and is kept.
- Bucket bounds and quantiles are printed as Go prints a float64 (`1`, `0.005`,
  `1e+06`), since InfluxDB's scraper parses them to floats and prints them again.
- Counters keep the exposed name (`foo_total`) as measurement (v1) or field (v2).
- OpenMetrics-only types: info and stateset are gauges (their text 0.0.4 form), a
  gaugehistogram is a histogram; `_created` samples become a `created` field (v1).
- A label with an empty value is no label (Prometheus' rule); line protocol has no
  empty tag values. Tags are sorted by key, as InfluxDB recommends.
- Timestamps are integer nanoseconds: a sample's own timestamp when it has one, else
  the scrape time the caller passes.

Escaping follows influxd 2.x's parser: measurement: commas and spaces; tag keys, tag
values and field keys: commas, equals signs and spaces; string field values: double
quotes and backslashes. influxd reads any other backslash literally, but its scanner
pairs a backslash with the character after it: a backslash that would be left
unpaired right before an escaped character or at the end of an element would swallow
what follows, so there (and only there) one more backslash is written. That keeps the
line well-formed; influxd then reads that one backslash doubled, since line protocol
has no exact form for it. A newline cannot appear in a line at all: it is written as
the two characters `\\n`, as the exposition format writes it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
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
V2_MEASUREMENT = "prometheus"
V2_URL_TAG = "url"

MEASUREMENT_SPECIALS = frozenset(", ")
KEY_SPECIALS = frozenset(",= ")

HISTOGRAM_TYPES = frozenset({"histogram", "gaugehistogram"})
# The v1 field of a family's plain samples, by family type.
V1_VALUE_FIELD = {
    "counter": "counter",
    "gauge": "gauge",
    "info": "gauge",
    "stateset": "gauge",
    "unknown": "value",
    "untyped": "value",
}
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


def _escape(text: str, specials: frozenset[str]) -> str:
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    out: list[str] = []
    # influxd's scanner reads a backslash and the character after it as one pair, so
    # track whether the last backslash written is still waiting for its partner.
    unpaired = False
    for char in text:
        if char in specials:
            if unpaired:
                out.append("\\")  # or it would pair with the escape written next
            out.append("\\" + char)
            unpaired = False
        elif char == "\\":
            out.append(char)
            unpaired = not unpaired
        else:
            out.append(char)
            unpaired = False
    if unpaired:
        out.append("\\")  # or it would swallow the separator after the element
    return "".join(out)


def escape_measurement(name: str) -> str:
    return _escape(name, MEASUREMENT_SPECIALS)


def escape_tag(text: str) -> str:
    """A tag key or tag value."""
    return _escape(text, KEY_SPECIALS)


def escape_field_key(key: str) -> str:
    return _escape(key, KEY_SPECIALS)


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
    sign = "-" if math.copysign(1.0, number) < 0 else ""
    if number == 0:
        return sign + "0"
    # repr is the shortest string that reads back as the same float, like Go's.
    _, digit_tuple, exponent = Decimal(repr(abs(number))).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    point_position = len(digits) + exponent  # value = 0.<digits> * 10**point_position
    digits = digits.rstrip("0")
    decimal_exponent = point_position - 1
    if decimal_exponent < -4 or decimal_exponent >= 6:  # Go's switch to %e for shortest
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        exp_sign = "-" if decimal_exponent < 0 else "+"
        return f"{sign}{mantissa}e{exp_sign}{abs(decimal_exponent):02d}"
    if point_position <= 0:
        return f"{sign}0.{'0' * -point_position}{digits}"
    if point_position >= len(digits):
        return sign + digits + "0" * (point_position - len(digits))
    return f"{sign}{digits[:point_position]}.{digits[point_position:]}"


def _timestamp_ns(sample: Sample, default_ns: int) -> int:
    stamp = sample.timestamp
    if stamp is None:
        return default_ns
    if isinstance(stamp, Timestamp):
        return stamp.sec * 1_000_000_000 + stamp.nsec
    # The text format carries milliseconds; the parser gives float seconds, so round
    # to the millisecond instead of keeping float noise in the nanoseconds.
    return round(float(stamp) * 1000) * 1_000_000


def _tags(labels: Mapping[str, str], extra: Mapping[str, str] | None = None) -> TagSet:
    merged = {**labels, **(extra or {})}
    return tuple(sorted((k, v) for k, v in merged.items() if v != ""))


class _Grouper:
    """Collects fields into points keyed by (measurement, tags, time), in first-seen order."""

    def __init__(self) -> None:
        self._fields: dict[tuple[str, TagSet, int], dict[str, FieldValue]] = {}

    def add(
        self,
        measurement: str,
        tags: TagSet,
        timestamp_ns: int,
        key: str,
        value: float,
    ) -> None:
        if not math.isfinite(value):
            return
        self._fields.setdefault((measurement, tags, timestamp_ns), {})[key] = float(value)

    def points(self) -> list[Point]:
        return [
            Point(measurement, tags, tuple(fields.items()), timestamp_ns)
            for (measurement, tags, timestamp_ns), fields in self._fields.items()
        ]


def _v1_family(family: Metric, default_ns: int) -> list[Point]:
    grouper = _Grouper()
    family_type = family.type
    measurement = family.name + "_total" if family_type == "counter" else family.name
    for sample in family.samples:
        if sample.native_histogram is not None:
            continue  # no line protocol layout for native histograms
        labels = dict(sample.labels)
        suffix = sample.name[len(family.name) :] if sample.name.startswith(family.name) else ""
        if family_type in HISTOGRAM_TYPES and suffix == "_bucket" and "le" in labels:
            key = go_float(labels.pop("le"))
        elif family_type == "summary" and suffix == "" and "quantile" in labels:
            key = go_float(labels.pop("quantile"))
        elif suffix in V1_SUFFIX_FIELD:
            key = V1_SUFFIX_FIELD[suffix]
        else:
            key = V1_VALUE_FIELD.get(family_type, "value")
        grouper.add(
            measurement, _tags(labels), _timestamp_ns(sample, default_ns), key, sample.value
        )
    return grouper.points()


def _v2_family(family: Metric, default_ns: int, url: str) -> list[Point]:
    grouper = _Grouper()
    for sample in family.samples:
        if sample.native_histogram is not None:
            continue
        labels = dict(sample.labels)
        key = sample.name
        if family.type in HISTOGRAM_TYPES and key.endswith("_bucket") and "le" in labels:
            key = key[: -len("_bucket")]
            labels["le"] = go_float(labels["le"])
        elif family.type == "summary" and "quantile" in labels:
            labels["quantile"] = go_float(labels["quantile"])
        tags = _tags(labels, {V2_URL_TAG: url})
        grouper.add(V2_MEASUREMENT, tags, _timestamp_ns(sample, default_ns), key, sample.value)
    return grouper.points()


def points(
    families: Iterable[Metric], version: Version, *, timestamp_ns: int, url: str = ""
) -> list[Point]:
    """The points InfluxDB would store for `families` scraped at `timestamp_ns`.
    `url` (the scraped URL) is the v2 `url` tag; v1 has none."""
    result: list[Point] = []
    for family in families:
        if version == 1:
            result.extend(_v1_family(family, timestamp_ns))
        elif version == 2:
            result.extend(_v2_family(family, timestamp_ns, url))
        else:
            raise ValueError(f"line protocol layout version must be 1 or 2, got {version!r}")
    return result


def to_line_protocol(
    families: Iterable[Metric], version: Version, *, timestamp_ns: int, url: str = ""
) -> str:
    """Line protocol text, one point per line, each line ending in a newline."""
    lines: Sequence[str] = [
        encode_point(point)
        for point in points(families, version, timestamp_ns=timestamp_ns, url=url)
    ]
    return "".join(line + "\n" for line in lines)
