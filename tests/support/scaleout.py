"""Helpers for tests of several workers and several instances: exact request counts."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from prometheus_client.multiprocess import MultiProcessCollector

from impl.metrics.multiprocess.collectors import service_pids
from tests.conftest import StartServer
from tools.live import LiveServer

# Requests a test counts carry this agent (label user_agent="curl"); readiness pings
# and scrapes go out as python-requests, so each kind can be counted on its own.
COUNTED_AGENT = {"User-Agent": "curl/8.5.0"}
WAIT_SECONDS = 30.0


def send_pings(url: str, count: int, concurrency: int = 8) -> None:
    """`count` counted GET /ping, each on a new connection, several at a time, so that
    different workers accept them."""

    def ping(_: int) -> int:
        return requests.get(url + "/ping", headers=COUNTED_AGENT, timeout=WAIT_SECONDS).status_code

    with ThreadPoolExecutor(concurrency) as pool:
        statuses = list(pool.map(ping, range(count)))
    assert statuses == [204] * count


def scrape(url: str, accept: str | None = None) -> str:
    """GET /metrics on a new connection (requests opens one per call)."""
    headers = {"Accept": accept} if accept else {}
    response = requests.get(url + "/metrics", headers=headers, timeout=WAIT_SECONDS)
    assert response.status_code == 200, response.text
    return response.text


def worker_pids(live: LiveServer) -> list[int]:
    assert live.process is not None
    return service_pids(live.process.pid)[1:]


@contextlib.contextmanager
def only_worker(live: LiveServer, pid: int) -> Iterator[None]:
    """Every other worker stopped (SIGSTOP), so that `pid` accepts each new connection.

    Which idle worker the kernel hands a connection to is its choice, and often the
    same one; this makes a chosen worker answer, without changing how any of them works.
    """
    others = [other for other in worker_pids(live) if other != pid]
    for other in others:
        os.kill(other, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)


def counts_by_pid(directory: Path, **labels: str) -> dict[int, float]:
    """http_api_requests_total matching `labels` in each worker's own counter file."""
    counts = {}
    for path in sorted(directory.glob("counter_*.db")):
        pid = int(path.stem.split("_")[1])
        families = MultiProcessCollector.merge([str(path)])  # type: ignore[no-untyped-call]
        counts[pid] = sum(
            sample.value
            for family in families
            for sample in family.samples
            if sample.name == "http_api_requests_total"
            and all(sample.labels.get(k) == v for k, v in labels.items())
        )
    return counts


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    """Poll `condition` until it holds; a bound on waiting, not a speed assertion."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def start_workers(
    start_server: StartServer, directory: Path, workers: int = 2, *flags: str
) -> LiveServer:
    # Started once one /ping is answered: exactly one request, a GET /ping from python-requests.
    live = start_server("--workers", str(workers), "--multiproc-dir", str(directory), *flags)
    # gunicorn boots the workers one after another: wait for all, ready to accept.
    wait_for(
        lambda: (
            len(worker_pids(live)) == workers
            and live.log().count("Application startup complete") == workers
        ),
        f"{workers} workers to boot",
    )
    return live


class PingLoad:
    """Counted pings from several threads, each on a new connection, until stopped."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = url
        self.completed = 0
        self.failed = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        deadline = time.monotonic() + 120  # a bound on the load, whatever happens
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                status = requests.get(
                    self.url + "/ping", headers=COUNTED_AGENT, timeout=10
                ).status_code
            except requests.RequestException:
                status = 0  # the connection died with its worker
            with self.lock:
                if status == 204:
                    self.completed += 1
                else:
                    self.failed += 1

    def __enter__(self) -> PingLoad:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def completed_at_least(self, count: int) -> bool:
        with self.lock:
            return self.completed >= count
