"""Load generators: wrk for throughput, one keep-alive connection for scrape latency."""

from __future__ import annotations

import http.client
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.procs import LOOPBACK

# One wrk thread leaves the other core of a 2-core machine to the server; 8 connections
# keep a single-process server busy without measuring only its accept queue.
WRK_THREADS = 1
WRK_CONNECTIONS = 8
RATE = re.compile(rb"Requests/sec:\s+([0-9.]+)")
NON_2XX = re.compile(rb"Non-2xx or 3xx responses:\s+(\d+)")


@dataclass(frozen=True)
class Throughput:
    requests_per_second: float
    failures: int


def wrk(url: str, seconds: float) -> Throughput:
    """Requests per second wrk gets from `url`; failures are non-2xx responses."""
    command = [
        "wrk",
        f"--threads={WRK_THREADS}",
        f"--connections={WRK_CONNECTIONS}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=10s",
        url,
    ]
    output = subprocess.run(command, capture_output=True, check=True, timeout=seconds + 30).stdout
    rate = RATE.search(output)
    if rate is None:
        raise RuntimeError(f"no rate in wrk output:\n{output.decode(errors='replace')}")
    failures = NON_2XX.search(output)
    return Throughput(float(rate.group(1)), int(failures.group(1)) if failures else 0)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: with few values, p99 is the slowest one, never below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


@dataclass(frozen=True)
class Timings:
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def p99(self) -> float:
        return percentile(self.values, 0.99)


class Scraper:
    """Sequential GET /metrics over one keep-alive connection, as Prometheus scrapes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection(LOOPBACK, port, timeout=60)

    def scrape(self) -> float:
        """Seconds from sending the request to having read the whole body."""
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.connection.request("GET", "/metrics", headers={"Accept-Encoding": "identity"})
                response = self.connection.getresponse()
                response.read()
            except (http.client.HTTPException, ConnectionError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.connection.close()
                self.connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=60)
                if attempt == 2:
                    raise
                continue
            elapsed = time.perf_counter() - started
            if response.status != 200:
                raise RuntimeError(f"GET /metrics: {response.status}")
            return elapsed
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.connection.close()


def timed(action: Callable[[Any], object], argument: Any) -> float:
    """Seconds `action(argument)` takes."""
    started = time.perf_counter()
    action(argument)
    return time.perf_counter() - started
