"""What /metrics shows when several worker processes serve one instance.

Each worker records its HTTP metrics into prometheus_client's multiprocess files (one set
per pid in one directory); whichever worker answers a scrape merges them. Every family
gets a deliberate mode:

- `http_api_*` and `python_gc_*` (counters, histograms): summed over every worker that
  ever ran, exited ones included (folded into the archive: fold.py), so no count is lost
  and none goes backwards when a worker dies or is replaced. (`python_gc_*` count each
  worker's collections from its start, copied once a second: see GcMirror.)
- `process_*`: one series per live process of the service (the arbiter and its workers),
  labelled `pid`, read from /proc at scrape time. Summed, the CPU counter would drop
  whenever a worker died; per pid, a dead worker's series simply ends.
- `influxdb_info`, `influxdb_uptime_seconds`, `python_info`: once, for the instance;
  uptime counts from the arbiter's start, so a replaced worker does not reset it.

The merged families are what MultiProcessCollector would make of the same files (proven
by tests/test_merge_equivalence.py), read at the cost of the live series (snapshot.py,
merge.py) and written at the cost of the values that changed (kept.py). Multiprocess
values keep no exemplars, so OpenMetrics output has none here.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from prometheus_client import Counter
from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from impl.metrics.encoding import EncodedFamily
from impl.metrics.multiprocess.faults import Faults
from impl.metrics.multiprocess.merge import Plan, PlannedFamily
from impl.metrics.multiprocess.snapshot import DirectoryReader, Snapshot
from impl.metrics.multiprocess.writer import ValueWriter
from sysinfo_contract.names import selects

# A label set as impl/metrics/series_limit.py reads it: the values in label-name order.
LabelSet = tuple[str, ...]
# How often a worker copies its GC statistics to its files: how late scrapes may see them.
_GC_MIRROR_SECONDS = 1.0
# GCCollector's families (names, help texts, label), kept as counters by GcMirror.
_GC_FAMILIES = {
    "collected": ("python_gc_objects_collected", "Objects collected during gc"),
    "uncollectable": ("python_gc_objects_uncollectable", "Uncollectable objects found during GC"),
    "collections": ("python_gc_collections", "Number of times this generation was collected"),
}


def service_pids(arbiter_pid: int, proc: Path = Path("/proc")) -> list[int]:
    """The arbiter and its children (the workers), from /proc."""
    children_file = proc / str(arbiter_pid) / "task" / str(arbiter_pid) / "children"
    try:
        children = [int(pid) for pid in children_file.read_text().split()]
    except FileNotFoundError:  # kernels without that file: every process's parent
        children = []
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited meanwhile
            # Field 4 is the parent pid; the command name before it may hold spaces.
            if int(stat.rsplit(")", 1)[1].split()[1]) == arbiter_pid:
                children.append(int(entry.name))
    return [arbiter_pid, *sorted(children)]


@dataclass
class ServiceProcessCollector(Collector):
    """prometheus_client's `process_*` families for every live process, labelled `pid`."""

    arbiter_pid: int

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for pid in service_pids(self.arbiter_pid):
            # A process that exits while it is read yields fewer (or no) families.
            for family in ProcessCollector(pid=partial(int, pid), registry=None).collect():
                target = merged.setdefault(
                    family.name,
                    Metric(family.name, family.documentation, family.type, family.unit),
                )
                target.samples.extend(
                    Sample(s.name, {**s.labels, "pid": str(pid)}, s.value, s.timestamp)
                    for s in family.samples
                )
        yield from merged.values()


class _MergedFamily(EncodedFamily):
    """One merged multiprocess family of a scrape, encoded only if selected."""

    def __init__(self, planned: PlannedFamily, snapshot: Snapshot, text: bytes) -> None:
        self.name = planned.name
        self._planned = planned
        self._snapshot = snapshot
        self._text = text

    def encode(self, wanted: frozenset[str] | None) -> bytes:
        if not selects(wanted, self.name, self._planned.sample_names):
            return b""
        return self._text

    def metric(self) -> Metric:
        return self._planned.metric(self._values())

    def _values(self) -> list[float | None]:
        return self._planned.values(self._snapshot.values, self._snapshot.stamps)


class DirectoryCollector(Collector):
    """The merged families of the workers' files and the archive, read at each scrape; then
    those of `others` (for a worker: the live processes, the platform, the identity)."""

    def __init__(self, directory: Path, *others: Collector, faults: Faults | None = None) -> None:
        self._directory = directory
        self._reader = DirectoryReader(directory, faults)
        self._others = others

    def text_families(self) -> Iterator[Metric | _MergedFamily]:
        """For impl/metrics/encoding.py: the merged families write their own text."""
        try:
            snapshot = self._reader.read()
        except OSError as err:  # the directory itself (files are handled one by one)
            self._reader.faults.note(str(self._directory), err.strerror or str(err))
            snapshot = Snapshot(Plan([], False), [], [], [])
        for planned, text in zip(snapshot.plan.families, snapshot.texts, strict=True):
            yield _MergedFamily(planned, snapshot, text)
        for collector in self._others:
            yield from collector.collect()

    def collect(self) -> Iterator[Metric]:
        for family in self.text_families():
            yield family.metric() if isinstance(family, _MergedFamily) else family

    def close(self) -> None:
        """Let go of the directory's files (the reader's)."""
        self._reader.close()


class DirectoryLabelSets:
    """For the instance-wide HTTP series limit: the label sets every worker has recorded,
    read as a scrape reads them, under a lock every worker takes to add one. Those this
    process recorded but could not store yet (writer.py) count too, so that a full file
    system does not lift the limit."""

    def __init__(self, directory: Path, writer: ValueWriter | None = None) -> None:
        self._directory = directory
        self._writer = writer
        self._reader = DirectoryReader(directory, None if writer is None else writer.faults)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        fd = os.open(self._directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # which releases the lock

    def label_sets(self, family: str, label_names: tuple[str, ...]) -> Iterator[LabelSet]:
        # A directory gone wrong raises an OSError, which the series limit handles.
        keys = self._reader.keys("counter")
        if self._writer is not None:
            keys.extend(self._reader.decode(raw) for raw in self._writer.unstored_keys("counter"))
        for key in keys:
            if key.metric == family:
                labels = dict(key.labels)
                yield tuple(labels.get(name, "") for name in label_names)


class GcMirror:
    """Copies this worker's `gc.get_stats()` into multiprocess counters until `stop`.

    GCCollector reads only the interpreter that answers, so here its three families are
    counters in the shared files, summed like the HTTP metrics. A thread copies: a
    `gc.callbacks` hook could run in a thread holding prometheus_client's non-reentrant lock."""

    def __init__(self) -> None:
        self._counters = {
            stat: Counter(name, help_text, ["generation"], registry=None)
            for stat, (name, help_text) in _GC_FAMILIES.items()
        }
        # Counted from here: the counts inherited at fork are the arbiter's, not this worker's.
        self._last = gc.get_stats()
        for generation in range(len(self._last)):
            for counter in self._counters.values():
                counter.labels(str(generation))  # present from the first scrape, at 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gc-mirror", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.mirror()

    def _run(self) -> None:
        while not self._stop.wait(_GC_MIRROR_SECONDS):
            self.mirror()

    def mirror(self) -> None:
        current = gc.get_stats()
        for generation, (now, before) in enumerate(zip(current, self._last, strict=True)):
            for stat, counter in self._counters.items():
                counter.labels(str(generation)).inc(now[stat] - before[stat])
        self._last = current
