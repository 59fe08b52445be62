"""Hostile clients against a live service, for the tests and for README's figures.

- `NonReaders`: clients that pipeline scrapes of the largest /metrics and never read
  a byte, reconnecting when they give up, for as long as the attack lasts;
- `silent_connections` / `unfinished_heads`: connections that send nothing, or part
  of a head, held open;
- `fill_series`: the adversary's routed requests, enough to bring the HTTP metrics to
  their series limit, so that /metrics is as large as it gets;
- `Pinger`: a well-behaved client, one /ping per new connection, timing each answer;
- `tree_rss_kib`: the resident memory of the service, workers included.

    python -m tools.attacks [--workers N]    # measures, prints README's figures
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

from impl.client.rawhttp import HOST, RawClient, build_request, read_response
from impl.metrics.multiprocess.collectors import service_pids
from tools.adversary import ROUTED_METHODS, SPEC_PATHS, all_shots, attack
from tools.live import LiveServer
from tools.metrics_text import families
from tools.soak import resident_kib

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
LARGEST_SCRAPE = build_request(
    b"GET", b"/metrics", [(b"Host", b"x"), (b"Accept", OPENMETRICS.encode())]
)
# A small receive buffer: the client's kernel takes little, the server has to hold it.
CLIENT_RCVBUF = 4096
PING_TIMEOUT = 10.0  # what "answered" means for the well-behaved client


def tree_rss_kib(pid: int) -> int:
    """Resident memory of the service: the process and, with workers, its children."""
    total = 0
    for each in service_pids(pid):
        with contextlib.suppress(OSError, RuntimeError):
            total += resident_kib(each)
    return total


def fill_series(port: int) -> int:
    """Routed requests from every agent: enough label sets to reach the default limit."""
    sent = 0
    with RawClient(port) as client:
        for shot in all_shots():
            path = shot.target.split("?", 1)[0]
            if path in SPEC_PATHS and shot.method in ROUTED_METHODS:
                client.request(shot.method, shot.target, shot.headers)
                sent += 1
    return sent


class NonReaders:
    """`clients` threads, each connecting, pipelining `pipelined` OpenMetrics scrapes,
    never reading, and reconnecting after `hold` seconds, until stopped. They start
    `stagger` seconds apart: paced, their scrapes pass the queue instead of being
    refused by it, and each can keep a response waiting."""

    def __init__(
        self,
        port: int,
        clients: int,
        pipelined: int = 3,
        hold: float = 30.0,
        stagger: float = 0.0,
    ) -> None:
        self.port = port
        self.clients = clients
        self.pipelined = pipelined
        self.hold = hold
        self.stagger = stagger
        self.connections = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True, name=f"non-reader-{i}")
            for i in range(clients)
        ]

    def __enter__(self) -> NonReaders:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.hold + 10)

    def _run(self, index: int) -> None:
        self._stop.wait(index * self.stagger)
        while not self._stop.is_set():
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RCVBUF)
                sock.settimeout(5)
                sock.connect((HOST, self.port))
            except OSError:
                time.sleep(0.1)
                continue
            with sock, contextlib.suppress(OSError):
                with self._lock:
                    self.connections += 1
                sock.sendall(LARGEST_SCRAPE * self.pipelined)
                self._stop.wait(self.hold)


@contextlib.contextmanager
def held_connections(
    port: int, count: int, first_bytes: bytes = b""
) -> Iterator[list[socket.socket]]:
    """`count` connections that send `first_bytes` (nothing, or part of a head) and
    then nothing more, held open until the block ends."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection((HOST, port), timeout=10)
            if first_bytes:
                sock.sendall(first_bytes)
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


@dataclass
class Pinger:
    """A well-behaved client: GET /ping on a new connection, sequentially."""

    port: int
    seconds: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0

    def ping(self) -> None:
        started = time.perf_counter()
        try:
            with socket.create_connection((HOST, self.port), timeout=PING_TIMEOUT) as sock:
                sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                status = read_response(sock).status
        except OSError:
            self.failures += 1
            return
        self.seconds.append(time.perf_counter() - started)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def run(self, count: int, interval: float = 0.0) -> Pinger:
        for _ in range(count):
            self.ping()
            time.sleep(interval)
        return self

    def during(self, seconds: float, interval: float = 0.05) -> Pinger:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.ping()
            time.sleep(interval)
        return self

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("inf")

    @property
    def worst(self) -> float:
        return max(self.seconds) if self.seconds else float("inf")


def metrics_sizes(url: str) -> tuple[int, int, int]:
    """(label sets of http_api_requests_total, text bytes, OpenMetrics bytes) of /metrics."""
    text = requests.get(url + "/metrics", timeout=30).text
    openmetrics = requests.get(url + "/metrics", headers={"Accept": OPENMETRICS}, timeout=30)
    label_sets = len(families(text)["http_api_requests"].samples)
    return label_sets, len(text.encode()), len(openmetrics.content)


# --- measuring -------------------------------------------------------------------------


def measure(workers: int, workdir: Path) -> dict[str, object]:
    flags = ["--workers", str(workers)] if workers > 1 else []
    figures: dict[str, object] = {"flags": " ".join(flags) or "(defaults)"}
    with LiveServer(workdir / "uncapped", [*flags, "--max-http-series", "100000"]) as live:
        attack(live.port)
        figures["uncapped label sets, text, openmetrics"] = metrics_sizes(live.url)
    with LiveServer(workdir / "capped", flags) as live:
        pid = live.pid
        idle = Pinger(live.port).run(200)
        attack(live.port)
        figures["capped label sets, text, openmetrics"] = metrics_sizes(live.url)
        time.sleep(1)
        baseline = tree_rss_kib(pid)
        samples: list[int] = []
        with NonReaders(live.port, 150, hold=12.0) as crowd:
            busy = Pinger(live.port)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                busy.ping()
                samples.append(tree_rss_kib(pid))
                time.sleep(0.05)
        time.sleep(5)
        after = tree_rss_kib(pid)
        figures["rss MB: before, max under 150 non-readers, 5 s after"] = (
            round(baseline / 1024, 1),
            round(max(samples) / 1024, 1),
            round(after / 1024, 1),
        )
        figures["non-reader connections opened"] = crowd.connections
        figures["ping idle median ms"] = round(idle.median * 1000, 2)
        figures["ping under attack: median ms, worst ms, failures, statuses"] = (
            round(busy.median * 1000, 2),
            round(busy.worst * 1000, 1),
            busy.failures,
            busy.statuses,
        )
        figures["ping latency ratio to idle (median)"] = round(busy.median / idle.median, 2)
        # 600 per process: more than --max-connections (512) in each.
        held = 600 * workers
        for name, first in (("silent", b""), ("unfinished heads", b"GET /ping HTTP/1.1\r\n")):
            with held_connections(live.port, held, first):
                during = Pinger(live.port).run(50)
            figures[f"{held} {name} connections: ping statuses, median ms"] = (
                during.statuses,
                round(during.median * 1000, 2),
            )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        (workdir / "uncapped").mkdir()
        (workdir / "capped").mkdir()
        for name, value in measure(args.workers, workdir).items():
            print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
