"""impl.client.lineprotocol: InfluxDB's Prometheus layouts, exact escaping, read back strictly."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families as text_families

from impl.client import Exposition, SysinfoClient
from impl.client.lineprotocol import (
    Point,
    Version,
    encode_point,
    escape_field_key,
    escape_measurement,
    escape_string_field,
    escape_tag,
    go_float,
    to_line_protocol,
)
from tests.support.examples import examples
from tests.support.lp_parser import LineProtocolError, parse_line, parse_lines
from tools.live import LiveServer

NOW_NS = 1_700_000_000_000_000_000
URL = "http://127.0.0.1:8086/metrics"

EXPOSITION = """\
# HELP req_seconds Request time
# TYPE req_seconds histogram
req_seconds_bucket{le="0.5",path="/a b"} 1.0
req_seconds_bucket{le="1.0",path="/a b"} 2.0
req_seconds_bucket{le="+Inf",path="/a b"} 3.0
req_seconds_count{path="/a b"} 3.0
req_seconds_sum{path="/a b"} 2.5
# HELP jobs_total Jobs run
# TYPE jobs_total counter
jobs_total{queue="x,y=z"} 7.0
# HELP temp Temperature
# TYPE temp gauge
temp{room=""} NaN
# HELP rpc_seconds RPC latency
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5"} 0.1
rpc_seconds{quantile="0.99"} 0.3
rpc_seconds_sum 4.0
rpc_seconds_count 10.0
# TYPE level gauge
level{kind="over"} +Inf
level{kind="ok"} 2.0
weird{note="say \\"hi\\"\\nbye"} 1 1700000000123
"""


def test_version_1_layout_exactly() -> None:
    text = to_line_protocol(text_families(EXPOSITION), 1, timestamp_ns=NOW_NS)
    assert text.splitlines() == [
        rf"req_seconds,path=/a\ b 0.5=1.0,1=2.0,+Inf=3.0,count=3.0,sum=2.5 {NOW_NS}",
        rf"jobs_total,queue=x\,y\=z counter=7.0 {NOW_NS}",
        f"rpc_seconds 0.5=0.1,0.99=0.3,sum=4.0,count=10.0 {NOW_NS}",
        f"level,kind=ok gauge=2.0 {NOW_NS}",
        r'weird,note=say\ "hi"\nbye value=1.0 1700000000123000000',
    ]


def test_version_2_layout_exactly() -> None:
    text = to_line_protocol(text_families(EXPOSITION), 2, timestamp_ns=NOW_NS, url=URL)
    url = f"url={URL}"
    assert text.splitlines() == [
        rf"prometheus,le=0.5,path=/a\ b,{url} req_seconds=1.0 {NOW_NS}",
        rf"prometheus,le=1,path=/a\ b,{url} req_seconds=2.0 {NOW_NS}",
        rf"prometheus,le=+Inf,path=/a\ b,{url} req_seconds=3.0 {NOW_NS}",
        rf"prometheus,path=/a\ b,{url} req_seconds_count=3.0,req_seconds_sum=2.5 {NOW_NS}",
        rf"prometheus,queue=x\,y\=z,{url} jobs_total=7.0 {NOW_NS}",
        f"prometheus,quantile=0.5,{url} rpc_seconds=0.1 {NOW_NS}",
        f"prometheus,quantile=0.99,{url} rpc_seconds=0.3 {NOW_NS}",
        f"prometheus,{url} rpc_seconds_sum=4.0,rpc_seconds_count=10.0 {NOW_NS}",
        f"prometheus,kind=ok,{url} level=2.0 {NOW_NS}",
        rf'prometheus,note=say\ "hi"\nbye,{url} weird=1.0 1700000000123000000',
    ]


@pytest.mark.parametrize("version", [1, 2])
def test_every_line_reads_back_strictly(version: Version) -> None:
    text = to_line_protocol(text_families(EXPOSITION), version, timestamp_ns=NOW_NS, url=URL)
    lines = parse_lines(text)
    values = [value for line in lines for value in line.fields.values()]
    assert all(isinstance(value, float) and math.isfinite(value) for value in values)
    weird = lines[-1]
    assert weird.tags["note"] == 'say "hi"\\nbye'  # the newline is written as \n
    assert weird.timestamp_ns == 1_700_000_000_123_000_000


def test_openmetrics_timestamps_keep_nanoseconds() -> None:
    text = (
        "# TYPE events counter\n"
        "events_total 5 1700000000.123456789\n"
        "events_created 1699999999.5 1700000000.123456789\n"
        "# EOF\n"
    )
    families = Exposition(text, "application/openmetrics-text; version=1.0.0", False).families()
    v1 = parse_lines(to_line_protocol(families, 1, timestamp_ns=NOW_NS))
    assert [(line.measurement, line.fields, line.timestamp_ns) for line in v1] == [
        ("events_total", {"counter": 5.0, "created": 1699999999.5}, 1_700_000_000_123_456_789),
    ]


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (0.005, "0.005"),
        (1.0, "1"),
        (2.5, "2.5"),
        (10.0, "10"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (0.0, "0"),
        (-2.5, "-2.5"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
    ],
)
def test_go_float_prints_as_go(value: float, printed: str) -> None:
    assert go_float(value) == printed
    assert go_float(repr(value)) == printed


@pytest.mark.parametrize(
    ("escape", "raw", "escaped"),
    [
        (escape_measurement, "cpu load,total", r"cpu\ load\,total"),
        (escape_measurement, "a=b", "a=b"),  # an equals sign is plain in a measurement
        (escape_tag, "a=b c,d", r"a\=b\ c\,d"),
        (escape_field_key, "x y=z,w", r"x\ y\=z\,w"),
        (escape_tag, r"C:\dir", r"C:\dir"),  # a backslash before a plain character is literal
        (escape_tag, "C:\\", "C:\\\\"),  # ... but at the end it would swallow the separator
        (escape_tag, "a\\,b", "a\\\\\\,b"),  # ... and before an escaped character too
        (escape_tag, "two\\\\", "two\\\\"),  # a pair already reads as one
        (escape_tag, "line\nbreak", r"line\nbreak"),
        (escape_string_field, 'say "hi" \\ ok', r'"say \"hi\" \\ ok"'),
    ],
)
def test_escaping(escape: Callable[[str], str], raw: str, escaped: str) -> None:
    assert escape(raw) == escaped


def test_field_types_are_encoded_as_line_protocol_types() -> None:
    point = Point(
        "m",
        (("host", "a b"),),
        (("f", 1.5), ("i", 3), ("b", True), ("s", 'x "y"')),
        NOW_NS,
    )
    line = encode_point(point)
    assert line == rf'm,host=a\ b f=1.5,i=3i,b=true,s="x \"y\"" {NOW_NS}'
    assert parse_line(line).fields == {"f": 1.5, "i": 3, "b": True, "s": 'x "y"'}


def test_infinite_floats_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="no inf float"):
        encode_point(Point("m", (), (("f", math.inf),), NOW_NS))


def test_strict_reader_rejects_broken_lines() -> None:
    for line in ("m,t=a b f=1.0 1", "m,t= f=1.0 1", "m f=NaN 1", "m  1", "m f=1.0 x"):
        with pytest.raises(LineProtocolError):
            parse_line(line)


TAG_TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30)


@settings(max_examples=examples(300), deadline=None)
@given(measurement=TAG_TEXT, value=TAG_TEXT, key=TAG_TEXT)
def test_any_text_gives_a_well_formed_line(measurement: str, value: str, key: str) -> None:
    point = Point(measurement, (("tag", value),), ((key, 1.0),), NOW_NS)
    if measurement.startswith("#"):  # influxd would skip the line as a comment
        with pytest.raises(ValueError, match="not a usable measurement"):
            encode_point(point)
        return
    line = encode_point(point)
    parsed = parse_line(line)
    assert len(parsed.fields) == 1 and set(parsed.tags) == {"tag"}
    if "\\" not in measurement + value + key:
        # Exact whenever no backslash is involved; a newline reads back as `\n`.
        def shown(text: str) -> str:
            return text.replace("\r", "\\r").replace("\n", "\\n")

        assert parsed.measurement == shown(measurement)
        assert parsed.tags == {"tag": shown(value)}
        assert list(parsed.fields) == [shown(key)]


@pytest.mark.parametrize("version", [1, 2])
def test_live_exposition_converts_and_reads_back(server: LiveServer, version: Version) -> None:
    with SysinfoClient(server.url) as client:
        client.ping()  # so that the HTTP metrics have a series
        families = client.metrics()
    lines = parse_lines(to_line_protocol(families, version, timestamp_ns=NOW_NS, url=URL))
    finite = [s for f in families for s in f.samples if math.isfinite(s.value)]
    if version == 2:
        # One field per finite sample, under the sample's name (`_bucket` trimmed).
        assert sum(len(line.fields) for line in lines) == len(finite)
        assert all(line.measurement == "prometheus" and line.tags["url"] == URL for line in lines)
        info = [line for line in lines if "influxdb_info" in line.fields]
        assert len(info) == 1 and info[0].tags["version"] == "v2.7.12"
    else:
        measurements = {line.measurement for line in lines}
        assert {"http_api_requests_total", "http_api_request_duration_seconds"} <= measurements
        histogram = [ln for ln in lines if ln.measurement == "http_api_request_duration_seconds"]
        assert histogram and all("le" not in ln.tags for ln in histogram)
        assert all({"+Inf", "count", "sum", "0.005", "10"} <= set(ln.fields) for ln in histogram)
