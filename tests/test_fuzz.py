"""Hypothesis-built raw HTTP requests against a live, token-protected service.

Methods, targets, query strings and the headers clients send (Accept,
Accept-Encoding, Authorization, Zap-Trace-Span, User-Agent, Content-Type,
Content-Length) get random bytes, unicode, empty and very long values; every response
must be a success the spec declares or an InfluxDB error with its status, never a 5xx,
and the process must survive them all. Bounded and deterministic: a fixed number of
cases from a fixed seed. schemathesis (test_contract.py) adds the spec-driven cases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from impl.client.rawhttp import RawClient, RawResponse, build_request
from impl.errors import STATUS_OF_CODE
from impl.http.limits import MAX_BODY_BYTES
from impl.metrics.http_metrics import (
    DEFAULT_MAX_SERIES,
    FALLBACK_PATH,
    KNOWN_METHODS,
    OTHER_METHOD,
    OVERFLOW,
    UNROUTED,
)
from impl.metrics.user_agents import BROWSER_MARKERS, KNOWN_PRODUCTS, OTHER, RESERVED, UNKNOWN
from tests.support.conformance import check_response
from tools.live import LiveServer
from tools.metrics_text import families

pytestmark = pytest.mark.slow  # ten thousand raw requests against a live process

SEED = 20261125
FUZZ_CASES = 10_000
# Series of http_api_requests_total that FUZZ_CASES random requests may add. Every
# label value comes from a fixed set (assert_bounded), and the label sets are capped
# (--max-http-series), so there is a ceiling whatever is sent; this run, with its six
# agent names, ten methods and a dozen statuses, would make 229 without the cap.
MAX_NEW_SERIES = 300
# Every status the service answers with: its successes, the docs page's redirect from
# /ui to /ui/, and its errors' statuses.
SERVICE_STATUSES = {200, 204, 307, 406, 408, 431, *STATUS_OF_CODE.values()}
TOKEN = "fuzz-token-9Qv2-Lm7x"

SPEC_PATHS = ["/metrics", "/ping", "/health", "/ready"]
NEAR_PATHS = ["/", "/metrics/", "//metrics", "/api/v2/ping", "/Ping", "/ui/", "/ui", "/%70ing"]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]
FAMILY_NAMES = ["http_api_requests_total", "influxdb_info", "process_cpu_seconds", "go_info"]
TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
FUZZED_HEADERS = [
    "Accept",
    "Accept-Encoding",
    "Authorization",
    "Zap-Trace-Span",
    "User-Agent",
    "Content-Type",
    "Content-Length",
]
# Headers that change framing or the connection: the test would have to mirror h11 to
# know what the server waits for. Content-Length is fuzzed in a way the test can follow.
NOT_RANDOM_NAMES = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "expect",
    "upgrade",
    "te",
}
PLAUSIBLE = {
    "Accept": [
        "*/*",
        "text/plain",
        "application/json",
        "application/openmetrics-text",
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4",
        "image/png",
        "text/plain;q=0",
    ],
    "Accept-Encoding": ["gzip", "identity", "gzip;q=0", "br, gzip;q=0.5", "*", "x-gzip"],
    "Authorization": [
        f"Token {TOKEN}",
        f"Bearer {TOKEN}",
        "Token wrong",
        f"Basic {TOKEN}",
        f"Token {TOKEN}x",
    ],
    "Zap-Trace-Span": [
        '{"trace_id":"4bf92f3577b34da6","span_id":"00f067aa0ba902b7","baggage":{"k":"v"}}',
        '{"trace_id":"1","span_id":"1"}',
        "{" * 100,
        "null",
    ],
    "User-Agent": [
        "curl/8.5.0",
        "influxdb-client-python/1.50.0",
        "Prometheus/2.45.0",
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
    ],
    "Content-Type": [
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
    ],
}
# Content-Length values h11 refuses, so the server answers without waiting for a body.
BAD_LENGTHS = [b"-1", b"abc", b"0x10", b"1e3", b"", b"1,2", b"+5", b"1" * 21]
DIGIT = re.compile(rb"[0-9]")


def _one_line(data: bytes) -> bytes:
    # CR or LF would end the line, and the test could no longer tell what it sent.
    return data.replace(b"\r", b"").replace(b"\n", b"")


def mostly(
    common: st.SearchStrategy[bytes], rare: st.SearchStrategy[bytes], one_in: int
) -> st.SearchStrategy[bytes]:
    """`common`, and `rare` about once in `one_in` cases: requests that h11 refuses
    outright would otherwise crowd out those that reach the app."""
    # The common branch first: Hypothesis leans towards the simplest choice, index 0.
    return st.sampled_from(range(one_in)).flatmap(lambda i: rare if i == one_in - 1 else common)


# Any bytes h11 takes in a header value (obs-text included), and any bytes at all.
field_bytes = st.binary(max_size=48).map(lambda data: data.translate(None, b"\r\n\x00\x0b\x0c"))
line_bytes = st.binary(max_size=48).map(_one_line)
unicode_text = st.text(max_size=48).map(lambda text: _one_line(text.encode("utf-8")))
long_values = st.tuples(st.binary(min_size=1, max_size=8), st.integers(200, 2500)).map(
    lambda pair: _one_line(pair[0] * pair[1]) or b"x"
)


def header_values(name: str) -> st.SearchStrategy[bytes]:
    if name == "Content-Length":
        return mostly(
            st.one_of(
                st.integers(0, 2 * MAX_BODY_BYTES).map(lambda n: str(n).encode()),
                st.sampled_from([b"99999999999999999999", b"1048576"]),
            ),
            st.one_of(
                st.sampled_from(BAD_LENGTHS),
                line_bytes.filter(lambda value: not DIGIT.search(value)),
            ),
            6,
        )
    odd = mostly(st.one_of(st.just(b""), field_bytes, unicode_text, long_values), line_bytes, 10)
    plausible = [value.encode() for value in PLAUSIBLE.get(name, [])]
    return mostly(st.sampled_from(plausible), odd, 2) if plausible else odd


percent_encoded = st.binary(max_size=24).map(lambda data: "".join(f"%{b:02X}" for b in data))
url_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~/:@!$&'()*+,;=", max_size=40)
paths = mostly(
    st.one_of(
        st.sampled_from(SPEC_PATHS).map(str.encode),
        st.sampled_from(SPEC_PATHS).map(str.encode),
        st.sampled_from(SPEC_PATHS + NEAR_PATHS).map(str.encode),
        url_text.map(lambda text: b"/" + text.encode()),
        st.tuples(url_text, percent_encoded).map(lambda pair: f"/{pair[0]}{pair[1]}".encode()),
    ),
    st.one_of(
        unicode_text.map(lambda data: b"/" + data.replace(b" ", b"")),
        st.integers(100, 20_000).map(lambda n: b"/" + b"p" * n),
        st.sampled_from([b"*", b"http://127.0.0.1/ping", b"/ping#frag"]),
    ),
    8,
)
query_values = st.one_of(
    st.sampled_from(FAMILY_NAMES), url_text, percent_encoded, st.just(TOKEN)
).map(str.encode)
query_pairs = st.tuples(
    st.sampled_from([b"name[]", b"name%5B%5D", b"name", b"token", b"q", b""]), query_values
)
queries: st.SearchStrategy[bytes | None] = st.one_of(
    st.none(),
    st.lists(query_pairs, max_size=6).map(lambda pairs: b"&".join(k + b"=" + v for k, v in pairs)),
    mostly(
        st.just(b""), line_bytes.map(lambda data: data.replace(b" ", b"").replace(b"#", b"")), 5
    ),
)
methods = mostly(
    st.one_of(
        st.sampled_from(["GET", "HEAD"]),
        st.sampled_from(["GET", "HEAD"]),
        st.sampled_from(METHODS),
        st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=12),
    ).map(str.encode),
    line_bytes.map(lambda data: data.replace(b" ", b"") or b"\x00"),
    20,
)


@dataclass
class Case:
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    version: bytes = b"HTTP/1.1"

    @property
    def method_name(self) -> str:
        return self.method.decode("latin-1")


@st.composite
def cases(draw: st.DrawFn) -> Case:
    method = draw(methods)
    query = draw(queries)
    target = draw(paths) + (b"?" + query if query is not None else b"")
    case = Case(method, target, version=draw(st.sampled_from([b"HTTP/1.1"] * 8 + [b"HTTP/1.0"])))
    if draw(st.integers(0, 19)) < 19:  # a Host header, as HTTP/1.1 requires, nearly always
        case.headers.append((b"Host", b"127.0.0.1"))
    for name in draw(st.lists(st.sampled_from(FUZZED_HEADERS), unique=True, max_size=7)):
        value = draw(header_values(name))
        case.headers.append((name.encode(), value))
        if name == "Content-Length" and value.isdigit() and int(value) <= MAX_BODY_BYTES:
            case.body = draw(st.binary(min_size=int(value), max_size=int(value)))
    random_names = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=20).filter(
        lambda name: name.lower() not in NOT_RANDOM_NAMES
    )
    for name in draw(st.lists(random_names, max_size=3)):
        case.headers.append((name.encode(), draw(line_bytes)))
    return case


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("fuzz")
    with LiveServer(workdir, env={"INFLUXDB_SYSINFO_TOKENS": TOKEN}) as live:
        yield live


def request_series(client: RawClient) -> list[dict[str, str]]:
    """The label sets of http_api_requests_total."""
    response = client.request("GET", "/metrics", [("Authorization", f"Token {TOKEN}")])
    assert response.status == 200
    family = families(response.body.decode())["http_api_requests"]
    return [sample.labels for sample in family.samples]


def assert_bounded(series: list[dict[str, str]]) -> None:
    """Every label value comes from a fixed set, whatever the requests carried."""
    agents = {*KNOWN_PRODUCTS.values(), *(name for _, name in BROWSER_MARKERS), UNKNOWN, OTHER}
    # The series limit, a GET of each of the 4 operations per reserved client, overflow by class.
    assert len(series) <= DEFAULT_MAX_SERIES + 4 * len(RESERVED) + 4
    for labels in series:
        if labels["method"] == OVERFLOW:  # beyond the limit: only the status class is kept
            overflow = {"method", "path", "response_code", "user_agent"}
            assert {k for k, v in labels.items() if v == OVERFLOW} == overflow, labels
            assert labels["status"] in {"2XX", "3XX", "4XX", "5XX"}, labels
            continue
        if labels["method"] == UNROUTED:  # no operation reached: neither label is kept
            assert labels["user_agent"] == UNROUTED, labels
        else:
            assert labels["method"] in KNOWN_METHODS | {OTHER_METHOD}, labels
            assert labels["user_agent"] in agents, labels
        assert labels["path"] in {*SPEC_PATHS, FALLBACK_PATH}, labels
        assert labels["handler"] == "platform", labels
        assert int(labels["response_code"]) in SERVICE_STATUSES, labels


def test_raw_requests_get_spec_successes_or_influx_errors(fuzz_server: LiveServer) -> None:
    with RawClient(fuzz_server.port) as client:
        run_fuzz(client, fuzz_server)


def run_fuzz(client: RawClient, fuzz_server: LiveServer) -> None:
    statuses: dict[int, int] = {}
    before = len(request_series(client))

    @seed(SEED)
    @settings(
        max_examples=FUZZ_CASES,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(cases())
    def exchange(case: Case) -> None:
        data = build_request(case.method, case.target, case.headers, case.body, case.version)
        try:
            response: RawResponse = client.exchange(data, method=case.method_name)
        except Exception:
            client.close()  # a half-used connection must not spoil the next case
            raise
        statuses[response.status] = statuses.get(response.status, 0) + 1
        try:
            check_response(response, case.target, case.method_name)
        except AssertionError as err:
            raise AssertionError(f"{case!r}\n-> {response!r}") from err

    exchange()

    sent = sum(statuses.values())
    assert sent >= FUZZ_CASES, statuses
    assert not [status for status in statuses if status >= 500], statuses
    assert fuzz_server.process is not None and fuzz_server.process.poll() is None
    assert client.request("GET", "/ping").status == 204
    series = request_series(client)
    assert_bounded(series)
    growth = len(series) - before
    assert growth <= MAX_NEW_SERIES, growth
    log = fuzz_server.log()
    assert "lvl=error" not in log and "Traceback" not in log
    print(
        f"fuzz: {sent} raw requests, statuses {json.dumps(statuses, sort_keys=True)}, "
        f"{growth} new series over {client.connections} connections"
    )
