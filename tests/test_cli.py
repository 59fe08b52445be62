"""The `influx-metrics` console script, run as a subprocess against live services."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import StartServer
from tests.support.lp_parser import parse_lines
from tests.support.other_servers import closed_port, silent_listener, web_page_server
from tools.live import LiveServer

pytestmark = pytest.mark.slow  # every test runs influx-metrics in a fresh interpreter

TOOL = Path(sys.executable).with_name("influx-metrics")
TOKEN = "tool-test-token-4c2e"
RUN_TIMEOUT_SECONDS = 60


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert TOOL.exists(), f"{TOOL} is missing: pip install -e . (it is a console script)"
    environment = {k: v for k, v in os.environ.items() if k != "INFLUX_TOKEN"}
    return subprocess.run(
        [str(TOOL), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        env={**environment, **(env or {})},
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The tool's failure: nothing on stdout, exactly one line on stderr."""
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("influx-metrics: ")
    return lines[0]


@pytest.mark.parametrize("command", [[], ["scrape"], ["health"], ["ready"], ["ping"]])
def test_help_on_every_subcommand(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: influx-metrics {' '.join(command)}".rstrip())
    if command:
        assert "--token" in result.stdout and "--timeout" in result.stdout
    if command == ["scrape"]:
        assert "{text,json,lp1,lp2}" in result.stdout and "--name" in result.stdout


def test_scrape_text_is_the_exposition(server: LiveServer) -> None:
    result = run("scrape", server.url)
    assert result.returncode == 0, result.stderr
    names = {family.name for family in text_string_to_metric_families(result.stdout)}
    assert {"influxdb_info", "http_api_requests", "http_api_request_duration_seconds"} <= names


@pytest.mark.parametrize("options", [["--gzip"], ["--openmetrics"]])
def test_scrape_text_with_transfer_options(server: LiveServer, options: list[str]) -> None:
    result = run("scrape", server.url, "--name", "influxdb_info", *options)
    assert result.returncode == 0, result.stderr
    assert "# TYPE influxdb_info" in result.stdout
    assert result.stdout.endswith("# EOF\n") == (options == ["--openmetrics"])


def test_scrape_json_has_families_samples_and_labels(server: LiveServer) -> None:
    names = ["--name", "influxdb_info", "--name", "http_api_requests"]
    result = run("scrape", server.url, "--format", "json", *names)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["url"] == server.url + "/metrics"
    families = {family["name"]: family for family in document["families"]}
    assert set(families) == {"influxdb_info", "http_api_requests"}
    info = families["influxdb_info"]
    assert info["type"] == "gauge" and info["help"]
    (sample,) = info["samples"]
    assert sample["value"] == 1.0 and sample["labels"]["version"] == "v2.7.12"
    assert families["http_api_requests"]["type"] == "counter"


def test_scrape_line_protocol_version_1(server: LiveServer) -> None:
    run("ping", server.url)  # so that a request has been counted
    result = run("scrape", server.url, "--format", "lp1")
    assert result.returncode == 0, result.stderr
    lines = parse_lines(result.stdout)
    info = [line for line in lines if line.measurement == "influxdb_info"]
    assert len(info) == 1 and info[0].fields == {"gauge": 1.0}
    assert info[0].tags["version"] == "v2.7.12"
    requests_total = [line for line in lines if line.measurement == "http_api_requests_total"]
    assert requests_total and all(set(line.fields) == {"counter"} for line in requests_total)
    assert len({line.timestamp_ns for line in lines}) == 1  # one scrape, one time


def test_scrape_line_protocol_version_2(server: LiveServer) -> None:
    result = run(
        "scrape", server.url, "--format", "lp2", "--name", "http_api_request_duration_seconds"
    )
    assert result.returncode == 0, result.stderr
    lines = parse_lines(result.stdout)
    assert lines and all(line.measurement == "prometheus" for line in lines)
    assert all(line.tags["url"] == server.url + "/metrics" for line in lines)
    buckets = [line for line in lines if "le" in line.tags]
    assert {line.tags["le"] for line in buckets} >= {"0.005", "1", "10", "+Inf"}
    assert all(set(line.fields) == {"http_api_request_duration_seconds"} for line in buckets)
    totals = [line for line in lines if "le" not in line.tags]
    assert all(
        set(line.fields)
        == {"http_api_request_duration_seconds_count", "http_api_request_duration_seconds_sum"}
        for line in totals
    )


def test_health_ready_ping_succeed(server: LiveServer) -> None:
    health = run("health", server.url)
    assert health.returncode == 0, health.stderr
    assert health.stdout.startswith("pass: influxdb v2.7.12 (commit unknown): ")
    assert "state-directory" in health.stdout
    ready = run("ready", server.url)
    assert ready.returncode == 0, ready.stderr
    assert ready.stdout.startswith("ready: started ") and ", up " in ready.stdout
    ping = run("ping", server.url)
    assert ping.returncode == 0, ping.stderr
    assert ping.stdout == f"reachable: {server.url} (InfluxDB OSS v2.7.12)\n"


def test_failing_health_exits_non_zero(start_server: StartServer) -> None:
    live = start_server()
    shutil.rmtree(live.state_dir)  # the state-directory check can no longer write there
    result = run("health", live.url)
    assert result.returncode == 1
    assert result.stdout.startswith("fail: influxdb")
    assert "  fail  state-directory: " in result.stdout


def test_wrong_token_in_token_protected_mode(start_server: StartServer) -> None:
    live = start_server(env={"INFLUXDB_SYSINFO_TOKENS": TOKEN})
    wrong = run("scrape", live.url, "--token", "not-the-token")
    assert wrong.returncode == 1
    assert one_error_line(wrong) == (
        "influx-metrics: 401 unauthorized: unauthorized access (check --token or $INFLUX_TOKEN)"
    )
    right = run("scrape", live.url, "--name", "influxdb_info", env={"INFLUX_TOKEN": TOKEN})
    assert right.returncode == 0 and "influxdb_info" in right.stdout
    # /ping, /health and /ready stay public, as in influxd.
    assert run("ping", live.url, "--token", "not-the-token").returncode == 0


def test_metrics_disabled(start_server: StartServer) -> None:
    live = start_server("--metrics-disabled")
    result = run("scrape", live.url)
    assert result.returncode == 1
    assert one_error_line(result) == "influx-metrics: 403 forbidden: metrics disabled"


@pytest.mark.parametrize("command", ["scrape", "health", "ready", "ping"])
def test_unreachable_host(command: str) -> None:
    with closed_port() as port:
        url = f"http://127.0.0.1:{port}"
        result = run(command, url)
    assert result.returncode == 1
    assert one_error_line(result) == f"influx-metrics: cannot connect to {url}: connection refused"


def test_timeout() -> None:
    with silent_listener() as url:
        result = run("ping", url, "--timeout", "0.5")
    assert result.returncode == 1
    assert one_error_line(result) == f"influx-metrics: {url}: no answer within 0.5s"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:8086", "127.0.0.1:8086", "http://:8086"])
def test_bad_url_is_a_usage_error(url: str) -> None:
    result = run("ping", url)
    assert result.returncode == 2
    assert one_error_line(result).startswith(f"influx-metrics: invalid URL '{url}': ")


def test_web_page_is_not_an_exposition() -> None:
    with web_page_server() as url:
        result = run("scrape", url)
    assert result.returncode == 1
    assert one_error_line(result) == (
        f"influx-metrics: {url}/metrics did not return a Prometheus exposition "
        "(Content-Type: text/html)"
    )
