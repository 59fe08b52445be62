"""The app as a whole: identity headers and InfluxDB errors from every layer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from impl.server.app import create_app
from impl.server.config import Config
from impl.server.state import AppState
from tests.conftest import StartServer
from tests.go_time import parse_go_duration, parse_rfc3339_nano_utc
from tests.live import LiveServer
from tests.metrics_text import request_count

JSON = "application/json; charset=utf-8"


def assert_influx_error(response: requests.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status
    assert response.headers["Content-Type"] == JSON
    assert response.headers["X-Platform-Error-Code"] == code
    body: dict[str, str] = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response.text
    return body


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
    server: LiveServer, method: str, path: str, status: int
) -> None:
    response = requests.request(method, server.url + path, timeout=10)
    assert response.status_code == status
    assert response.headers["X-Influxdb-Build"] == "OSS"
    assert response.headers["X-Influxdb-Version"] == "2.7.12"


def test_ping_is_204_without_body(server: LiveServer) -> None:
    for method in ("GET", "HEAD"):
        response = requests.request(method, server.url + "/ping", timeout=10)
        assert response.status_code == 204
        assert response.content == b""
        assert "Content-Type" not in response.headers


def test_unknown_path_returns_influx_not_found(server: LiveServer) -> None:
    body = assert_influx_error(
        requests.get(server.url + "/api/v2/nope", timeout=10), 404, "not found"
    )
    assert body == {"code": "not found", "message": "path not found"}


def test_wrong_method_lists_allowed_methods(server: LiveServer) -> None:
    response = requests.post(server.url + "/metrics", timeout=10)
    body = assert_influx_error(response, 405, "method not allowed")
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert "GET" in allowed
    assert body["message"].startswith("allow: ")
    assert {m.strip() for m in body["message"][len("allow: ") :].split(",")} == allowed


def test_configured_version_and_build_headers(start_server: StartServer) -> None:
    server = start_server("--version", "2.9.1", "--build", "Custom")
    response = requests.get(server.url + "/ping", timeout=10)
    assert response.headers["X-Influxdb-Version"] == "2.9.1"
    assert response.headers["X-Influxdb-Build"] == "Custom"
    health = requests.get(server.url + "/health", timeout=10).json()
    assert health["version"] == "2.9.1"


def test_health_passes_with_named_checks(server: LiveServer) -> None:
    response = requests.get(server.url + "/health", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSON
    body = response.json()
    assert body["name"] == "influxdb"
    assert body["status"] == "pass"
    assert body["message"] == "ready for queries and writes"
    assert {check["name"] for check in body["checks"]} == {"metrics-registry", "state-directory"}
    assert all(check["status"] == "pass" for check in body["checks"])


def test_ready_reports_start_time_and_go_style_uptime(server: LiveServer) -> None:
    asked = time.time()
    response = requests.get(server.url + "/ready", timeout=10)
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
    assert response.status_code == 500
    assert response.headers["content-type"] == JSON
    assert response.headers["x-platform-error-code"] == "internal error"
    assert response.json() == {
        "code": "internal error",
        "message": "An internal error has occurred - check server logs",
    }
    assert "source unavailable" not in response.text
    # The failed request was still counted.
    state.registry.unregister(broken)
    body = client.get("/metrics").text
    assert request_count(body, path="/metrics", response_code="500", status="5XX") == 1
