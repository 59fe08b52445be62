"""Routing as the spec says (impl/http/routes.py): HEAD on GET operations, exact paths."""

from __future__ import annotations

import pytest
import requests

from impl.client.rawhttp import RawClient
from tests.support.influx import assert_influx_error
from tools.live import LiveServer


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics", "/ping"])
def test_head_has_the_get_status_and_headers_without_a_body(server: LiveServer, path: str) -> None:
    get = requests.get(server.url + path, headers={"Accept-Encoding": "identity"}, timeout=10)
    head = requests.head(server.url + path, headers={"Accept-Encoding": "identity"}, timeout=10)
    assert head.status_code == get.status_code
    assert head.content == b""
    for name in ("Content-Type", "X-Influxdb-Build", "X-Influxdb-Version"):
        assert head.headers.get(name) == get.headers.get(name), name


@pytest.mark.parametrize(
    "path", ["/metrics/", "/ping/", "/health//", "//metrics", "//ping", "/metrics//x"]
)
def test_near_miss_paths_are_influx_not_found(server: LiveServer, path: str) -> None:
    response = requests.get(server.url + path, allow_redirects=False, timeout=10)
    body = assert_influx_error(response, 404, "not found")
    assert body == {"code": "not found", "message": "path not found"}
    assert "Location" not in response.headers


@pytest.mark.parametrize(("target", "status"), [("/ping", 204), ("/metrics", 200), ("/nope", 404)])
def test_absolute_form_targets_are_routed_by_their_path(
    server: LiveServer, target: str, status: int
) -> None:
    with RawClient(server.port) as client:
        response = client.request("GET", f"http://127.0.0.1:{server.port}{target}")
    assert response.status == status
