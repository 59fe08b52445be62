"""One worker's part of the backend, set up in the worker once it is forked.

Its ValueWriter becomes prometheus_client's value class of the process (installed
explicitly, so neither PROMETHEUS_MULTIPROC_DIR nor import order decide where values
live), then the collectors and the series limit read the directory with the faults it
finds, and /health asks `health()` whether every count is stored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from prometheus_client.registry import Collector

from impl.metrics.multiprocess.collectors import DirectoryCollector, DirectoryLabelSets, GcMirror
from impl.metrics.multiprocess.faults import Faults
from impl.metrics.multiprocess.writer import ValueWriter
from impl.upstream.prometheus import INITIAL_FILE_BYTES, install_value_class

# Less free space than a new file's first allocation: a new worker could not store anything.
_LOW_SPACE_BYTES = INITIAL_FILE_BYTES
# /health's message stays one readable line.
_MOST_PROBLEMS_SHOWN = 4


class Verdict(NamedTuple):
    passing: bool
    message: str


class WorkerMetrics:
    """The writer of this worker's files, and what reads and checks the directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.faults = Faults()
        self.writer = ValueWriter(directory, self.faults)
        install_value_class(self.writer.value_class())
        self.writer.start_upkeep()
        self._gc_mirror = GcMirror()

    def collector(self, *others: Collector) -> DirectoryCollector:
        return DirectoryCollector(self.directory, *others, faults=self.faults)

    def label_sets(self) -> DirectoryLabelSets:
        return DirectoryLabelSets(self.directory, self.writer)

    def health(self) -> Verdict:
        """Failing while a count of this worker waits in memory, while space is short, and
        for a while after a damaged file was found (faults.py)."""
        problems = [*_space_problems(self.directory), *self.writer.problems(), *self.faults.held()]
        if not problems:
            return Verdict(True, f"{self.directory}: every count stored")
        shown = problems[:_MOST_PROBLEMS_SHOWN]
        if len(problems) > len(shown):
            shown.append(f"{len(problems) - len(shown)} more")
        return Verdict(False, f"{self.directory}: {'; '.join(shown)}")

    def stop(self) -> None:
        """At the worker's exit: its last GC counts and whatever waits stored, if they can be."""
        self._gc_mirror.stop()
        self.writer.close()


def _space_problems(directory: Path) -> list[str]:
    try:
        info = os.statvfs(directory)
    except OSError as err:
        return [err.strerror or str(err)]
    free = info.f_bavail * info.f_frsize
    if free < _LOW_SPACE_BYTES:
        return [f"no space left on device ({free} bytes free)"]
    return []
