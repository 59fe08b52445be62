"""The text of collected families (custom collectors: process, platform, gc, the
service's identity), with the text of each line up to its value kept between scrapes.

Such a collector builds its families anew at every collection, so nothing of them can be
kept by identity, as kept_text.py keeps a Counter's. But what generate_latest writes of a
family apart from its values depends only on the family's name, type and help text, and
of a sample only on its name and labels. So a family with a sample not seen before is
written by generate_latest, and each sample's line up to its value is cut from that text
and kept, looked up at later scrapes by the sample's name and labels; the values are then
written as generate_latest writes them. Families generate_latest writes in a shape of
its own (OpenMetrics samples moved to a gauge at the end: `_created` when kept, `_gsum`,
`_gcount`) always go through it. The look-ups are bounded, and a family too large for
them goes through generate_latest: labels that change at every scrape cost about what
generate_latest costs, and no more memory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, cast

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Timestamp

from impl.metrics.text_format import value_text

# Suffixes generate_latest moves out of their family's lines (see the docstring).
_MOVED_SUFFIXES = ("_created", "_gsum", "_gcount")
# Kept headers and line starts, each; emptied when full.
_KEPT_TEXTS = 4096


# A sample's line start is found by its family's name, its own name and its labels.
_StartKey = tuple[str, str, tuple[tuple[str, str], ...]]


class _Single(Collector):
    """One family, for writing it with generate_latest."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterator[Metric]:
        yield self._family


def _written(family: Metric) -> str:
    return generate_latest(_Single(family)).decode("utf-8")


def _timestamp_text(timestamp: float | Timestamp | None) -> str:
    # As generate_latest writes it: milliseconds.
    return "" if timestamp is None else f" {int(float(timestamp) * 1000):d}"


class CollectedText:
    """Writes collected families as generate_latest does, from kept headers and line
    starts; safe to use from several threads at once (the kept texts are only added)."""

    def __init__(self) -> None:
        self._headers: dict[tuple[str, str, str, str], str] = {}
        self._starts: dict[_StartKey, str] = {}
        self._lock = threading.Lock()

    def encode(self, family: Metric) -> bytes:
        name = family.name
        moved = tuple(name + suffix for suffix in _MOVED_SUFFIXES)
        samples = family.samples
        if (
            family.type == "gaugehistogram"
            or len(samples) > _KEPT_TEXTS // 4  # would crowd out the rest at every scrape
            or any(s.name in moved for s in samples)
        ):
            return generate_latest(_Single(family))
        header = self._header(family)
        keys = [(name, sample.name, tuple(sample.labels.items())) for sample in samples]
        found = [self._starts.get(key) for key in keys]
        if None in found:
            written = _written(family)
            self._keep_starts(family, header, keys, written)
            return written.encode("utf-8")
        starts = cast(list[str], found)
        lines = [header]
        for start, sample in zip(starts, samples, strict=True):
            value = value_text(sample.value)
            lines.append(f"{start} {value}{_timestamp_text(sample.timestamp)}\n")
        return "".join(lines).encode("utf-8")

    def _header(self, family: Metric) -> str:
        key = (family.name, family.type, family.documentation, family.unit)
        header = self._headers.get(key)
        if header is None:
            empty = Metric(family.name, family.documentation, family.type, family.unit)
            header = _written(empty)
            with self._lock:
                _make_room(self._headers)
                self._headers[key] = header
        return header

    def _keep_starts(
        self, family: Metric, header: str, keys: list[_StartKey], written: str
    ) -> None:
        """Keep every sample's line start from the family as generate_latest wrote it:
        each line up to the space before its value (a value's or a timestamp's text
        holds no space; a label value may)."""
        if not written.startswith(header) or not written.endswith("\n"):
            return
        lines = written[len(header) : -1].split("\n") if keys else []
        if len(lines) != len(keys):
            return
        starts = []
        for line, sample in zip(lines, family.samples, strict=True):
            start = line.rsplit(" ", 1 if sample.timestamp is None else 2)[0]
            starts.append(start)
        with self._lock:
            _make_room(self._starts, len(keys))
            self._starts.update(zip(keys, starts, strict=True))


def _make_room(kept: dict[Any, str], wanted: int = 1) -> None:
    if len(kept) + wanted > _KEPT_TEXTS:
        kept.clear()
