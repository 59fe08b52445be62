"""impl.client against live services: parsed metrics, typed results, one server error type."""

from __future__ import annotations

import shutil
import time
from datetime import datetime

import pytest
import requests
from prometheus_client.metrics_core import Metric

from impl.client import (
    ConnectionFailed,
    Exposition,
    InvalidURL,
    RequestTimedOut,
    ServerError,
    SysinfoClient,
    UnexpectedResponse,
)
from sysinfo_client.models.health_check import HealthCheck
from sysinfo_client.models.ready import Ready
from tests.conftest import StartServer
from tests.support.go_time import parse_go_duration
from tests.support.other_servers import closed_port, silent_listener, web_page_server
from tools.live import LiveServer

TOKEN = "client-test-token-93b1"


def family_names(families: list[Metric]) -> set[str]:
    return {family.name for family in families}


def test_metrics_are_parsed_families(server: LiveServer) -> None:
    with SysinfoClient(server.url) as client:
        families = {family.name: family for family in client.metrics()}
    assert families["http_api_requests"].type == "counter"
    assert families["http_api_request_duration_seconds"].type == "histogram"
    (info,) = families["influxdb_info"].samples
    assert info.value == 1.0 and info.labels["version"] == "v2.7.12"


def test_metrics_name_filter_keeps_only_named_families(server: LiveServer) -> None:
    with SysinfoClient(server.url) as client:
        names = family_names(client.metrics(["influxdb_info", "influxdb_uptime_seconds"]))
    assert names == {"influxdb_info", "influxdb_uptime_seconds"}


def test_metrics_sample_names_select_their_families(server: LiveServer) -> None:
    """`x_bucket` selects histogram `x` and `x_total` counter `x`, as the server does."""
    wanted = ["http_api_request_duration_seconds_bucket", "http_api_requests_total"]
    requests.get(server.url + "/ping", timeout=10)  # so that both families have samples
    with SysinfoClient(server.url) as client:
        names = family_names(client.metrics(wanted))
    assert names == {"http_api_request_duration_seconds", "http_api_requests"}


def test_client_applies_name_selection_when_the_server_ignores_it() -> None:
    """influxd ignores name[]; the client keeps what was asked for, by the same rule."""
    text = (
        "# HELP d d\n# TYPE d histogram\n"
        'd_bucket{le="1.0"} 1.0\nd_bucket{le="+Inf"} 1.0\nd_count 1.0\nd_sum 0.5\n'
        "# HELP c_total c\n# TYPE c_total counter\nc_total 3.0\n"
        "# HELP g g\n# TYPE g gauge\ng 1.0\n"
    )
    exposition = Exposition(text, "text/plain; version=0.0.4; charset=utf-8", False)
    assert [f.name for f in exposition.families(["d_bucket"])] == ["d"]
    assert [f.name for f in exposition.families(["c_total", "g"])] == ["c", "g"]
    assert [f.name for f in exposition.families(["d_count", "nothing"])] == ["d"]
    assert len(exposition.families()) == 3


def test_gzip_transfer_is_decompressed(server: LiveServer) -> None:
    with SysinfoClient(server.url) as client:
        compressed = client.scrape(["influxdb_info"], gzip=True)
        plain = client.scrape(["influxdb_info"])
    assert compressed.compressed and not plain.compressed
    assert compressed.text == plain.text
    assert [f.name for f in compressed.families()] == ["influxdb_info"]


def test_openmetrics_when_preferred(server: LiveServer) -> None:
    with SysinfoClient(server.url) as client:
        exposition = client.scrape(["http_api_requests"], openmetrics=True)
    assert exposition.openmetrics
    assert exposition.text.endswith("# EOF\n")
    (family,) = exposition.families()
    assert family.name == "http_api_requests" and family.type == "counter"


def test_health_is_a_typed_pass(server: LiveServer) -> None:
    with SysinfoClient(server.url) as client:
        health = client.health()
    assert isinstance(health, HealthCheck)
    assert (health.name, health.status, health.version) == ("influxdb", "pass", "v2.7.12")
    assert {check.name for check in health.checks or []} >= {"state-directory"}


def test_failing_health_is_returned_not_raised(start_server: StartServer) -> None:
    live = start_server()
    shutil.rmtree(live.state_dir)  # the state-directory check can no longer write there
    with SysinfoClient(live.url) as client:
        health = client.health()
    assert health.status == "fail"
    failing = [check.name for check in health.checks or [] if check.status == "fail"]
    assert failing == ["state-directory"]


def test_ready_is_typed(server: LiveServer) -> None:
    with SysinfoClient(server.url) as client:
        ready = client.ready()
    assert isinstance(ready, Ready)
    assert ready.status == "ready"
    assert isinstance(ready.started, datetime) and ready.started.tzinfo is not None
    assert ready.up is not None and parse_go_duration(ready.up) > 0


def test_ping_reports_version_and_build(start_server: StartServer) -> None:
    live = start_server("--influxdb-version", "2.9.1-test")
    with SysinfoClient(live.url) as client:
        ping = client.ping()
    assert (ping.version, ping.build) == ("2.9.1-test", "OSS")


def test_token_is_sent_in_token_protected_mode(start_server: StartServer) -> None:
    live = start_server(env={"INFLUXDB_SYSINFO_TOKENS": TOKEN})
    with SysinfoClient(live.url, token=TOKEN) as client:
        assert family_names(client.metrics(["influxdb_info"])) == {"influxdb_info"}
    for token in (None, "wrong-token"):
        with SysinfoClient(live.url, token=token) as client, pytest.raises(ServerError) as caught:
            client.metrics()
        error = caught.value
        assert (error.status, error.code, error.message) == (
            401,
            "unauthorized",
            "unauthorized access",
        )


def test_metrics_disabled_is_a_forbidden_server_error(start_server: StartServer) -> None:
    live = start_server("--metrics-disabled")
    with SysinfoClient(live.url) as client, pytest.raises(ServerError) as caught:
        client.metrics()
    assert (caught.value.status, caught.value.code) == (403, "forbidden")
    assert caught.value.message == "metrics disabled"
    assert str(caught.value) == "403 forbidden: metrics disabled"


def test_invalid_family_name_is_an_invalid_server_error(server: LiveServer) -> None:
    with SysinfoClient(server.url) as client, pytest.raises(ServerError) as caught:
        client.metrics(names=["not-a-metric-name"])
    assert (caught.value.status, caught.value.code) == (400, "invalid")
    assert "not-a-metric-name" in caught.value.message


def test_connection_refused() -> None:
    with closed_port() as port:
        url = f"http://127.0.0.1:{port}"
        with SysinfoClient(url, timeout=5) as client, pytest.raises(ConnectionFailed) as caught:
            client.ping()
    assert str(caught.value) == f"cannot connect to {url}: connection refused"


def test_silent_server_times_out_within_the_timeout() -> None:
    with silent_listener() as url, SysinfoClient(url, timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(RequestTimedOut, match=r"no answer within 0\.5s"):
            client.metrics()
        assert time.monotonic() - started < 5


def test_web_page_instead_of_exposition() -> None:
    with web_page_server() as url, SysinfoClient(url) as client:
        with pytest.raises(UnexpectedResponse, match="did not return a Prometheus exposition"):
            client.metrics()
        with pytest.raises(ServerError) as caught:
            client.health()
    # Not InfluxDB's JSON: the status gives the code and the page's first line the message.
    assert (caught.value.status, caught.value.code) == (502, "internal error")
    assert "502 Bad Gateway" in caught.value.message


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1", "http://", "127.0.0.1:8086", "http://127.0.0.1:99999", "http://h/?q=1"],
)
def test_invalid_urls_are_rejected_before_any_request(url: str) -> None:
    with pytest.raises(InvalidURL, match="invalid URL"):
        SysinfoClient(url)


def test_token_never_shows_in_repr() -> None:
    client = SysinfoClient("http://127.0.0.1:8086/", token=TOKEN)
    assert TOKEN not in repr(client)
    assert client.url == "http://127.0.0.1:8086"


def test_family_filter_holds_even_when_the_server_ignores_it() -> None:
    # influxd answers /metrics?name[]=... with every family; the client still filters.
    text = "# TYPE jobs_total counter\njobs_total 1\n# TYPE level gauge\nlevel 2\n"
    exposition = Exposition(text, "text/plain; version=0.0.4; charset=utf-8", False)
    assert [family.name for family in exposition.families(["jobs_total"])] == ["jobs"]
    assert [family.name for family in exposition.families(["level"])] == ["level"]
    assert len(exposition.families()) == 2
