"""GET /metrics as scrapers see it: formats, negotiation, gzip, HEAD, name[] filter."""

from __future__ import annotations

import gzip
import subprocess

import pytest
from httpx2 import Response
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from impl.errors import InfluxError
from impl.metrics.exposition import OPENMETRICS, TEXT, negotiate
from tests.support.examples import examples
from tools.metrics_text import families, openmetrics_families

TEXT_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
)


def get(client: TestClient, path: str = "/metrics", **headers: str) -> Response:
    return client.get(path, headers=headers)


@pytest.mark.parametrize(
    "accept",
    [None, "*/*", "text/plain", "text/plain;version=0.0.4", "application/json", "text/*"],
)
def test_text_format_for_text_wildcards_and_json(client: TestClient, accept: str | None) -> None:
    headers = {"Accept-Encoding": "identity"}
    if accept is not None:
        headers["Accept"] = accept
    response = get(client, **headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == TEXT_0_0_4
    assert "Content-Encoding" not in response.headers
    parsed = families(response.text)
    assert {"process_cpu_seconds", "python_info", "http_api_requests"} <= parsed.keys()


def test_families_sorted_and_each_has_help_and_type(client: TestClient) -> None:
    body = get(client, **{"Accept-Encoding": "identity"}).text
    type_lines = [line.split()[2] for line in body.splitlines() if line.startswith("# TYPE ")]
    assert type_lines == sorted(type_lines)
    lines = body.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("# TYPE "):
            assert lines[index - 1].startswith("# HELP " + line.split()[2] + " ")


def test_no_created_samples_and_counters_end_in_total(client: TestClient) -> None:
    body = get(client).text
    assert "_created" not in body
    for family in families(body).values():
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), family.name


def test_label_names_sorted(client: TestClient) -> None:
    get(client, "/ping")
    for family in families(get(client).text).values():
        for sample in family.samples:
            names = list(sample.labels)
            assert names == sorted(names), (sample.name, names)


def test_openmetrics_when_preferred(client: TestClient) -> None:
    response = get(client, Accept=PROMETHEUS_ACCEPT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(
        "application/openmetrics-text; version=1.0.0"
    )
    assert response.text.endswith("# EOF\n")
    parsed = openmetrics_families(response.text)
    assert parsed["http_api_requests"].type == "counter"


def test_text_wins_when_weighted_higher(client: TestClient) -> None:
    accept = "application/openmetrics-text;q=0.2,text/plain;q=0.9"
    assert get(client, Accept=accept).headers["Content-Type"] == TEXT_0_0_4


def test_unservable_accept_is_406_influx_error(client: TestClient) -> None:
    response = get(client, Accept="image/png")
    assert response.status_code == 406
    assert response.headers["X-Platform-Error-Code"] == "invalid"
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["code"] == "invalid"
    assert "image/png" in response.json()["message"]


def test_gzip_when_accepted(client: TestClient) -> None:
    with client.stream("GET", "/metrics", headers={"Accept-Encoding": "gzip"}) as raw:
        assert raw.headers["Content-Encoding"] == "gzip"
        assert raw.headers["Vary"] == "Accept-Encoding"
        compressed = b"".join(raw.iter_raw())
    assert int(raw.headers["Content-Length"]) == len(compressed)
    assert "process_cpu_seconds" in families(gzip.decompress(compressed).decode())


def test_gzip_openmetrics_round_trips(client: TestClient) -> None:
    headers = {"Accept-Encoding": "gzip", "Accept": OPENMETRICS}
    with client.stream("GET", "/metrics", headers=headers) as raw:
        compressed = b"".join(raw.iter_raw())
    assert "process_cpu_seconds" in openmetrics_families(gzip.decompress(compressed).decode())


def test_identity_when_gzip_not_accepted(client: TestClient) -> None:
    response = get(client, **{"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in response.headers
    assert response.headers["Vary"] == "Accept-Encoding"


def test_name_filter_restricts_families(client: TestClient) -> None:
    get(client, "/ping")
    names = {"name[]": ["http_api_requests_total", "influxdb_info"]}
    response = client.get("/metrics", params=names)
    assert response.status_code == 200
    assert set(families(response.text)) == {"http_api_requests", "influxdb_info"}


def test_name_filter_by_family_name_of_histogram(client: TestClient) -> None:
    get(client, "/ping")
    response = client.get("/metrics", params={"name[]": "http_api_request_duration_seconds"})
    parsed = families(response.text)
    assert set(parsed) == {"http_api_request_duration_seconds"}
    assert parsed["http_api_request_duration_seconds"].type == "histogram"


def test_invalid_name_is_400_influx_error(client: TestClient) -> None:
    response = client.get("/metrics", params={"name[]": "no spaces"})
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": "invalid name[]: 'no spaces' does not match '^[a-zA-Z_:][a-zA-Z0-9_:]*$'",
    }
    assert response.headers["X-Platform-Error-Code"] == "invalid"


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["a"] * 101, "invalid name[]: ['a', 'a', 'a', 'a', 'a', 'a', ...] is too long"),
        (["a" * 300], "invalid name[]: 'aaaaaaaaaaaa...aaaaaaaaaaaaa' is too long"),
        (["a\nb"], "invalid name[]: 'a\\nb' does not match '^[a-zA-Z_:][a-zA-Z0-9_:]*$'"),
    ],
)
def test_name_errors_are_one_line_as_influxd_writes_them(
    client: TestClient, names: list[str], message: str
) -> None:
    response = client.get("/metrics", params={"name[]": names})
    assert response.status_code == 400
    assert response.json()["message"] == message


def test_identity_metrics(client: TestClient) -> None:
    parsed = families(get(client).text)
    info = parsed["influxdb_info"]
    assert info.type == "gauge"
    (sample,) = info.samples
    assert sample.value == 1
    assert set(sample.labels) == {"arch", "build_date", "commit", "cpus", "os", "version"}
    assert sample.labels["version"] == "v2.7.12"
    (uptime,) = parsed["influxdb_uptime_seconds"].samples
    assert len(uptime.labels["id"]) == 16
    int(uptime.labels["id"], 16)
    assert uptime.value > 0


def test_process_and_python_runtime_metrics_are_real(client: TestClient) -> None:
    parsed = families(get(client).text)
    for name in (
        "process_cpu_seconds",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "python_gc_collections",
        "python_info",
    ):
        assert name in parsed, name
    rss = parsed["process_resident_memory_bytes"].samples[0].value
    assert rss > 1_000_000
    assert not any(name.startswith("go_") for name in parsed)


def test_promtool_check_metrics_is_clean(client: TestClient) -> None:
    get(client, "/ping", **{"User-Agent": "curl/8.5.0"})
    get(client, "/nowhere")
    body = get(client).text
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, TEXT),
        ("", TEXT),
        ("application/json, text/plain", TEXT),
        ("application/openmetrics-text", OPENMETRICS),
        ("application/openmetrics-text;q=0.5, text/plain;q=0.5", TEXT),
        ("text/plain;q=0, application/openmetrics-text;q=0.1", OPENMETRICS),
        ("image/png, */*;q=0.1", TEXT),
        # RFC 9110 12.5.1: the most specific matching range gives a format its quality.
        ("*/*;q=0.1, text/plain;q=0", OPENMETRICS),
        ("text/*;q=0, application/*", OPENMETRICS),
        ("application/*", TEXT),
        ("text/*;q=0, application/json", TEXT),
    ],
)
def test_negotiate_picks_highest_weight_text_on_ties(accept: str | None, expected: str) -> None:
    assert negotiate(accept) == expected


@pytest.mark.parametrize(
    "accept",
    [
        "image/png",
        "text/html",
        "*/*;q=0",
        "application/xml",
        "text/*;q=1, text/plain;q=0",
        "text/plain;q=0, application/json",
    ],
)
def test_negotiate_refuses_what_cannot_be_served(accept: str) -> None:
    with pytest.raises(InfluxError) as caught:
        negotiate(accept)
    assert caught.value.status == 406


# Negotiation against RFC 9110's rules (12.5.1, 12.4.2), over Accept headers made of the
# ranges that name a format, wildcards, ranges naming neither, parameters and odd case.
RANGES = [
    "text/plain",
    "text/plain;version=0.0.4",
    OPENMETRICS,
    f"{OPENMETRICS};version=1.0.0",
    "application/json",
    "text/*",
    "application/*",
    "*/*",
    "text/html",
    "image/png",
]
QUALITIES = st.sampled_from([0.0, 0.001, 0.1, 0.5, 0.999, 1.0])


@st.composite
def accept_entries(draw: st.DrawFn) -> list[tuple[str, float | None]]:
    """(range, q or None for no q parameter) entries of one Accept header."""
    ranges = st.sampled_from(RANGES).map(lambda r: r.upper() if draw(st.booleans()) else r)
    return draw(st.lists(st.tuples(ranges, st.none() | QUALITIES), min_size=1, max_size=6))


def header(entries: list[tuple[str, float | None]]) -> str:
    return ", ".join(r if q is None else f"{r};q={q}" for r, q in entries)


def outcome(accept: str) -> str:
    try:
        return negotiate(accept)
    except InfluxError as refused:
        assert refused.status == 406
        return "406"


def rfc_quality(entries: list[tuple[str, float | None]], names: list[str]) -> float:
    """A format's quality by RFC 9110 12.5.1, written out: among the ranges that match one
    of its `names` (most exact first), those of the highest precedence decide; an exact
    name precedes a `type/*` range, which precedes `*/*`."""

    def precedence(media_range: str) -> int | None:
        base = media_range.split(";")[0].lower()
        for rank, name in enumerate(names):
            if base == name:
                return 3 * len(names) - rank
        for rank, name in enumerate(names):
            if base == name.split("/")[0] + "/*":
                return 2 * len(names) - rank
        return 0 if base == "*/*" else None

    ranked = [(precedence(r), 1.0 if q is None else q) for r, q in entries]
    matched = [(rank, q) for rank, q in ranked if rank is not None]
    if not matched:
        return 0.0
    best = max(rank for rank, _ in matched)
    return max(q for rank, q in matched if rank == best)


@settings(max_examples=examples(500), deadline=None)
@given(accept_entries())
def test_negotiation_follows_rfc_9110(entries: list[tuple[str, float | None]]) -> None:
    # The text is named text/plain and, for InfluxDB's clients, application/json.
    text = rfc_quality(entries, ["text/plain", "application/json"])
    openmetrics = rfc_quality(entries, [OPENMETRICS])
    if max(text, openmetrics) == 0:
        expected = "406"
    else:
        expected = TEXT if text >= openmetrics else OPENMETRICS
    assert outcome(header(entries)) == expected


@settings(max_examples=examples(300), deadline=None)
@given(accept_entries(), st.data())
def test_negotiation_ignores_the_order_of_entries(
    entries: list[tuple[str, float | None]], data: st.DataObject
) -> None:
    reordered = data.draw(st.permutations(entries))
    assert outcome(header(entries)) == outcome(header(reordered))


WILDCARDS = st.lists(st.sampled_from(["*/*", "text/*", "application/*"]))


@settings(max_examples=examples(300), deadline=None)
@given(QUALITIES, QUALITIES, WILDCARDS, QUALITIES)
def test_wildcards_never_override_exact_ranges(
    text: float, openmetrics: float, wildcards: list[str], wildcard_q: float
) -> None:
    exact = f"text/plain;q={text}, {OPENMETRICS};q={openmetrics}"
    with_wildcards = ", ".join([exact, *(f"{w};q={wildcard_q}" for w in wildcards)])
    assert outcome(with_wildcards) == outcome(exact)


@settings(max_examples=examples(300), deadline=None)
@given(accept_entries())
def test_a_format_refused_exactly_is_never_served(entries: list[tuple[str, float | None]]) -> None:
    def without(name: str) -> str:
        return header([(r, q) for r, q in entries if r.split(";")[0].lower() != name])

    assert outcome(f"{without('text/plain')}, text/plain;q=0") != TEXT
    assert outcome(f"{without(OPENMETRICS)}, {OPENMETRICS};q=0") != OPENMETRICS
