"""The real Prometheus scraping the service over HTTPS with `tls_config.ca_file`, while
the certificate is renewed: the next handshakes get the new certificate, no scrape fails.
One process and --workers 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.prometheus import Prometheus
from tests.support.scaleout import wait_for
from tests.test_tls import der_of, served_certificate
from tools.certificates import Authority, TlsLiveServer

pytestmark = pytest.mark.slow  # the real prometheus scraping for several seconds

JOB = "sysinfo-https"
# Longer than the keep-alive timeout below: every scrape opens a connection, so each one
# after the renewal shakes hands with the new certificate.
SCRAPE_INTERVAL = "2s"
KEEP_ALIVE_SECONDS = "1"
SCRAPES_EACH_SIDE = 3


def scrape_config(target: str, ca_file: Path) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": JOB,
                "scheme": "https",
                "tls_config": {"ca_file": str(ca_file)},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }


def scrapes(prometheus: Prometheus) -> tuple[int, float]:
    """How many scrapes Prometheus made of the target so far, and the lowest `up`."""
    counted = prometheus.value(f'count_over_time(up{{job="{JOB}"}}[10m])') or 0
    lowest = prometheus.value(f'min_over_time(up{{job="{JOB}"}}[10m])')
    return int(counted), 1.0 if lowest is None else lowest


def metrics_scrapes_logged(log: str) -> int:
    return sum(
        1
        for line in log.splitlines()
        if "path=/metrics" in line and "status=200" in line and "user_agent=Prometheus" in line
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_prometheus_scrapes_over_https_through_a_renewal(tmp_path: Path, workers: int) -> None:
    authority = Authority(tmp_path / "certificates")
    pair = authority.issue("server")
    flags = ["--keep-alive-timeout", KEEP_ALIVE_SECONDS]
    if workers > 1:
        flags += ["--workers", str(workers)]
    (tmp_path / "service").mkdir()
    with TlsLiveServer(tmp_path / "service", pair, authority.cert, flags) as live:
        target = f"127.0.0.1:{live.port}"
        with Prometheus(tmp_path / "prometheus", scrape_config(target, authority.cert)) as prom:
            wait_for(lambda: scrapes(prom)[0] >= SCRAPES_EACH_SIDE, "scrapes over HTTPS", 60)
            renewed = authority.issue("renewed")
            pair.replace_with(renewed)
            client = authority.client_context()
            assert served_certificate(live.port, client) == der_of(renewed)
            wait_for(lambda: "TLS certificate reloaded" in live.log(), "the renewal")
            before = metrics_scrapes_logged(live.log().split("TLS certificate reloaded", 1)[1])
            wait_for(
                lambda: (
                    metrics_scrapes_logged(live.log().split("TLS certificate reloaded", 1)[1])
                    >= before + SCRAPES_EACH_SIDE
                ),
                "scrapes after the renewal",
                60,
            )
            counted, lowest = scrapes(prom)
            [target_state] = prom.targets()
    assert counted >= 2 * SCRAPES_EACH_SIDE
    assert lowest == 1.0  # not one scrape failed
    assert target_state["health"] == "up" and target_state["lastError"] == ""
    assert target_state["scrapeUrl"] == f"https://{target}/metrics"
