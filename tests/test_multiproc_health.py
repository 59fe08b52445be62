"""What /health's multiprocess-directory check says, in-process: faults held for a while
and logged once, space and counts in memory."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import Counter

from impl.metrics.multiprocess.faults import HOLD_SECONDS, Faults
from impl.metrics.multiprocess.worker import WorkerMetrics
from impl.upstream.prometheus import install_value_class, installed_value_class


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_fault_is_logged_once_and_held_for_a_while(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    faults = Faults(clock)
    with caplog.at_level(logging.WARNING):
        faults.note("counter_1.db", "truncated to 0 bytes")
        clock.now += 10
        faults.note("counter_1.db", "truncated to 0 bytes")  # seen again: not logged again
        faults.note("influxdb-sysinfo.archive", "overwritten", at=clock.now - 5)  # logged elsewhere
    assert [r.fields["file"] for r in caplog.records] == ["counter_1.db"]  # type: ignore[attr-defined]
    assert faults.held() == [
        "counter_1.db: truncated to 0 bytes",
        "influxdb-sysinfo.archive: overwritten",
    ]
    clock.now += HOLD_SECONDS + 1
    assert faults.held() == []
    faults.note("old.db", "overwritten", at=clock.now - HOLD_SECONDS - 1)  # long over
    assert faults.held() == []


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[WorkerMetrics]:
    saved = installed_value_class()
    metrics = WorkerMetrics(tmp_path)
    yield metrics
    metrics.stop()
    install_value_class(saved)


def test_a_worker_passes_while_every_count_is_stored(worker: WorkerMetrics, tmp_path: Path) -> None:
    Counter("requests", "r", registry=None).inc()
    assert worker.health() == (True, f"{tmp_path}: every count stored")


def test_a_worker_fails_naming_the_directory_and_each_problem(
    worker: WorkerMetrics, tmp_path: Path
) -> None:
    Counter("requests", "r", registry=None).inc()
    worker.faults.note("counter_7.db", "its length field reads 3")
    passing, message = worker.health()
    assert not passing
    assert message == f"{tmp_path}: counter_7.db: its length field reads 3"
