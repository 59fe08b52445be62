"""/health's collection of the registry: bounded, whatever the collectors do."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from queue import SimpleQueue

from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class RegistryCollection:
    """/health's collection of the registry, in one thread of its own, one collection at
    a time: a probe arriving while one runs waits for that one, until the deadline
    counted from its start. A collector that hangs holds that thread, and nothing more:
    later probes fail at once, no thread or work piles up behind it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: SimpleQueue[tuple[Collector, Future[tuple[str, str]]]] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._running: Future[tuple[str, str]] | None = None
        self._started = 0.0

    def check(self, registry: Collector, deadline: float) -> tuple[str, str]:
        """(status, message) of a collection of `registry` within `deadline` seconds."""
        with self._lock:
            if self._running is None or self._running.done():
                self._running, self._started = Future(), time.monotonic()
                self._jobs.put((registry, self._running))
                if self._thread is None:
                    # A daemon: a collector hung for good must not hold up the exit.
                    self._thread = threading.Thread(
                        target=self._work, name="health-collection", daemon=True
                    )
                    self._thread.start()
            running, started = self._running, self._started
        try:
            return running.result(max(0.0, deadline - (time.monotonic() - started)))
        except FutureTimeout:
            return "fail", f"collection exceeded {deadline}s"

    def _work(self) -> None:
        while True:
            registry, result = self._jobs.get()
            try:
                families = list(registry.collect())
                result.set_result(("pass", f"{len(families)} metric families collected"))
            except Exception as err:  # any collector failing is what this check reports
                log.exception("health check: registry collection failed")
                result.set_result(("fail", f"collection failed: {type(err).__name__}"))
