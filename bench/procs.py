"""The servers the benchmark compares, each a subprocess on a free loopback port."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from bench.synthetic import SAMPLES_ENV

START_TIMEOUT_SECONDS = 60.0  # a 100k-sample registry takes a few seconds to build
LOOPBACK = "127.0.0.1"
# Every process of a run serves the same samples: counters, histograms and summaries
# without `_created`, as /metrics serves its text format, so prometheus_client's own
# encoders and servers do exactly the work the service does.
NO_CREATED_ENV = {"PROMETHEUS_DISABLE_CREATED_SERIES": "true"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def get(port: int, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Accept-Encoding": "identity"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class Server:
    """A command serving HTTP on `port`, ready once `ready_path` answers 2xx."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        port: int,
        workdir: Path,
        env: dict[str, str] | None = None,
        ready_path: str = "/metrics",
    ) -> None:
        self.name = name
        self.command = list(command)
        self.port = port
        self.url = f"http://{LOOPBACK}:{port}"
        self.log_path = workdir / f"{name}.log"
        self.env = {**os.environ, **NO_CREATED_ENV, **(env or {})}
        self.ready_path = ready_path
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # so stop() reaches gunicorn's workers too
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.last_log_line()}")
            try:
                if get(self.port, self.ready_path, timeout=5)[0] < 300:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start in {START_TIMEOUT_SECONDS}s")

    def last_log_line(self) -> str:
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return lines[-1] if lines else "(no output)"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(15)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def service(
    workdir: Path, samples: int, *, http_metrics: bool = True, name: str = "service"
) -> Server:
    """The service as users run it (default flags, info-level access log)."""
    port = free_port()
    command = [
        sys.executable, "-m", "bench.serve",
        "--bench-samples", str(samples),
        "--host", LOOPBACK, "--port", str(port),
        "--state-dir", str(workdir / "state"),
    ]  # fmt: skip
    if not http_metrics:
        command.append("--bench-no-http-metrics")
    return Server(name, command, port, workdir)


def baseline(workdir: Path, samples: int, workers: int = 1) -> Server:
    """prometheus_client's make_wsgi_app under gunicorn's default (sync) workers."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn",
        "--workers", str(workers),
        "--bind", f"{LOOPBACK}:{port}",
        "bench.baseline_wsgi:create()",
    ]  # fmt: skip
    env = {SAMPLES_ENV: str(samples), "INFLUXDB_SYSINFO_STATE_DIR": str(workdir / "state")}
    return Server("baseline", command, port, workdir, env)


PROMETHEUS_CONFIG = "global:\n  scrape_interval: 1h\nscrape_configs: []\n"


def promhttp(workdir: Path, binary: str) -> Server:
    """The `prometheus` server, scraping nothing: its own /metrics is Go's promhttp."""
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG, encoding="utf-8")
    command = [
        binary,
        f"--config.file={config}",
        f"--web.listen-address={LOOPBACK}:{port}",
        f"--storage.tsdb.path={workdir / 'prometheus-data'}",
        "--log.level=warn",
    ]
    return Server("promhttp", command, port, workdir)


def served_samples(port: int) -> int:
    """Samples (lines that are not comments) in one text scrape of `port`."""
    status, body = get(port, "/metrics")
    if status != 200:
        raise RuntimeError(f"GET /metrics on {port}: {status}")
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
