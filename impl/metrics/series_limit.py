"""Which label sets of the HTTP metrics get series of their own: at most `limit` that
compete, and every one that is exempt.

Each label value is bounded (http_metrics.py), but not their product: an attacker who
enumerates user agents, methods, paths and statuses makes thousands of label sets, 15
series each, and /metrics grows by megabytes until restart. So the first `limit` label
sets are admitted and later new ones folded into the overflow labels, as OpenTelemetry
SDKs do past their cardinality limit. First come would be first served for ever, so
whoever comes first could take every place: the label sets the caller names exempt (the
overflow ones, and those reserved for well-known clients: http_metrics.py) take no
place and are always admitted; they are few and fixed, so the total stays bounded.

With several workers the limit is the instance's: a label set is admitted while fewer
than `limit` competing ones are recorded in the multiprocess files and the exited
workers' archive, read under the directory's lock so that two workers cannot both take
the last place. Once full, the recorded label sets are all there will ever be, so the
files are read at most once per label set a worker admits, plus once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable
from contextlib import AbstractContextManager
from typing import Protocol

log = logging.getLogger(__name__)

LabelSet = tuple[str, ...]


def _none_exempt(labels: LabelSet) -> bool:
    return False


class SeriesLimit:
    """Admits every label set `exempt` names and at most `limit` others."""

    def __init__(self, limit: int, exempt: Callable[[LabelSet], bool] = _none_exempt) -> None:
        self.limit = limit
        self._exempt = exempt
        self._admitted: set[LabelSet] = set()
        self._places = 0  # admitted label sets that are not exempt
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
            if labels not in self._admitted:
                competes = not self._exempt(labels)
                if competes and self._places >= self.limit:
                    return False
                self._admitted.add(labels)
                self._places += competes
            record()
            return True


class InstanceRecords(Protocol):
    """What every worker of the instance has recorded, and a lock they all take."""

    def lock(self) -> AbstractContextManager[None]: ...

    def label_sets(self, family: str, label_names: tuple[str, ...]) -> Iterable[LabelSet]: ...


class SharedSeriesLimit(SeriesLimit):
    """The same limit over every worker of an instance (impl/metrics/multiprocess/ keeps
    their records)."""

    def __init__(
        self,
        limit: int,
        *,
        recorded: InstanceRecords,
        family: str,
        label_names: Iterable[str],
        exempt: Callable[[LabelSet], bool],
    ) -> None:
        super().__init__(limit, exempt)
        self._recorded = recorded
        self._family = family
        self._label_names = tuple(label_names)
        self._final: frozenset[LabelSet] | None = None

    def _admit_new(self, labels: LabelSet, record: Callable[[], None]) -> bool:
        if self._exempt(labels):
            # Takes no place: no other worker needs to know before it is recorded.
            with self._lock:
                self._admitted.add(labels)
                record()
            return True
        if self._final is not None and labels not in self._final:
            return False
        try:
            return self._admit_shared(labels, record)
        except OSError as err:
            # The directory failed: counted under the overflow labels, the limit still holds.
            log.warning("series limit: cannot read the recorded label sets: %s", err)
            return False

    def _admit_shared(self, labels: LabelSet, record: Callable[[], None]) -> bool:
        with self._lock, self._recorded.lock():
            recorded: Collection[LabelSet] | None = self._final
            if recorded is None:
                every = self._recorded.label_sets(self._family, self._label_names)
                recorded = {each for each in every if not self._exempt(each)}
            admitted = labels in recorded or len(recorded) < self.limit
            if admitted:
                self._admitted.add(labels)
                record()  # into this worker's file, before the lock is released
            elif len(recorded) >= self.limit:
                # Full: no worker admits another, so these are all there will ever be
                # (an exited worker's label sets stay, in the archive).
                self._final = frozenset(recorded)
            return admitted
