"""The request path against its anchors: /ping beside a bare Connexion app and a raw ASGI
app under the same protocol (bench/anchors.py); /metrics beside prometheus_client's
make_wsgi_app at the default registry and at 1,000 samples that all change between
scrapes; /ping's tail while 100k-sample scrapes run back to back.

Throughput: wrk, 1 thread, 8 connections, identity encoding, the servers in turn, the
order reversed every round; each ratio is the median of the per-round ratios.
/ping under scrapes: rounds of 300 sequential pings over one keep-alive connection
(2 ms apart), alternating idle and with `wrk -c1` scraping /metrics (text) meanwhile;
the ratio is the p99 under scrapes over the idle p99, both pooled over the rounds.
"""

from __future__ import annotations

import http.client
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.load import percentile, wrk
from bench.procs import LOOPBACK, Server, baseline, service
from bench.ratios import Row

CHANGING_SAMPLES = 1000
PINGS_PER_ROUND = 300
SCRAPE_LOOP_SAMPLES = 100_000


def anchor(workdir: Path, name: str) -> Server:
    command = [sys.executable, "-m", "bench.anchors", name, "--port", "0"]
    command += ["--state-dir", str(workdir / "state")]
    return Server(f"anchor-{name}", command, workdir, ready_path="/ping")


def alternate(
    servers: Sequence[tuple[str, Server, str]], seconds: float, rounds: int
) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {name: [] for name, _, _ in servers}
    for index in range(rounds):
        for name, server, path in servers if index % 2 == 0 else list(reversed(servers)):
            result = wrk(server.url + path, seconds)
            if result.failures:
                raise RuntimeError(f"{name}: {result.failures} non-2xx responses under load")
            rates[name].append(result.requests_per_second)
    return rates


def ratio(rates: dict[str, list[float]], top: str, bottom: str) -> float:
    return statistics.median(a / b for a, b in zip(rates[top], rates[bottom], strict=True))


def ping_rows(workdir: Path, seconds: float, rounds: int) -> list[Row]:
    with (
        service(workdir, 0, name="service-ping") as ours,
        anchor(workdir, "connexion") as bare,
        anchor(workdir, "asgi") as raw,
    ):
        servers = [("ours", ours, "/ping"), ("connexion", bare, "/ping"), ("asgi", raw, "/ping")]
        rates = alternate(servers, seconds, rounds)
    over_connexion = ratio(rates, "ours", "connexion")
    over_asgi = ratio(rates, "ours", "asgi")
    medians = " / ".join(f"{statistics.median(rates[name]):.0f}" for name, _, _ in servers)
    note = f"wrk {rounds}×{seconds:.0f}s; medians {medians} req/s"
    return [
        Row(
            "/ping throughput, 1 process",
            "bare Connexion FlaskApp, same openapi.yaml, trivial handlers (uvicorn h11)",
            over_connexion,
            "≥ 4.00",
            over_connexion >= 4,
            note + " (ours / Connexion / raw ASGI)",
        ),
        Row(
            "/ping throughput, 1 process",
            "raw ASGI app under the same protocol",
            over_asgi,
            "≥ 0.45",
            over_asgi >= 0.45,
            "the floor: the protocol's own cost",
        ),
    ]


def metrics_rows(workdir: Path, seconds: float, rounds: int) -> list[Row]:
    rows = []
    for label, changing, target in (
        ("default registry", 0, 3.0),
        (
            f"{CHANGING_SAMPLES} samples, every value changing between scrapes",
            CHANGING_SAMPLES,
            5.0,
        ),
    ):
        with (
            service(workdir, 0, changing=changing, name=f"service-metrics-{changing}") as ours,
            baseline(workdir, 0, changing=changing, name=f"baseline-metrics-{changing}") as wsgi,
        ):
            rates = alternate(
                [("ours", ours, "/metrics"), ("wsgi", wsgi, "/metrics")], seconds, rounds
            )
        measured = ratio(rates, "ours", "wsgi")
        rows.append(
            Row(
                f"/metrics throughput, {label}",
                "prometheus_client make_wsgi_app, gunicorn 1 sync worker",
                measured,
                f"≥ {target:.2f}",
                measured >= target,
                f"wrk {rounds}×{seconds:.0f}s, 8 connections",
            )
        )
    return rows


def _pings(port: int, count: int) -> list[float]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    seconds = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("GET", "/ping")
            connection.getresponse().read()
            seconds.append(time.perf_counter() - started)
            time.sleep(0.002)
    finally:
        connection.close()
    return seconds


def ping_under_scrapes_rows(workdir: Path, rounds: int) -> list[Row]:
    idle: list[float] = []
    busy: list[float] = []
    with service(workdir, SCRAPE_LOOP_SAMPLES, name="service-ping-under-scrapes") as ours:
        for _ in range(rounds):
            idle += _pings(ours.port, PINGS_PER_ROUND)
            loop = ["wrk", "--threads=1", "--connections=1", "--duration=120s", "--timeout=30s"]
            with subprocess.Popen(
                [*loop, ours.url + "/metrics"], stdout=subprocess.DEVNULL
            ) as scraping:
                try:
                    time.sleep(1)  # scrapes under way
                    busy += _pings(ours.port, PINGS_PER_ROUND)
                finally:
                    scraping.kill()
    measured = percentile(busy, 0.99) / percentile(idle, 0.99)
    return [
        Row(
            f"/ping p99 during back-to-back {SCRAPE_LOOP_SAMPLES // 1000}k-sample scrapes",
            "/ping p99 idle",
            measured,
            "≤ 3.00",
            measured <= 3,
            f"{len(busy)} pings each; medians {statistics.median(busy) * 1000:.2f} vs "
            f"{statistics.median(idle) * 1000:.2f} ms, p99 {percentile(busy, 0.99) * 1000:.2f} vs "
            f"{percentile(idle, 0.99) * 1000:.2f} ms",
        )
    ]


def rows(workdir: Path, seconds: float, rounds: int) -> list[Row]:
    found = ping_rows(workdir, seconds, rounds)
    found += metrics_rows(workdir, seconds, rounds)
    return found + ping_under_scrapes_rows(workdir, max(2, rounds // 2))
