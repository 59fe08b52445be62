"""http_api_requests_total and http_api_request_duration_seconds: exact and bounded.

In-process apps for what is counted and how it is labelled; a live process for the
bound under concurrent random clients."""

from __future__ import annotations

import json
import random
import string
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from starlette.testclient import TestClient

from impl.metrics.http_metrics import BUCKETS, DURATION_HELP, REQUESTS_HELP
from tools.live import LiveServer
from tools.metrics_text import families, request_count

LABEL_NAMES = {"handler", "method", "path", "response_code", "status", "user_agent"}


def scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.text


def live_scrape(server: LiveServer) -> str:
    response = requests.get(server.url + "/metrics", timeout=10)
    assert response.status_code == 200
    return response.text


def test_families_match_influxd(client: TestClient) -> None:
    client.get("/ping")
    parsed = families(scrape(client))
    counter = parsed["http_api_requests"]
    assert counter.type == "counter"
    assert counter.documentation == REQUESTS_HELP
    histogram = parsed["http_api_request_duration_seconds"]
    assert histogram.type == "histogram"
    assert histogram.documentation == DURATION_HELP
    bounds = sorted(
        {float(s.labels["le"]) for s in histogram.samples if s.name.endswith("_bucket")}
    )
    assert bounds == [*BUCKETS, float("inf")]
    for sample in counter.samples:
        assert set(sample.labels) == LABEL_NAMES
        assert sample.labels["handler"] == "platform"


def test_exact_counts_after_n_requests(client: TestClient) -> None:
    curl = {"User-Agent": "curl/8.5.0"}
    for _ in range(37):
        assert client.get("/ping", headers=curl).status_code == 204
    for _ in range(5):
        client.get("/health", headers=curl)
    body = scrape(client)
    assert (
        request_count(body, path="/ping", method="GET", response_code="204", user_agent="curl")
        == 37
    )
    assert request_count(body, path="/health", status="2XX") == 5
    parsed = families(body)
    histogram = parsed["http_api_request_duration_seconds"]
    count = [
        s.value
        for s in histogram.samples
        if s.name.endswith("_count")
        and s.labels["path"] == "/ping"
        and s.labels["user_agent"] == "curl"
    ]
    assert count == [37]


def test_scrape_counts_itself_in_the_next_scrape(client: TestClient) -> None:
    first = scrape(client)
    assert request_count(first, path="/metrics") == 0
    second = scrape(client)
    assert request_count(second, path="/metrics", response_code="200", status="2XX") == 1
    third = scrape(client)
    assert request_count(third, path="/metrics") == 2


def test_errors_are_counted_with_their_status(client: TestClient) -> None:
    client.get("/nowhere")
    client.get("/also/nowhere")
    client.delete("/ping")
    client.get("/metrics", headers={"Accept": "image/png"})
    body = scrape(client)
    # Requests that reach no operation are not told apart by method or user agent.
    unrouted = {"method": "none", "user_agent": "none", "status": "4XX"}
    assert request_count(body, path="/:fallback_path", response_code="404", **unrouted) == 2
    # A wrong method on a path that exists counts under the path's template.
    assert request_count(body, path="/ping", response_code="405", **unrouted) == 1
    assert request_count(body, path="/metrics", response_code="406", status="4XX") == 1


def test_user_agents_are_named(client: TestClient) -> None:
    agents = {
        "curl/8.5.0": "curl",
        "influxdb-client-python/1.50.0": "influxdb-client-python",
        "Prometheus/2.45.0": "Prometheus",
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0": "Firefox",
        "totally-unknown-agent/1.0": "other",
    }
    for header in agents:
        client.get("/ping", headers={"User-Agent": header})
    body = scrape(client)
    for name in agents.values():
        assert request_count(body, path="/ping", user_agent=name) == 1, name


def _random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + "-_/.") for _ in range(size))


def _random_query(rng: random.Random) -> str:
    pairs = [
        (rng.choice(["name[]", "q", _random_text(rng, rng.randint(1, 12))]), _random_text(rng, 8))
        for _ in range(rng.randint(0, 4))
    ]
    return "&".join(f"{key}={value}" for key, value in pairs)


def _random_span(rng: random.Random) -> str:
    """A valid span context with fresh ids (a new exemplar, never a new series), or junk."""
    if rng.random() < 0.5:
        return _random_text(rng, rng.randint(0, 80))
    trace_id, span_id = (f"{rng.getrandbits(64):016x}" for _ in range(2))
    baggage = {_random_text(rng, 5): _random_text(rng, 10)}
    return json.dumps({"trace_id": trace_id, "span_id": span_id, "baggage": baggage})


@pytest.mark.slow  # 10,000 requests from four threads
def test_random_clients_cannot_grow_series_without_bound(fresh_server: LiveServer) -> None:
    """Random methods, paths (and real routes), query strings, User-Agents and trace
    headers: the labels come from fixed sets, so the series stay few."""
    rng = random.Random(20261125)
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "FOO", "BREW", "X1"]
    routes = ["/ping", "/health", "/ready", "/metrics"]
    total = 10_000
    plan = [
        (
            rng.choice(methods),
            (
                rng.choice(routes)
                if rng.random() < 0.25
                else "/" + _random_text(rng, rng.randint(1, 40))
            )
            + "?"
            + _random_query(rng),
            {
                "User-Agent": _random_text(rng, rng.randint(0, 60)),
                "Zap-Trace-Span": _random_span(rng),
            },
        )
        for _ in range(total)
    ]

    def send(chunk: list[tuple[str, str, dict[str, str]]]) -> int:
        session = requests.Session()
        sent = 0
        for method, target, headers in chunk:
            session.request(method, fresh_server.url + target, headers=headers, timeout=10)
            sent += 1
        return sent

    before = request_count(live_scrape(fresh_server))
    with ThreadPoolExecutor(max_workers=4) as pool:
        sent = sum(pool.map(send, [plan[i::4] for i in range(4)]))
    assert sent == total

    body = live_scrape(fresh_server)
    counter = families(body)["http_api_requests"]
    series = len(counter.samples)
    # Bounded by methods (9 known + OTHER) x route templates x statuses x agent names,
    # whatever was sent; these 10,000 requests make 48.
    assert series <= 60, series
    # Every request was counted once: those sent, plus the scrape taken before them.
    assert request_count(body) == before + total + 1
