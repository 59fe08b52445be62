"""The app as a whole, in-process: identity headers, the five operations, and InfluxDB
errors from every layer."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.testclient import TestClient

from impl.server import handlers
from impl.server.app import create_app
from impl.server.config import Config
from impl.server.state import AppState
from tests.conftest import MakeClient
from tests.support.go_time import parse_go_duration, parse_rfc3339_nano_utc
from tests.support.influx import JSON, assert_influx_error
from tools.metrics_text import request_count


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/ping", 204),
        ("HEAD", "/ping", 204),
        ("GET", "/metrics", 200),
        ("GET", "/health", 200),
        ("GET", "/ready", 200),
        ("GET", "/no/such/path", 404),
        ("DELETE", "/metrics", 405),
    ],
)
def test_every_response_carries_influxdb_identity_headers(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["X-Influxdb-Build"] == "OSS"
    assert response.headers["X-Influxdb-Version"] == "v2.7.12"


def test_ping_is_204_without_body(client: TestClient) -> None:
    for method in ("GET", "HEAD"):
        response = client.request(method, "/ping")
        assert response.status_code == 204
        assert response.content == b""
        assert "Content-Type" not in response.headers


def test_unknown_path_returns_influx_not_found(client: TestClient) -> None:
    body = assert_influx_error(client.get("/api/v2/nope"), 404, "not found")
    assert body == {"code": "not found", "message": "path not found"}


@pytest.mark.parametrize("path", ["/metrics", "/health", "/ready", "/ping", "/openapi.json"])
def test_wrong_method_lists_allowed_methods_in_order(client: TestClient, path: str) -> None:
    response = client.post(path)
    body = assert_influx_error(response, 405, "method not allowed")
    # Sorted, so that every process says the same: HEAD is served wherever GET is.
    assert response.headers["Allow"] == "GET, HEAD"
    assert body["message"] == "allow: GET, HEAD"


def test_configured_version_and_build_headers(make_client: MakeClient) -> None:
    client = make_client(influxdb_version="2.9.1", build="Custom")
    response = client.get("/ping")
    assert response.headers["X-Influxdb-Version"] == "2.9.1"
    assert response.headers["X-Influxdb-Build"] == "Custom"
    health = client.get("/health").json()
    assert health["version"] == "2.9.1"


def test_health_passes_with_named_checks(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSON
    body = response.json()
    assert body["name"] == "influxdb"
    assert body["status"] == "pass"
    assert body["message"] == "ready for queries and writes"
    assert {check["name"] for check in body["checks"]} == {"metrics-registry", "state-directory"}
    assert all(check["status"] == "pass" for check in body["checks"])


def test_ready_reports_start_time_and_go_style_uptime(client: TestClient) -> None:
    asked = time.time()
    response = client.get("/ready")
    answered = time.time()
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    # influxd writes a Go time.Time: UTC, `Z`, nanoseconds with trailing zeros dropped.
    second, nanos = parse_rfc3339_nano_utc(body["started"])
    started = second.timestamp() + nanos / 1e9
    up = parse_go_duration(body["up"])
    # started + up is when the answer was made (same machine, same clock); the margin
    # is for the wall clock and the monotonic clock drifting apart.
    assert asked - 0.05 <= started + up <= answered + 0.05
    assert 0 < up < 3600


class BrokenCollector(Collector):
    """A collector whose source has gone away, as a real exporter's can."""

    def collect(self) -> Iterator[Metric]:
        raise OSError("source unavailable")


def test_collection_failure_is_influx_internal_error(tmp_path: Path) -> None:
    config = Config(state_dir=tmp_path)
    state = AppState.create(config)
    broken = BrokenCollector()
    state.registry.register(broken)
    client = create_app(config, state).test_client()
    response = client.get("/metrics")
    assert_influx_error(response, 500, "internal error")
    assert response.json() == {
        "code": "internal error",
        "message": "An internal error has occurred - check server logs",
    }
    assert "source unavailable" not in response.text
    # The failed request was still counted.
    state.registry.unregister(broken)
    body = client.get("/metrics").text
    assert request_count(body, path="/metrics", response_code="500", status="5XX") == 1


class HungCollector(Collector):
    """A collector stuck on its source until `release` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def collect(self) -> Iterator[Metric]:
        self.calls += 1
        self.release.wait(30)
        return iter(())


def test_a_hung_collector_holds_one_thread_and_fails_health_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers, "COLLECT_DEADLINE_SECONDS", 0.3)
    config = Config(state_dir=tmp_path)
    state = AppState.create(config)
    hung = HungCollector()
    state.registry.register(hung)
    with create_app(config, state).test_client() as client:
        first = client.get("/health")
        threads = threading.active_count()
        later = [client.get("/health") for _ in range(20)]
        assert threading.active_count() == threads  # no thread per probe
        assert hung.calls == 1  # one collection at a time: the hung one
        for response in [first, *later]:
            assert response.status_code == 503
            registry_check = response.json()["checks"][0]
            assert registry_check["name"] == "metrics-registry"
            assert registry_check["status"] == "fail"
            assert registry_check["message"] == "collection exceeded 0.3s"
        hung.release.set()
        deadline = time.monotonic() + 10
        while client.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "health did not recover"
            time.sleep(0.05)


@pytest.mark.parametrize("server_process", [True, False])
def test_a_server_process_freezes_what_its_start_leaves_alive(
    tmp_path: Path, server_process: bool
) -> None:
    """A full collection walks every object the collector sees: in a server process the
    start-up state (spec, Connexion's tables, the registry) is frozen out of its sight,
    so no collection stalls requests for tens of milliseconds; an app made in a test
    leaves everything collectable."""
    gc.unfreeze()
    app = create_app(Config(state_dir=tmp_path), server_process=server_process)
    try:
        assert gc.get_freeze_count() == 0  # nothing before the app starts
        with TestClient(app) as client:
            assert client.get("/ping").status_code == 204
            frozen = gc.get_freeze_count()
        if server_process:
            assert frozen > 10_000  # Connexion's, Flask's and the spec's objects
        else:
            assert frozen == 0
    finally:
        gc.unfreeze()
