"""Soak: bounded mixed load on one live service, with exact accounting and memory.

Threads send a fixed mix of scrapes, pings, health and readiness checks and errors
for a given time, each checking its status. The service's resident memory is read
from /proc while they run. Afterwards the service's own count of requests
(http_api_requests_total) must equal the number sent, exactly.

    python -m tools.soak --seconds 60      # what `make soak` runs
    tests/test_soak.py                     # the same for 10 s, in `make test`
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from tools.live import LiveServer
from tools.metrics_text import request_count

SEED = 20261125
# At most this many unexpected outcomes are kept for the report; all are counted.
KEEP_UNEXPECTED = 20
RSS_INTERVAL_SECONDS = 0.25


@dataclass(frozen=True)
class Kind:
    """One kind of request in the mix, with the status it must get."""

    name: str
    method: str
    path: str
    status: int
    weight: int
    headers: tuple[tuple[str, str], ...] = ()


MIX = (
    Kind("scrape", "GET", "/metrics", 200, 2, (("Accept-Encoding", "gzip"),)),
    Kind(
        "scrape-openmetrics",
        "GET",
        "/metrics",
        200,
        1,
        (("Accept", "application/openmetrics-text; version=1.0.0"),),
    ),
    Kind("ping", "GET", "/ping", 204, 6),
    Kind("ping-head", "HEAD", "/ping", 204, 2),
    Kind("health", "GET", "/health", 200, 3),
    Kind("ready", "GET", "/ready", 200, 2),
    Kind("not-found", "GET", "/api/v2/nowhere", 404, 2),
    Kind("wrong-method", "POST", "/ping", 405, 1),
    Kind("not-acceptable", "GET", "/metrics", 406, 1, (("Accept", "image/png"),)),
)


@dataclass
class SoakReport:
    seconds: float
    threads: int
    sent: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    unexpected: int = 0
    unexpected_examples: list[str] = field(default_factory=list)
    counted: float = 0.0
    rss_warm_kib: int = 0
    rss_end_kib: int = 0
    rss_max_kib: int = 0

    @property
    def requests_per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def rss_growth(self) -> float:
        """Largest resident memory after warm-up, relative to the memory at its end."""
        return (self.rss_max_kib - self.rss_warm_kib) / self.rss_warm_kib

    def problems(self, max_rss_growth: float = 0.10) -> list[str]:
        found = []
        if self.unexpected:
            found.append(f"{self.unexpected} unexpected outcomes: {self.unexpected_examples}")
        if self.counted != self.sent:
            found.append(f"http_api_requests_total grew by {self.counted}, {self.sent} were sent")
        if self.rss_growth >= max_rss_growth:
            found.append(f"resident memory grew by {self.rss_growth:.1%} after warm-up")
        return found

    def summary(self) -> dict[str, object]:
        return {
            **asdict(self),
            "requests_per_second": round(self.requests_per_second, 1),
            "rss_growth_percent": round(self.rss_growth * 100, 2),
        }


def resident_kib(pid: int) -> int:
    """VmRSS of a process, in KiB, as the kernel reports it."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


class Soak:
    """Runs the mix against `url` and samples the memory of process `pid`."""

    def __init__(self, url: str, pid: int, threads: int, seconds: float, warmup: float) -> None:
        self.url = url
        self.pid = pid
        self.threads = threads
        self.seconds = seconds
        self.warmup = warmup
        self.lock = threading.Lock()
        self.sent: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.unexpected_count = 0

    def run(self) -> SoakReport:
        before = self._total()
        started = time.monotonic()
        deadline = started + self.seconds
        workers = [
            threading.Thread(target=self._work, args=(index, deadline), daemon=True)
            for index in range(self.threads)
        ]
        for worker in workers:
            worker.start()
        warm, samples = self._sample_memory(started + self.warmup, deadline)
        for worker in workers:
            worker.join(timeout=60)
        # The scrape taken before the load is counted too, and this one is not yet.
        counted = self._total() - before - 1
        end = resident_kib(self.pid)
        return SoakReport(
            seconds=self.seconds,
            threads=self.threads,
            sent=sum(self.sent.values()),
            by_kind=dict(sorted(self.sent.items())),
            unexpected=self.unexpected_count,
            unexpected_examples=self.unexpected,
            counted=counted,
            rss_warm_kib=warm,
            rss_end_kib=end,
            rss_max_kib=max([*samples, end]),
        )

    def _total(self) -> float:
        response = requests.get(self.url + "/metrics", timeout=30)
        response.raise_for_status()
        return request_count(response.text)

    def _work(self, index: int, deadline: float) -> None:
        rng = random.Random(SEED + index)
        kinds = rng.choices(MIX, weights=[kind.weight for kind in MIX], k=1000)
        session = requests.Session()
        session.headers["User-Agent"] = "influxdb-sysinfo-soak/1"
        position = 0
        while time.monotonic() < deadline:
            kind = kinds[position % len(kinds)]
            position += 1
            try:
                response = session.request(
                    kind.method, self.url + kind.path, headers=dict(kind.headers), timeout=30
                )
                outcome: int | str | None = (
                    None if response.status_code == kind.status else response.status_code
                )
            except requests.RequestException as err:
                outcome = type(err).__name__
            with self.lock:
                self.sent[kind.name] += 1
                if outcome is not None:
                    self.unexpected_count += 1
                    if len(self.unexpected) < KEEP_UNEXPECTED:
                        self.unexpected.append(f"{kind.name}: {outcome}")
        session.close()

    def _sample_memory(self, warm_at: float, deadline: float) -> tuple[int, list[int]]:
        """The memory when warm-up ends, and every sample taken after it."""
        while time.monotonic() < warm_at:
            time.sleep(RSS_INTERVAL_SECONDS)
        warm = resident_kib(self.pid)
        samples = []
        while time.monotonic() < deadline:
            time.sleep(RSS_INTERVAL_SECONDS)
            samples.append(resident_kib(self.pid))
        return warm, samples


def soak(server: LiveServer, seconds: float, threads: int = 8) -> SoakReport:
    """Soak a started server; the first fifth of the time (at least 2 s) is warm-up."""
    assert server.process is not None
    warmup = max(2.0, seconds / 5)
    return Soak(server.url, server.process.pid, threads, seconds, warmup).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="influxdb-sysinfo-soak-") as workdir:
        with LiveServer(Path(workdir)) as server:
            report = soak(server, args.seconds, args.threads)
    print(json.dumps(report.summary(), indent=2))
    problems = report.problems()
    for problem in problems:
        print(f"soak: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
