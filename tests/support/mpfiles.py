"""prometheus_client's multiprocess files, written in this process as if by others.

`writing_as(directory, pid)` makes the metrics created inside it write the files
process `pid` would write (prometheus_client's own MultiProcessValue, with its
process identifier set), so tests build directories of many processes' files
without starting any.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, values
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from impl.upstream.prometheus import install_value_class, installed_value_class

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"


@contextlib.contextmanager
def writing_as(directory: Path, pid: int) -> Iterator[None]:
    """Metrics created inside write `directory`'s files of process `pid`."""
    saved_class = installed_value_class()
    saved_env = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = str(directory)
    value_class = values.MultiProcessValue(process_identifier=lambda: pid)  # type: ignore[no-untyped-call]
    install_value_class(value_class)
    try:
        yield
    finally:
        value_class.close_all_files()
        install_value_class(saved_class)
        if saved_env is None:
            del os.environ[ENV_VAR]
        else:
            os.environ[ENV_VAR] = saved_env


def _series_key(sample: Sample) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))


def in_service_order(family: Metric) -> Metric:
    """MultiProcessCollector's family with its lines in the service's order.

    Two differences, and only these: series by their label pairs (MultiProcessCollector
    orders them by first appearance in the directory's listing, which the file system
    chooses), and each histogram series' `_sum` after its `_count` (it puts `_sum`
    first; one process, and the service, write buckets, `_count`, `_sum`). The order
    of lines within any other series is left as it is.
    """
    series: dict[tuple[tuple[str, str], ...], list[Sample]] = {}
    for sample in family.samples:
        series.setdefault(_series_key(sample), []).append(sample)
    ordered: list[Sample] = []
    for key in sorted(series):
        lines = series[key]
        if family.type == "histogram":
            sums = [s for s in lines if s.name == family.name + "_sum"]
            lines = [s for s in lines if s.name != family.name + "_sum"] + sums
        ordered.extend(lines)
    kept = Metric(family.name, family.documentation, family.type, family.unit)
    kept.samples = ordered
    return kept


class _Families(Collector):
    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def prometheus_client_text(directory: Path) -> bytes:
    """What MultiProcessCollector and generate_latest make of `directory`, families by
    name and lines in the service's order (in_service_order)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    families = sorted(registry.collect(), key=lambda family: family.name)
    return generate_latest(_Families([in_service_order(f) for f in families]))


__all__ = ["in_service_order", "prometheus_client_text", "writing_as"]


def bytes_read() -> int:
    """What this process has read with system calls so far (Linux's rchar)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")
