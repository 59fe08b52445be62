"""The fast path answers as the full path does (impl/http/fastpath.py).

The same requests go to two apps on the same registry, one with the fast path and one
without: status, headers and body must be equal, and so must what each recorded (HTTP
metrics) and logged (access lines). The fast path's answers also pass Connexion's own
response validation, built from the served spec.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from connexion import ConnexionMiddleware
from connexion.middleware.response_validation import ResponseValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.resolver import Resolver
from httpx2 import Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from impl.http.operations import spec_operations
from impl.metrics.http_metrics import HttpMetrics
from impl.server.app import create_app
from impl.server.config import Config
from impl.server.state import AppState

TOKEN = "fast-path-token-5be1"
TRACE = '{"trace_id":"0af7651916cd43dd","span_id":"b7ad6b7169203331","baggage":{}}'
PROMETHEUS = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
HEADER_SETS: list[dict[str, str]] = [
    {},
    {"Accept-Encoding": "gzip", "User-Agent": "Prometheus/3.1.0", "Accept": PROMETHEUS},
    {"Accept-Encoding": "identity", "Accept": "application/json", "Zap-Trace-Span": TRACE},
    {"Accept": "text/plain;version=0.0.4", "User-Agent": "curl/8.5.0"},
    {"Accept": "application/openmetrics-text"},
    {"Accept": "image/png"},  # 406 on /metrics
    {"Accept": "text/*;q=1, text/plain;q=0"},  # 406 too
    {"Zap-Trace-Span": "not json", "Authorization": f"Token {TOKEN}"},
    {"Authorization": "Token wrong"},
]
PATHS = ["/ping", "/health", "/ready", "/metrics"]


def served_spec(client: TestClient) -> dict[str, Any]:
    """The spec the app routes and validates by, as it serves it ($refs intact)."""
    served: dict[str, Any] = client.get("/openapi.json").json()
    return served


def fixed_registry() -> CollectorRegistry:
    """Families whose values stay put between requests, label values that need escaping."""
    registry = CollectorRegistry()
    Counter("jobs", "Jobs done.", ["kind"], registry=registry).labels('a"b\\c\nd').inc(3)
    Gauge("temperature_celsius", "Temperature.", registry=registry).set(21.5)
    histogram = Histogram("latency_seconds", "Latency.", buckets=(0.1, 1), registry=registry)
    histogram.observe(0.3)
    return registry


def app_state(config: Config, registry: CollectorRegistry) -> AppState:
    return AppState(
        config=config,
        instance_id="0123456789abcdef",
        registry=registry,
        http_metrics=HttpMetrics(CollectorRegistry()),  # recorded apart from what is scraped
        started_ns=1_790_000_000_000_000_000,
        started_monotonic=time.monotonic(),
    )


class Pair:
    """The same config and registry served with and without the fast path."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        config = Config(state_dir=tmp_path / "state", **settings)
        registry = fixed_registry()
        self.states = [app_state(config, registry), app_state(config, registry)]
        fast_app = create_app(config, self.states[0])
        self.flask_requests = 0

        def count() -> None:
            self.flask_requests += 1

        fast_app.app.before_request_funcs.setdefault(None, []).append(count)

        self.fast = TestClient(fast_app).__enter__()  # started: lifespan, as uvicorn does
        self.full = TestClient(create_app(config, self.states[1], fast_path=False)).__enter__()

    def close(self) -> None:
        self.fast.__exit__(None, None, None)
        self.full.__exit__(None, None, None)

    def both(self, method: str, path: str, headers: dict[str, str]) -> tuple[Response, Response]:
        return (
            self.fast.request(method, path, headers=headers),
            self.full.request(method, path, headers=headers),
        )


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    made = Pair(tmp_path)
    yield made
    made.close()


def comparable(response: Response, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(k.lower(), v) for k, v in response.headers.items() if k.lower() != "date"]
    body = response.content
    if path == "/ready" and response.status_code == 200:
        # `up` is the one clock reading; its length may differ by a digit.
        body = re.sub(rb'"up":"[^"]*"', b'"up":""', body)
        headers = [(k, v) for k, v in headers if k != "content-length"]
    return response.status_code, headers, body


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("path", PATHS)
def test_fast_and_full_paths_send_the_same_answers(pair: Pair, method: str, path: str) -> None:
    for headers in HEADER_SETS:
        fast, full = pair.both(method, path, headers)
        # (a gzipped body is compared as httpx decompresses it)
        assert comparable(fast, path) == comparable(full, path), (method, path, headers)
    assert pair.flask_requests == 0  # every one of them took the fast path


def test_requests_with_a_query_or_a_body_take_the_full_path(pair: Pair) -> None:
    for target in ["/metrics?name[]=jobs", "/ping?x=1", "/metrics?name[]=bad%20name"]:
        fast, full = pair.both("GET", target, {})
        assert comparable(fast, "") == comparable(full, "")
    fast = pair.fast.request("GET", "/ping", content=b"{}")
    assert fast.status_code == 204
    assert pair.flask_requests == 3  # the invalid name[] is refused by validation, before Flask


def test_both_paths_count_and_log_alike(pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="impl.access")
    lines: list[list[dict[str, Any]]] = []
    for client in (pair.fast, pair.full):
        caplog.clear()
        for path in PATHS:
            for headers in HEADER_SETS:
                client.get(path, headers=headers)
                client.head(path, headers=headers)
        lines.append(
            [
                {k: v for k, v in getattr(r, "fields", {}).items() if k != "duration_ms"}
                for r in caplog.records
                if r.name == "impl.access"
            ]
        )
    assert lines[0] == lines[1]
    assert len(lines[0]) == 2 * len(PATHS) * len(HEADER_SETS)
    counts = [
        [
            (s.name, s.labels, s.value)
            for s in families(state)
            if s.name.endswith(("_total", "_count"))
        ]
        for state in pair.states
    ]
    assert counts[0] == counts[1]


def families(state: AppState) -> list[Any]:
    registry = CollectorRegistry()
    registry.register(_Collected(state.http_metrics))
    return [sample for family in registry.collect() for sample in family.samples]


class _Collected:
    def __init__(self, metrics: HttpMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        yield from self.metrics.requests.collect()
        yield from self.metrics.duration.collect()


@pytest.mark.parametrize(
    "settings",
    [
        {"metrics_disabled": True},
        {"tokens": (TOKEN,)},
        {"tokens": (TOKEN,), "protect_system_endpoints": True},
    ],
)
def test_modes_answer_alike_on_both_paths(tmp_path: Path, settings: dict[str, Any]) -> None:
    pair = Pair(tmp_path, **settings)
    try:
        for path in PATHS:
            for headers in HEADER_SETS:
                fast, full = pair.both("GET", path, headers)
                assert comparable(fast, path) == comparable(full, path), (path, headers)
    finally:
        pair.close()


class Replayed:
    """Connexion's response validation of the served spec, around an app that answers
    with the response it is given."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.answer: tuple[int, list[tuple[bytes, bytes]], bytes] = (500, [], b"")
        middleware = ConnexionMiddleware(
            self.replay, middlewares=[RoutingMiddleware, ResponseValidationMiddleware]
        )
        middleware.add_api(spec, validate_responses=True, resolver=Resolver(lambda _: None))
        self.client = TestClient(middleware)

    async def replay(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, headers, body = self.answer
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def check(self, method: str, path: str, response: Response) -> None:
        """Raises (NonConformingResponse...) if `response` breaks the spec."""
        raw = [(k.encode(), v.encode()) for k, v in response.headers.items()]
        self.answer = (response.status_code, raw, response.content)
        assert self.client.request(method, path).status_code == response.status_code


def test_fast_answers_pass_connexion_response_validation(pair: Pair) -> None:
    spec = served_spec(pair.fast)
    validation = Replayed(spec)
    # HEAD is served as its GET (impl/http/routes.py), so its answer is the GET's without
    # the body, which the equivalence tests compare; validated here is that GET's answer.
    operations = {(op.path, op.method) for op in spec_operations(spec) if op.method != "HEAD"}
    for path, method in sorted(operations):
        for headers in HEADER_SETS:
            identity = {**headers, "Accept-Encoding": "identity"}
            validation.check(method, path, pair.fast.request(method, path, headers=identity))
    assert pair.flask_requests == 1  # /openapi.json, for the spec
