"""What went wrong in the multiprocess directory, as one process saw it.

A fault is an event: a file found truncated, overwritten or unlinked, an archive that
does not parse. Each is logged when first seen, and shown on /health (health.py) while
it is seen and for HOLD_SECONDS after, so that a probe between two scrapes still finds
it. Conditions that last (counts not stored, no space) are not faults: health.py asks
the writer and the file system for those, and they clear as soon as they end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# Long enough for a probe every 10-30 s (Kubernetes' defaults) to see a fault at least once.
HOLD_SECONDS = 60.0


class Faults:
    """The faults one process has seen lately; safe to use from any thread."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last_seen: dict[tuple[str, str], float] = {}

    def note(self, subject: str, cause: str, at: float | None = None) -> None:
        """`subject` (a file's name) was found `cause`, now or at wall-clock time `at`
        (a fault another process saw, logged and wrote down: fold.py)."""
        with self._lock:
            now = self._clock()
            seen_at = now if at is None else min(at, now)
            if now - seen_at > HOLD_SECONDS:
                return
            last = self._last_seen.get((subject, cause))
            if at is None and (last is None or now - last > HOLD_SECONDS):
                log.warning(
                    "multiprocess file damaged",
                    extra={"fields": {"file": subject, "cause": cause}},
                )
            self._last_seen[(subject, cause)] = max(seen_at, last or seen_at)

    def held(self) -> list[str]:
        """`<subject>: <cause>` for each fault seen in the last HOLD_SECONDS."""
        with self._lock:
            now = self._clock()
            for key, last in list(self._last_seen.items()):
                if now - last > HOLD_SECONDS:
                    del self._last_seen[key]
            return [f"{subject}: {cause}" for subject, cause in sorted(self._last_seen)]
