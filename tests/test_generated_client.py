"""The generated client (sysinfo_client) against the live service: typed results."""

from __future__ import annotations

from datetime import datetime

import pytest

from sysinfo_client import ApiClient, Configuration
from sysinfo_client.api.health_api import HealthApi
from sysinfo_client.api.metrics_api import MetricsApi
from sysinfo_client.api.ping_api import PingApi
from sysinfo_client.api.ready_api import ReadyApi
from sysinfo_client.exceptions import ApiException
from sysinfo_client.models.health_check import HealthCheck
from sysinfo_client.models.ready import Ready
from tests.conftest import StartServer
from tests.support.go_time import parse_go_duration
from tools.live import LiveServer
from tools.metrics_text import families


def client_for(server: LiveServer, token: str | None = None) -> ApiClient:
    configuration = Configuration(host=server.url)
    client = ApiClient(configuration)
    if token:
        client.set_default_header("Authorization", f"Token {token}")
    return client


def test_health_is_typed(server: LiveServer) -> None:
    health = HealthApi(client_for(server)).get_health()
    assert isinstance(health, HealthCheck)
    assert health.name == "influxdb" and health.status == "pass"
    assert health.checks and all(isinstance(c, HealthCheck) for c in health.checks)


def test_ready_is_typed(server: LiveServer) -> None:
    ready = ReadyApi(client_for(server)).get_ready()
    assert isinstance(ready, Ready)
    assert ready.status == "ready"
    assert isinstance(ready.started, datetime)
    assert ready.up is not None and parse_go_duration(ready.up) > 0


def test_ping_get_and_head(server: LiveServer) -> None:
    api = PingApi(client_for(server))
    response = api.get_ping_with_http_info()
    assert response.status_code == 204
    assert response.headers is not None
    headers = {key.lower(): value for key, value in response.headers.items()}
    assert headers["x-influxdb-version"] == "v2.7.12"
    assert api.head_ping_with_http_info().status_code == 204


def test_metrics_returns_exposition_and_filters(server: LiveServer) -> None:
    api = MetricsApi(client_for(server))
    parsed = families(api.get_metrics())
    assert "http_api_requests" in parsed and "process_cpu_seconds" in parsed
    only = families(api.get_metrics(name=["influxdb_info"]))
    assert set(only) == {"influxdb_info"}


def test_metrics_with_token_in_protected_mode(start_server: StartServer) -> None:
    live = start_server(env={"INFLUXDB_SYSINFO_TOKENS": "generated-client-token"})
    assert "influxdb_info" in MetricsApi(client_for(live, "generated-client-token")).get_metrics()
    with pytest.raises(ApiException) as caught:
        MetricsApi(client_for(live, "wrong")).get_metrics()
    assert caught.value.status == 401
    assert caught.value.body is not None and '"unauthorized access"' in caught.value.body
