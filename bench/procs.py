"""The servers the benchmark compares, each a subprocess on a loopback port it picks."""

from __future__ import annotations

import http.client
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from bench.changing import CHANGING_ENV
from bench.synthetic import SAMPLES_ENV
from tools.processes import LOOPBACK, ServerProcess

__all__ = [
    "LOOPBACK",
    "NO_CREATED_ENV",
    "Server",
    "baseline",
    "baseline_multiprocess",
    "get",
    "promhttp",
    "served_samples",
    "service",
]

START_TIMEOUT_SECONDS = 60.0  # a 100k-sample registry takes a few seconds to build
# Every process of a run serves the same samples: counters, histograms and summaries
# without `_created`, as /metrics serves its text format, so prometheus_client's own
# encoders and servers do exactly the work the service does.
NO_CREATED_ENV = {"PROMETHEUS_DISABLE_CREATED_SERIES": "true"}


def get(port: int, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Accept-Encoding": "identity"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class Server(ServerProcess):
    """A command serving HTTP on a port of its choosing, ready once `ready_path`
    answers 2xx; stopped with its whole process group (gunicorn's workers too)."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        workdir: Path,
        env: dict[str, str] | None = None,
        ready_path: str = "/metrics",
    ) -> None:
        super().__init__(
            command,
            workdir / f"{name}.log",
            {**NO_CREATED_ENV, **(env or {})},
            START_TIMEOUT_SECONDS,
        )
        self.name = name
        self.ready_path = ready_path

    def start(self) -> Self:
        super().start()
        self.wait_until(self._answers, f"answer {self.ready_path}")
        return self

    def _answers(self) -> bool:
        try:
            return get(self.port, self.ready_path, timeout=5)[0] < 300
        except OSError:
            return False


def service(
    workdir: Path,
    samples: int,
    *,
    http_metrics: bool = True,
    changing: int = 0,
    name: str = "service",
) -> Server:
    """The service as users run it (default flags, info-level access log); `changing`
    series whose values all change between scrapes (bench/requestpath.py)."""
    command = [
        sys.executable, "-m", "bench.serve",
        "--bench-samples", str(samples),
        "--host", LOOPBACK, "--port", "0",
        "--state-dir", str(workdir / "state"),
    ]  # fmt: skip
    if not http_metrics:
        command.append("--bench-no-http-metrics")
    if changing:
        command += ["--bench-changing", str(changing)]
    return Server(name, command, workdir)


def baseline(
    workdir: Path, samples: int, workers: int = 1, name: str = "baseline", changing: int = 0
) -> Server:
    """prometheus_client's make_wsgi_app under gunicorn's default (sync) workers."""
    command = [
        sys.executable, "-m", "gunicorn",
        "--workers", str(workers),
        "--bind", f"{LOOPBACK}:0",
        "bench.baseline_wsgi:create()",
    ]  # fmt: skip
    env = {SAMPLES_ENV: str(samples), "INFLUXDB_SYSINFO_STATE_DIR": str(workdir / "state")}
    env[CHANGING_ENV] = str(changing)
    return Server(name, command, workdir, env)


def baseline_multiprocess(
    workdir: Path, workers: int, name: str, max_requests: int = 0
) -> tuple[Server, Path]:
    """prometheus_client's multiprocess mode under gunicorn sync workers
    (bench/baseline_multiprocess.py), and its directory."""
    directory = workdir / f"{name}-multiproc"
    directory.mkdir(mode=0o700)
    command = [
        sys.executable, "-m", "gunicorn",
        "-c", "python:bench.baseline_multiprocess",
        "--workers", str(workers),
        "--max-requests", str(max_requests),
        "--bind", f"{LOOPBACK}:0",
        "bench.baseline_multiprocess:app",
    ]  # fmt: skip
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    return Server(name, command, workdir, env, ready_path="/ping"), directory


PROMETHEUS_CONFIG = "global:\n  scrape_interval: 1h\nscrape_configs: []\n"


def promhttp(workdir: Path, binary: str) -> Server:
    """The `prometheus` server, scraping nothing: its own /metrics is Go's promhttp."""
    config = workdir / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG, encoding="utf-8")
    command = [
        binary,
        f"--config.file={config}",
        f"--web.listen-address={LOOPBACK}:0",
        f"--storage.tsdb.path={workdir / 'prometheus-data'}",
        "--log.level=warn",
    ]
    return Server("promhttp", command, workdir)


def served_samples(port: int) -> int:
    """Samples (lines that are not comments) in one text scrape of `port`."""
    status, body = get(port, "/metrics")
    if status != 200:
        raise RuntimeError(f"GET /metrics on {port}: {status}")
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
