"""Which label sets of the HTTP metrics get series of their own: at most `limit`.

The label values are bounded one by one (impl/metrics/http_metrics.py), but their
product is not small: every user-agent name times every method, path and status a
client can provoke. An attacker who enumerates them on purpose makes thousands of
label sets, 15 series each, and /metrics grows by megabytes until restart. So the
first `limit` label sets seen are admitted and every later new one is folded into
the overflow labels, as OpenTelemetry SDKs do past their cardinality limit.

With several worker processes the limit holds for the instance, not per worker:
a label set is admitted while the label sets already recorded in prometheus_client's
multiprocess files and the archive of exited workers, number fewer than `limit`.
The directory is locked while a worker reads them and records its new one, so two
workers cannot both take the last place. Each worker remembers what it admitted, and
once the limit is reached the label sets recorded are all there will ever be: the
files are read at most once per label set a worker admits, plus once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Protocol

log = logging.getLogger(__name__)

LabelSet = tuple[str, ...]


class SeriesLimit:
    """Admits at most `limit` label sets (the overflow ones are not counted)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._admitted: set[LabelSet] = set()
        self._lock = threading.Lock()

    def admit(self, labels: LabelSet, record: Callable[[], None]) -> bool:
        """Whether `labels` has a series of its own; `record` is called when it has,
        before any other label set can be admitted."""
        if labels in self._admitted:
            record()
            return True
        return self._admit_new(labels, record)

    def _admit_new(self, labels: LabelSet, record: Callable[[], None]) -> bool:
        with self._lock:
            admitted = labels in self._admitted or len(self._admitted) < self.limit
            if admitted:
                self._admitted.add(labels)
                record()
            return admitted


class RecordedLabelSets(Protocol):
    """What every worker of the instance has recorded, and a lock they all take."""

    def lock(self) -> AbstractContextManager[None]: ...

    def label_sets(self, family: str, label_names: tuple[str, ...]) -> Iterable[LabelSet]: ...


class SharedSeriesLimit(SeriesLimit):
    """The same limit over every worker of an instance (impl/scaleout/ says where the
    workers' label sets are recorded: their files, and the archive of exited ones)."""

    def __init__(
        self,
        limit: int,
        *,
        recorded: RecordedLabelSets,
        family: str,
        label_names: Iterable[str],
        is_overflow: Callable[[LabelSet], bool],
    ) -> None:
        super().__init__(limit)
        self._recorded = recorded
        self._is_overflow = is_overflow
        self._family = family
        self._label_names = tuple(label_names)
        self._final: frozenset[LabelSet] | None = None

    def _admit_new(self, labels: LabelSet, record: Callable[[], None]) -> bool:
        if self._final is not None and labels not in self._final:
            return False
        try:
            return self._admit_shared(labels, record)
        except OSError as err:
            # The directory went wrong under the service: the request is still counted,
            # under the overflow labels, and the limit still holds.
            log.warning("series limit: cannot read the recorded label sets: %s", err)
            return False

    def _admit_shared(self, labels: LabelSet, record: Callable[[], None]) -> bool:
        with self._lock, self._recorded.lock():
            recorded = self._final if self._final is not None else self._recorded_now()
            admitted = labels in recorded or len(recorded) < self.limit
            if admitted:
                self._admitted.add(labels)
                record()  # into this worker's file, before the lock is released
            elif len(recorded) >= self.limit:
                # Full: no worker admits another, so these are all there will ever be
                # (an exited worker's label sets stay, in the archive).
                self._final = frozenset(recorded)
            return admitted

    def _recorded_now(self) -> set[LabelSet]:
        every = self._recorded.label_sets(self._family, self._label_names)
        return {labels for labels in every if not self._is_overflow(labels)}
