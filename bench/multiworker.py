"""Several workers: scrape latency with 1, 2 and 4 processes at equal series, and the
same directory read by prometheus_client.

One process is the service as `influxdb-sysinfo` runs it by default (the synthetic
families in its registry). Two and four are `influxdb-sysinfo --workers N`; there
the same synthetic series are written into the service's multiprocess directory by
a helper process after start (`python -m bench.synthetic`), so every worker merges
them into its scrapes exactly as it merges its siblings' HTTP metrics. The same
directory is then also read in-process, in the same rounds, by the service's read
path (DirectoryCollector and encode_text, one collector kept across rounds as a
worker keeps it) and by prometheus_client's MultiProcessCollector and
generate_latest (a fresh registry per scrape, as its documentation says).

The cost of recording: HttpMetrics.record() (a counter and a histogram: three values
written per request) timed in-process with the service's values (pwrite into the
files), prometheus_client's multiprocess values (stores into a shared mapping) and
in-memory values, in interleaved rounds, each into a directory of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.values import MultiProcessValue

from bench.load import Scraper, Timings
from bench.procs import LOOPBACK, NO_CREATED_ENV, Server, get, served_samples, service
from bench.ratios import Row
from impl.metrics.encoding import encode_text
from impl.metrics.http_metrics import HttpMetrics
from impl.metrics.multiprocess.collectors import DirectoryCollector
from impl.metrics.multiprocess.faults import Faults
from impl.metrics.multiprocess.writer import ValueWriter
from impl.upstream.prometheus import (
    in_process_value_class,
    install_value_class,
    installed_value_class,
)

WORKER_COUNTS = (2, 4)
SAMPLES = 10_000
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def workers_service(workdir: Path, workers: int, name: str, *flags: str) -> tuple[Server, Path]:
    """`influxdb-sysinfo --workers N`, and its multiprocess directory."""
    directory = workdir / f"{name}-multiproc"
    command = [
        sys.executable, "-m", "impl.main", "--workers", str(workers),
        "--multiproc-dir", str(directory),
        "--host", LOOPBACK, "--port", "0", "--state-dir", str(workdir / "state"), *flags,
    ]  # fmt: skip
    return Server(name, command, workdir, ready_path="/ping"), directory


def fill(directory: Path, samples: int) -> None:
    """Write the synthetic series into a running server's multiprocess directory."""
    env = {**os.environ, **NO_CREATED_ENV, MULTIPROC_ENV: str(directory)}
    subprocess.run(
        [sys.executable, "-m", "bench.synthetic", str(samples)], env=env, check=True, timeout=300
    )


def ours_in_process(directory: Path) -> Callable[[], float]:
    """Seconds the service's read path and encoder take on `directory`, one scrape."""
    registry = CollectorRegistry()
    registry.register(DirectoryCollector(directory))
    return lambda: _timed(lambda: encode_text(registry))


def prometheus_client_in_process(directory: Path) -> Callable[[], float]:
    """Seconds MultiProcessCollector and generate_latest take on `directory`."""

    def scrape() -> None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
        generate_latest(registry)

    return lambda: _timed(scrape)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# Warm-up rounds: a worker plans its lines at its first scrape, and again when a
# scrape's own request adds the series for /metrics to the files.
WARM_UP_ROUNDS = 3


def interleave(measures: dict[str, Callable[[], float]], rounds: int) -> dict[str, Timings]:
    """Each measure once per round, in turn, after the warm-up rounds."""
    for _ in range(WARM_UP_ROUNDS):
        for measure in measures.values():
            measure()
    seconds: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            seconds[name].append(measure())
    return {name: Timings(values) for name, values in seconds.items()}


RECORDS_PER_ROUND = 2000


def _record_one(metrics: HttpMetrics) -> None:
    metrics.record(method="GET", path="/ping", status=204, user_agent="curl/8", seconds=0.003)


def recording(value_class: type) -> Callable[[], float]:
    """Seconds per HttpMetrics.record() whose values are of `value_class` (bound to them
    at the first record, while the class is installed)."""
    saved = installed_value_class()
    install_value_class(value_class)
    try:
        metrics = HttpMetrics(None)
        _record_one(metrics)
    finally:
        install_value_class(saved)

    def measure() -> float:
        started = time.perf_counter()
        for _ in range(RECORDS_PER_ROUND):
            _record_one(metrics)
        return (time.perf_counter() - started) / RECORDS_PER_ROUND

    return measure


def record_row(workdir: Path, rounds: int) -> Row:
    ours_dir, theirs_dir = workdir / "record-ours", workdir / "record-prometheus-client"
    for directory in (ours_dir, theirs_dir):
        directory.mkdir()
    writer = ValueWriter(ours_dir, Faults())
    saved = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = str(theirs_dir)  # where MultiProcessValue writes
    try:
        timings = interleave(
            {
                "ours": recording(writer.value_class()),
                "prometheus_client": recording(MultiProcessValue()),  # type: ignore[no-untyped-call]
                "memory": recording(in_process_value_class()),
            },
            rounds,
        )
    finally:
        writer.close(wait=0)
        if saved is None:
            del os.environ[MULTIPROC_ENV]
        else:
            os.environ[MULTIPROC_ENV] = saved
    ours, theirs = timings["ours"].median, timings["prometheus_client"].median
    return Row(
        "recording one request with --workers N (HttpMetrics.record, 3 values written)",
        "the same with prometheus_client's multiprocess values, in-process",
        ours / theirs,
        note=f"{ours * 1e6:.1f} vs {theirs * 1e6:.1f} us; in memory (one process): "
        f"{timings['memory'].median * 1e6:.1f} us; pwrite instead of a shared mapping, "
        "which a full or truncated file turns into SIGBUS",
    )


def rows(workdir: Path, rounds: int) -> list[Row]:
    one = service(workdir, SAMPLES, name="workers-1")
    many = {n: workers_service(workdir, n, name=f"workers-{n}") for n in WORKER_COUNTS}
    servers = [one, *(server for server, _ in many.values())]
    try:
        for server in servers:
            server.start()
        for _, directory in many.values():
            fill(directory, SAMPLES)
        counts = {server.name: served_samples(server.port) for server in servers}
        get(one.port, "/metrics")
        scrapers = {server.name: Scraper(server.port) for server in servers}
        measures: dict[str, Callable[[], float]] = {
            name: scraper.scrape for name, scraper in scrapers.items()
        }
        widest = many[max(WORKER_COUNTS)][1]
        measures["ours in-process"] = ours_in_process(widest)
        measures["prometheus_client in-process"] = prometheus_client_in_process(widest)
        timings = interleave(measures, rounds)
        for scraper in scrapers.values():
            scraper.close()
    finally:
        for server in servers:
            server.stop()
    base = timings[one.name].median
    table = [
        Row(
            f"multiprocess scrape latency median, {n} workers ({counts[server.name]} samples)",
            f"1 process ({counts[one.name]} samples)",
            timings[server.name].median / base,
            "≤ 1.50",
            timings[server.name].median / base <= 1.5,
            f"{rounds} sequential scrapes each, interleaved",
        )
        for n, (server, _) in many.items()
    ]
    theirs = timings["prometheus_client in-process"].median
    ours = timings["ours in-process"].median
    http = timings[many[max(WORKER_COUNTS)][0].name].median
    table.append(
        Row(
            f"read speed-up on the same directory, {max(WORKER_COUNTS)} workers, "
            f"{SAMPLES // 1000}k series",
            "(MultiProcessCollector + generate_latest time / DirectoryCollector + "
            "encode_text time), in-process",
            theirs / ours,
            "≥ 5.00",
            theirs / ours >= 5,
            f"{theirs * 1000:.1f} ms vs {ours * 1000:.1f} ms; the whole HTTP scrape: "
            f"{http * 1000:.1f} ms ({theirs / http:.1f}× faster)",
        )
    )
    table.append(record_row(workdir, rounds))
    return table
