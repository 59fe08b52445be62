"""InfluxDB's official Python client (influxdb-client) treats the service as influxd."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from influxdb_client import InfluxDBClient
from influxdb_client.rest import ApiException
from influxdb_client.service.metrics_service import MetricsService
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import StartServer
from tools.live import LiveServer

TOKEN = "official-client-token-0d8a"
VERSION = "2.7.99-compat"


@pytest.fixture
def versioned(start_server: StartServer) -> LiveServer:
    return start_server("--influxdb-version", VERSION)


@pytest.fixture
def protected(start_server: StartServer) -> LiveServer:
    return start_server(env={"INFLUXDB_SYSINFO_TOKENS": TOKEN})


@contextlib.contextmanager
def official_client(url: str, token: str | None) -> Iterator[InfluxDBClient]:
    client = InfluxDBClient(url=url, token=token, timeout=10_000)
    try:
        yield client
    finally:
        client.close()


def family_names(exposition: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(exposition)}


@pytest.mark.parametrize("token", [None, "any-token-is-ignored-when-public"])
def test_official_client_calls(versioned: LiveServer, token: str | None) -> None:
    with official_client(versioned.url, token) as client:
        assert client.ping() is True
        assert client.version() == VERSION
        assert client.build() == "OSS"
        health = client.health()
        assert (health.name, health.status, health.version) == ("influxdb", "pass", VERSION)
        assert health.message == "ready for queries and writes"
        ready = client.ready()
        assert ready.status == "ready" and ready.started is not None and ready.up
        exposition = MetricsService(client.api_client).get_metrics()
        assert isinstance(exposition, str)
        assert {"influxdb_info", "http_api_requests"} <= family_names(exposition)


def test_official_client_with_the_right_token_in_protected_mode(protected: LiveServer) -> None:
    with official_client(protected.url, TOKEN) as client:
        exposition = MetricsService(client.api_client).get_metrics()
        assert "influxdb_info" in family_names(exposition)


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_official_client_refused_metrics_in_protected_mode(
    protected: LiveServer, token: str | None
) -> None:
    with official_client(protected.url, token) as client:
        with pytest.raises(ApiException) as caught:
            MetricsService(client.api_client).get_metrics()
        assert caught.value.status == 401
        assert caught.value.message == "unauthorized access"
        # The system endpoints stay public, as in influxd.
        assert client.ping() is True
        assert client.health().status == "pass"
