"""The text of collected families (custom collectors: process, platform, gc, the
service's identity), with the text of each line up to its value kept between scrapes.

Such a collector builds its families anew at every collection, so nothing of them can be
kept by identity, as kept_text.py keeps a Counter's. But what generate_latest writes of a
family apart from its values depends only on the family's name, type and help text, and
of a sample only on its name and labels: those parts are written once, by generate_latest
itself (from a family of that sample alone, its value a placeholder), and looked up by
what they depend on at later scrapes. Each value is then written as generate_latest
writes it. Families generate_latest writes in a shape of their own (OpenMetrics samples
moved to a gauge at the end: `_created` when kept, `_gsum`, `_gcount`) go through it
whole. The look-ups are bounded: a collector whose labels change at every scrape costs
what generate_latest costs, and no more memory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample, Timestamp

from impl.metrics.text_format import value_text

# Suffixes generate_latest moves out of their family's lines (see the docstring).
_MOVED_SUFFIXES = ("_created", "_gsum", "_gcount")
# Kept headers and line starts, each; emptied when full.
_KEPT_TEXTS = 4096
_PLACEHOLDER = 0.0
_PLACEHOLDER_TEXT = " 0.0\n"


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
        self._starts: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], str] = {}
        self._lock = threading.Lock()

    def encode(self, family: Metric) -> bytes:
        name = family.name
        moved = tuple(name + suffix for suffix in _MOVED_SUFFIXES)
        if family.type == "gaugehistogram" or any(s.name in moved for s in family.samples):
            return generate_latest(_Single(family))
        lines = [self._header(family)]
        for sample in family.samples:
            start = self._start(family, sample)
            lines.append(f"{start} {value_text(sample.value)}{_timestamp_text(sample.timestamp)}\n")
        return "".join(lines).encode("utf-8")

    def _header(self, family: Metric) -> str:
        key = (family.name, family.type, family.documentation, family.unit)
        header = self._headers.get(key)
        if header is None:
            empty = Metric(family.name, family.documentation, family.type, family.unit)
            header = _written(empty)
            self._keep(self._headers, key, header)
        return header

    def _start(self, family: Metric, sample: Sample) -> str:
        """The sample's line up to the space before its value."""
        key = (family.name, family.type, sample.name, tuple(sample.labels.items()))
        start = self._starts.get(key)
        if start is None:
            alone = Metric(family.name, family.documentation, family.type, family.unit)
            alone.add_sample(sample.name, sample.labels, _PLACEHOLDER)
            text = _written(alone)
            header = self._header(family)
            assert text.startswith(header) and text.endswith(_PLACEHOLDER_TEXT), text
            start = text[len(header) : -len(_PLACEHOLDER_TEXT)]
            self._keep(self._starts, key, start)
        return start

    def _keep(self, kept: dict[Any, str], key: object, text: str) -> None:
        with self._lock:
            if len(kept) >= _KEPT_TEXTS:
                kept.clear()
            kept[key] = text
