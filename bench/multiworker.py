"""Scrape latency with 1, 2 and 4 worker processes at equal total series (issue 5).

One worker is the service as `influxdb-sysinfo` runs it by default (one process, the
synthetic families in its registry). Two and four are `influxdb-sysinfo --workers N`
(gunicorn, prometheus_client's multiprocess mode); there the same synthetic series are
written into the service's multiprocess directory by a helper process after start
(`python -m bench.synthetic`), so every worker merges them into its scrapes exactly as
it merges its siblings' HTTP metrics. When `--workers` does not start workers, the
table says TODO instead of a figure that was not measured.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.load import Scraper, Timings
from bench.procs import LOOPBACK, NO_CREATED_ENV, Server, get, served_samples, service
from bench.report import Row

WORKER_COUNTS = (2, 4)
SAMPLES = 10_000
PROBE_WORKERS = 2
PROBE_SECONDS = 20.0
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _children(pid: int) -> int:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return sum(len((task / "children").read_text().split()) for task in tasks)
    except OSError:
        return 0


def workers_supported(workdir: Path) -> bool:
    """Whether `--workers 2` starts a service with worker processes of its own."""
    with workers_service(workdir, PROBE_WORKERS, name="workers-probe") as probe:
        assert probe.process is not None
        deadline = time.monotonic() + PROBE_SECONDS
        while time.monotonic() < deadline:  # the first worker may answer before the second forks
            if _children(probe.process.pid) >= PROBE_WORKERS:
                return True
            time.sleep(0.2)
        return False


def workers_service(workdir: Path, workers: int, name: str) -> Server:
    command = [
        sys.executable, "-m", "impl.main", "--workers", str(workers),
        "--multiproc-dir", str(workdir / f"{name}-multiproc"),
        "--host", LOOPBACK, "--port", "0", "--state-dir", str(workdir / "state"),
    ]  # fmt: skip
    return Server(name, command, workdir, ready_path="/ping")


def fill(directory: Path, samples: int) -> None:
    """Write the synthetic series into a running service's multiprocess directory."""
    env = {**os.environ, **NO_CREATED_ENV, MULTIPROC_ENV: str(directory)}
    subprocess.run(
        [sys.executable, "-m", "bench.synthetic", str(samples)], env=env, check=True, timeout=120
    )


def _todo(note: str) -> list[Row]:
    return [
        Row(f"multiprocess scrape latency, {n} workers", "1 worker", None, note=note)
        for n in WORKER_COUNTS
    ]


def rows(workdir: Path, rounds: int) -> list[Row]:
    try:
        supported = workers_supported(workdir)
    except RuntimeError as err:  # did not start at all
        return _todo(f"TODO: `--workers {PROBE_WORKERS}` did not start: {err}")
    if not supported:
        return _todo("TODO: `--workers N` does not start N workers yet (issue 5)")
    one = service(workdir, SAMPLES, name="workers-1")
    many = {n: workers_service(workdir, n, name=f"workers-{n}") for n in WORKER_COUNTS}
    servers = [one, *many.values()]
    timings: dict[Server, list[float]] = {server: [] for server in servers}
    counts: dict[Server, int] = {}
    try:
        for server in servers:
            server.__enter__()
        for n in many:
            fill(workdir / f"workers-{n}-multiproc", SAMPLES)
        for server in servers:
            counts[server] = served_samples(server.port)
            get(server.port, "/metrics")  # warm-up
        scrapers = {server: Scraper(server.port) for server in servers}
        for _ in range(rounds):
            for server in servers:
                timings[server].append(scrapers[server].scrape())
        for scraper in scrapers.values():
            scraper.close()
    finally:
        for server in servers:
            server.stop()
    base = Timings(timings[one]).median
    return [
        Row(
            f"multiprocess scrape latency median, {n} workers ({counts[server]} samples)",
            f"1 worker ({counts[one]} samples)",
            Timings(timings[server]).median / base,
            note=f"{rounds} sequential scrapes each, interleaved",
        )
        for n, server in many.items()
    ]
