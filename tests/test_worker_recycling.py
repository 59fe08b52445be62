"""--max-requests: workers recycled under load, every scrape's total exact and monotone,
the multiprocess directory bounded by the live workers."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from impl.metrics.multiprocess.directory import LOCK_NAME
from impl.server.config import load_config
from tests.conftest import StartServer
from tests.support.scaleout import COUNTED_AGENT, PingLoad, scrape, wait_for, worker_pids
from tools.metrics_text import request_count

WORKERS = 2
MAX_REQUESTS = 50
PINGERS = 3
SCRAPERS = 3
REQUESTS = 3000  # pings and scrapes together
# Per worker prometheus_client writes a counter and a histogram file; the service
# adds its archive, the archive's temporary twin (during a fold) and the lock file.
MOST_FILES = 2 * WORKERS + 3


def test_max_requests_flags_and_environment() -> None:
    assert (load_config([], {}).max_requests, load_config([], {}).max_requests_jitter) == (0, 0)
    env = {"INFLUXDB_SYSINFO_MAX_REQUESTS": "500", "INFLUXDB_SYSINFO_MAX_REQUESTS_JITTER": "50"}
    config = load_config(["--max-requests-jitter", "20"], env)
    assert (config.max_requests, config.max_requests_jitter) == (500, 20)


@dataclass(frozen=True)
class Scrape:
    answered_before: int  # responses received before it was sent
    sent_before_answer: int  # requests sent before its response arrived
    sent_at: float
    answered_at: float
    total: float


class Traffic:
    """Counted requests from several threads, each on a new connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = threading.Lock()
        self.sent = 0
        self.answered = 0
        self.failed: list[str] = []
        self.scrapes: list[Scrape] = []
        self.file_counts: list[int] = []

    def _request(self, path: str) -> requests.Response | None:
        with self.lock:
            if self.sent >= REQUESTS:
                return None
            self.sent += 1
        try:
            response = requests.get(self.url + path, headers=COUNTED_AGENT, timeout=30)
        except requests.RequestException as err:
            with self.lock:
                self.failed.append(repr(err))
            return None
        with self.lock:
            self.answered += 1
        return response

    def ping(self) -> None:
        while self.sent < REQUESTS:
            response = self._request("/ping")
            if response is not None:
                assert response.status_code == 204, response.text

    def scrape(self, directory: Path) -> None:
        while self.sent < REQUESTS:
            with self.lock:
                answered_before = self.answered
            sent_at = time.monotonic()
            response = self._request("/metrics")
            if response is None:
                continue
            answered_at = time.monotonic()
            with self.lock:
                sent_before_answer = self.sent
            assert response.status_code == 200, response.text
            self.scrapes.append(
                Scrape(
                    answered_before,
                    sent_before_answer,
                    sent_at,
                    answered_at,
                    requests_total(response.text),
                )
            )
            self.file_counts.append(len(list(directory.iterdir())))


def requests_total(body: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("http_api_requests_total{")
    )


@pytest.mark.slow
def test_recycled_workers_keep_every_scrape_exact_and_the_directory_bounded(
    start_server: StartServer, tmp_path: Path
) -> None:
    directory = tmp_path / "multiproc"
    # Started once one /ping is answered: exactly one request, counted.
    live = start_server(
        "--workers", str(WORKERS), "--max-requests", str(MAX_REQUESTS),
        "--max-requests-jitter", "10", "--multiproc-dir", str(directory)
    )  # fmt: skip
    traffic = Traffic(live.url)
    threads = [threading.Thread(target=traffic.ping) for _ in range(PINGERS)]
    threads += [threading.Thread(target=traffic.scrape, args=(directory,)) for _ in range(SCRAPERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    # No request is lost to a recycle: a leaving worker stops accepting, then lets
    # the connections it has accepted send their request (DrainingServer).
    assert not traffic.failed, traffic.failed[:5]
    assert traffic.answered == REQUESTS

    # Every scrape counts each request answered before it was sent (and the readiness
    # ping), and none that was not sent before its answer came: exactly once.
    for each in traffic.scrapes:
        assert each.answered_before + 1 <= each.total <= each.sent_before_answer + 1
    # Monotone: a scrape sent after another was answered never shows less.
    by_answer = sorted(traffic.scrapes, key=lambda s: s.answered_at)
    for each in traffic.scrapes:
        earlier = [s.total for s in by_answer if s.answered_at < each.sent_at]
        assert each.total >= max(earlier, default=0.0)
    assert len(traffic.scrapes) > 100

    # Quiet now: the total is every request answered, plus the readiness ping.
    final = requests.get(live.url + "/metrics", timeout=30).text
    assert requests_total(final) == REQUESTS + 1
    # Workers were recycled many times, and the directory stayed small throughout.
    booted = live.log().count("Booting worker")
    assert booted >= REQUESTS // (MAX_REQUESTS + 10) // 2
    assert max(traffic.file_counts) <= MOST_FILES, max(traffic.file_counts)
    assert (directory / LOCK_NAME).exists()
    assert live.stop() == 0
    assert not directory.exists()


KILLS = 12


@pytest.mark.slow
def test_workers_killed_every_second_while_recycled_lose_no_completed_request(
    start_server: StartServer, tmp_path: Path
) -> None:
    """kill -9 of a worker every second, with --max-requests 40 recycling the others,
    under 4 pinging clients: every completed request is counted once (folded exactly
    once), and scrapes meanwhile never see the total go back."""
    directory = tmp_path / "multiproc"
    live = start_server(
        "--workers", "2", "--max-requests", "40", "--multiproc-dir", str(directory)
    )  # fmt: skip
    totals: list[float] = []
    with PingLoad(live.url, threads=4) as load:
        wait_for(lambda: load.completed_at_least(100), "the load to warm up")
        for _ in range(KILLS):
            time.sleep(1)
            pids = worker_pids(live)
            if pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(random.choice(pids), signal.SIGKILL)
            with contextlib.suppress(requests.RequestException):  # a killed worker's
                totals.append(request_count(scrape(live.url), user_agent="curl"))
        wait_for(lambda: len(worker_pids(live)) == 2, "gunicorn to replace the killed")
    counted = request_count(scrape(live.url), user_agent="curl")
    # A request cut off by a kill may have been counted just before its answer was
    # lost; a completed one is never lost, nor counted twice.
    assert load.completed <= counted <= load.completed + load.failed
    assert totals == sorted(totals) and totals[-1] <= counted
    assert live.log().count("was sent SIGKILL") >= KILLS // 2
    assert len(list(directory.iterdir())) <= MOST_FILES
