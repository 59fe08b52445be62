"""The real Prometheus server, configured as examples/prometheus/, scraping two instances.

One instance is a single process, the other runs several workers. After a known number
of requests, Prometheus' HTTP API must agree with what was sent, exactly, once its own
scrapes are accounted for: each successful scrape is counted by the service and shows
up in the next one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import StartServer
from tests.support.prometheus import Prometheus
from tests.support.scaleout import send_pings, wait_for
from tools.live import LiveServer

pytestmark = pytest.mark.slow  # the real prometheus scraping for several seconds

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "prometheus"
JOB = "influxdb-sysinfo"
SCRAPE_WAIT_SECONDS = 60.0


def example_config(workdir: Path, targets: list[str]) -> dict[str, Any]:
    """examples/prometheus/ made fast, its file-based discovery pointed at `targets`."""
    config: dict[str, Any] = yaml.safe_load((EXAMPLE / "prometheus.yml").read_text("utf-8"))
    config["global"] = {"scrape_interval": "1s", "scrape_timeout": "1s"}
    [job] = config["scrape_configs"]
    assert job["job_name"] == JOB
    targets_file = workdir / "targets.json"
    targets_file.write_text(json.dumps([{"targets": targets}]), encoding="utf-8")
    job["file_sd_configs"][0]["files"] = [str(targets_file)]
    return config


@pytest.fixture
def instances(start_server: StartServer, tmp_path: Path) -> tuple[LiveServer, LiveServer]:
    single = start_server(wait=False)
    workers = start_server(
        "--workers", "3", "--multiproc-dir", str(tmp_path / "multiproc"), wait=False
    )
    for live in (single, workers):
        live.wait_until_up()  # exactly one readiness ping each
    return single, workers


@pytest.fixture
def prometheus(instances: tuple[LiveServer, LiveServer], tmp_path: Path) -> Iterator[Prometheus]:
    workdir = tmp_path / "prometheus"
    workdir.mkdir()
    config = example_config(workdir, [f"127.0.0.1:{live.port}" for live in instances])
    server = Prometheus(workdir, config)
    try:
        yield server.start()
    finally:
        server.stop()


def address(live: LiveServer) -> str:
    return f"127.0.0.1:{live.port}"


def test_prometheus_sums_exactly_what_was_sent(
    instances: tuple[LiveServer, LiveServer], prometheus: Prometheus
) -> None:
    single, workers = instances
    sent = {address(single): 40, address(workers): 90}
    send_pings(single.url, sent[address(single)])
    send_pings(workers.url, sent[address(workers)])
    readiness_pings = len(instances)

    total_sent = sum(sent.values())

    def scraped_enough() -> bool:
        # All the requests seen, and every target scraped a few times, so that each
        # reports earlier scrapes too.
        counted = prometheus.value(f'sum(http_api_requests_total{{job="{JOB}",user_agent="curl"}})')
        fewest_scrapes = prometheus.value("min(sum_over_time(up[1h]))")
        return counted == total_sent and (fewest_scrapes or 0) >= 3

    try:
        wait_for(scraped_enough, "prometheus to scrape the requests", SCRAPE_WAIT_SECONDS)
    except AssertionError as err:
        raise AssertionError(f"{err}; targets: {json.dumps(prometheus.targets())}") from err
    # Evaluate everything at one instant, a little in the past, so that no scrape can
    # land between two of the queries below.
    at = time.time()
    time.sleep(1.5)

    up = {r["metric"]["instance"]: float(r["value"][1]) for r in prometheus.query("up", at)}
    assert up == {address(single): 1.0, address(workers): 1.0}, prometheus.targets()
    for target in prometheus.targets():
        assert target["health"] == "up", target

    # Each scrape counts the successful scrapes before it: their number, less itself.
    earlier_scrapes = {
        r["metric"]["instance"]: float(r["value"][1])
        for r in prometheus.query("sum_over_time(up[1h]) - 1", at)
    }
    reported_scrapes = {
        r["metric"]["instance"]: float(r["value"][1])
        for r in prometheus.query(
            'sum by (instance) (http_api_requests_total{path="/metrics"})', at
        )
    }
    assert reported_scrapes == earlier_scrapes
    assert len(earlier_scrapes) == 2 and min(earlier_scrapes.values()) >= 2

    total = prometheus.value("sum(http_api_requests_total)", at)
    assert total == total_sent + readiness_pings + sum(earlier_scrapes.values())
    for instance, count in sent.items():
        expr = f'sum(http_api_requests_total{{instance="{instance}",path!="/metrics"}})'
        assert prometheus.value(expr, at) == count + 1  # and its readiness ping
    # Each scrape is a request like any other: one histogram observation per request.
    assert prometheus.value("sum(http_api_request_duration_seconds_count)", at) == total
