"""The text of prometheus_client's own Counter, Gauge, Histogram and Summary objects,
kept between scrapes and rewritten only where a value changed.

Each metric object gets a KeptFamily, stored flat (a few lists per family, none per
child, so that 100k samples make no work for the garbage collector): per child its value
objects ("cells", prometheus_client's MutexValue); per sample line its text as last
written, whose part up to the last space (name and escaped labels, made once per child)
is kept when the value changes: a number's text never holds a space.
A scrape reads every cell at C speed (map over the cells) and finds the changed ones by
identity (a value that changed is a new float object; one that did not is the same
object, whose text is the same), and rewrites only their lines. When nothing changed,
the family's bytes of the last scrape are returned as they are. Nothing depends on time:
every scrape reads every value.

A family is encoded under its own lock, so that scrapes in several threads at once each
see a consistent family (and never a half-updated one), one family at a time.
"""

from __future__ import annotations

import threading
import weakref
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import compress, count
from operator import is_not
from typing import Any

from prometheus_client.openmetrics.exposition import escape_label_name, escape_metric_name

from impl.metrics.text_format import (
    REPR_ABOVE,
    REPR_BELOW,
    escape_value,
    go_float,
    help_line,
    value_text,
)
from impl.upstream.prometheus import (
    WrapperInfo,
    cell_reader,
    histogram_bounds,
    value_cells,
)

# What the cells of a new child were last read as: nothing, so every line gets written.
_UNREAD = object()
# Cells are read (and gauges' children checked for set_function) this many at a time.
# Each read is one loop in C, which holds the GIL from start to end; between two, the
# event loop's thread may take it. One loop over a
# family of 100,000 children held it for milliseconds (a scrape made in a thread, the
# loop waiting meanwhile); one over 4,096 takes about a tenth of one.
CELLS_PER_READ = 4096


class _Labels:
    """A family's label names, escaped and in the order the format sorts them."""

    def __init__(self, names: Sequence[str], extra: str | None = None) -> None:
        # generate_latest sorts each sample's labels by raw name; a family's are fixed: sort once.
        self.order = sorted(range(len(names)), key=names.__getitem__)
        self.prefixes = [f'{escape_label_name(names[i])}="' for i in self.order]
        # Where `le` (a histogram's bucket label) falls among the sorted names.
        ordered = [names[i] for i in self.order]
        self.extra_at = bisect_left(ordered, extra) if extra is not None else 0

    def parts(self, values: Sequence[str]) -> list[str]:
        """One child's `name="value"` pairs, escaped, in the format's order."""
        prefixes = self.prefixes
        return [f'{prefixes[at]}{escape_value(values[i])}"' for at, i in enumerate(self.order)]


def _braced(parts: Sequence[str]) -> str:
    return "{" + ",".join(parts) + "}" if parts else ""


class _Layout(ABC):
    """Where a kind of metric puts its samples: the lines of one child, up to the value,
    and which cell each line shows."""

    cells_per_child = 1
    lines_per_child = 1

    def __init__(self, info: WrapperInfo, labels: _Labels) -> None:
        self.kind = info.type
        self.labels = labels
        # As HELP and TYPE name it: a counter's family is written under its sample's name.
        self.exposed = escape_metric_name(info.name + ("_total" if info.type == "counter" else ""))

    def header(self, documentation: str) -> str:
        return help_line(self.exposed, documentation) + f"# TYPE {self.exposed} {self.kind}\n"

    @abstractmethod
    def line_starts(self, label_values: Sequence[str]) -> list[str]:
        """A new child's lines up to their values."""

    def rewrite(self, lines: list[str], values: list[Any], changed: list[int]) -> None:
        """Cell i shows on line i."""
        for i in changed:
            value = values[i]
            line = lines[i]
            start = line[: line.rindex(" ") + 1]
            # value_text(value), inlined: at 100k changed values the call is a tenth of a scrape.
            if value.__class__ is float and REPR_ABOVE < value < REPR_BELOW:
                lines[i] = start + repr(value)
            else:
                lines[i] = start + go_float(value)


class _SingleValue(_Layout):
    """Counters and gauges: one sample per child, a counter's named `_total`."""

    def line_starts(self, label_values: Sequence[str]) -> list[str]:
        return [f"{self.exposed}{_braced(self.labels.parts(label_values))} "]


class _Summary(_Layout):
    """Count and sum per child (no quantiles: prometheus_client's Summary has none)."""

    cells_per_child = lines_per_child = 2

    def __init__(self, info: WrapperInfo) -> None:
        super().__init__(info, _Labels(info.label_names))
        self.count_name = escape_metric_name(info.name + "_count")
        self.sum_name = escape_metric_name(info.name + "_sum")

    def line_starts(self, label_values: Sequence[str]) -> list[str]:
        labels = _braced(self.labels.parts(label_values))
        return [f"{self.count_name}{labels} ", f"{self.sum_name}{labels} "]


class _Histogram(_Layout):
    """Cumulative buckets, count, and sum unless a bound is negative. A child's cells are
    its buckets as counted (not cumulative) and its sum: a changed bucket changes its own
    line, every line above it and the count."""

    def __init__(self, info: WrapperInfo, bounds: list[float]) -> None:
        super().__init__(info, _Labels(info.label_names, extra="le"))
        self.bucket_name = escape_metric_name(info.name + "_bucket")
        self.count_name = escape_metric_name(info.name + "_count")
        self.sum_name = escape_metric_name(info.name + "_sum")
        self.bounds = [f'le="{go_float(bound)}"' for bound in bounds]
        self.with_sum = bounds[0] >= 0
        self.cells_per_child = len(bounds) + 1
        self.lines_per_child = len(bounds) + 1 + self.with_sum

    def line_starts(self, label_values: Sequence[str]) -> list[str]:
        parts = self.labels.parts(label_values)
        at = self.labels.extra_at
        before = "".join(part + "," for part in parts[:at])
        after = "".join("," + part for part in parts[at:])
        starts = [f"{self.bucket_name}{{{before}{bound}{after}}} " for bound in self.bounds]
        labels = _braced(parts)
        starts.append(f"{self.count_name}{labels} ")
        if self.with_sum:
            starts.append(f"{self.sum_name}{labels} ")
        return starts

    def rewrite(self, lines: list[str], values: list[Any], changed: list[int]) -> None:
        buckets = len(self.bounds)
        per_child, per_line = self.cells_per_child, self.lines_per_child
        rewritten = -1  # the last child whose buckets were rewritten
        for i in changed:
            child, cell = divmod(i, per_child)
            top = child * per_line  # the child's first line
            if cell == buckets:
                if self.with_sum:
                    sum_line = top + buckets + 1
                    lines[sum_line] = _with_value(lines[sum_line], values[i])
                continue
            if child == rewritten:
                continue  # its first changed bucket came first (`changed` is in order)
            rewritten = child
            # Summed from the lowest bucket, as generate_latest sums, so equal floats.
            cumulative = 0.0
            first = child * per_child
            for bucket in range(buckets):
                cumulative += values[first + bucket]
                if bucket >= cell:
                    lines[top + bucket] = _with_value(lines[top + bucket], cumulative)
            lines[top + buckets] = _with_value(lines[top + buckets], cumulative)


def _with_value(line: str, value: float) -> str:
    """`line` (as last written, or only its start) with `value` for its value."""
    return line[: line.rindex(" ") + 1] + value_text(value)


def _layout(info: WrapperInfo, wrapper: Any) -> _Layout:
    if info.type == "summary":
        return _Summary(info)
    if info.type == "histogram":
        return _Histogram(info, histogram_bounds(wrapper))
    return _SingleValue(info, _Labels(info.label_names))


def _shape(info: WrapperInfo) -> tuple[str, str, tuple[str, ...]]:
    return info.name, info.type, info.label_names


class KeptFamily:
    """One metric object's text as last written (see the module's docstring)."""

    def __init__(self, info: WrapperInfo, wrapper: Any) -> None:
        self._lock = threading.Lock()
        self._info = info
        self._layout = _layout(info, wrapper)
        self._header = self._layout.header(info.documentation)
        self._children: list[Any] = []
        self._cells: list[Any] = []
        self._read: Callable[[Any], Any] = cell_reader(())
        self._values: list[Any] = []
        self._lines: list[str] = []
        self._text: bytes | None = None  # the family's bytes while nothing changes

    def fits(self, info: WrapperInfo) -> bool:
        """Whether this is still the metric's shape (its documentation may change)."""
        return _shape(info) == _shape(self._info)

    def encode(self, info: WrapperInfo, keys: list[tuple[str, ...]], children: list[Any]) -> bytes:
        """The family's text for these children (as prometheus_client lists them now)."""
        with self._lock:
            if info.documentation != self._info.documentation:
                self._info = info
                self._header = self._layout.header(info.documentation)
                self._text = None
            if children != self._children:  # compared by identity: a child has no __eq__
                self._follow(keys, children)
            values, changed = self._read_cells()
            if changed or self._text is None:
                self._layout.rewrite(self._lines, values, changed)
                self._values = values
                body = "\n".join(self._lines)
                self._text = f"{self._header}{body}\n".encode() if body else self._header.encode()
            return self._text

    def _read_cells(self) -> tuple[list[Any], list[int]]:
        """Every cell's value, and the indices of those that changed since the last read
        (a new value is a new object), CELLS_PER_READ cells at a time."""
        cells, before, read = self._cells, self._values, self._read
        values: list[Any] = []
        changed: list[int] = []
        for start in range(0, len(cells), CELLS_PER_READ):
            stop = start + CELLS_PER_READ
            part = list(map(read, cells[start:stop]))
            changed += compress(count(start), map(is_not, part, before[start:stop]))
            values += part
        return values, changed

    def _follow(self, keys: list[tuple[str, ...]], children: list[Any]) -> None:
        """Take on a new list of children: kept ones keep their lines, new ones get theirs."""
        self._text = None
        known = len(self._children)
        if children[:known] == self._children:  # only appended, the usual case
            self._add(keys[known:], children[known:])
        else:  # removed or cleared: rebuild, keeping what the remaining children had
            self._rebuild(keys, children)
        self._read = cell_reader(self._cells)

    def _add(self, keys: Sequence[tuple[str, ...]], children: Sequence[Any]) -> None:
        layout = self._layout
        for key, child in zip(keys, children, strict=True):
            self._children.append(child)
            self._cells += value_cells(child, layout.kind)
            self._values += [_UNREAD] * layout.cells_per_child
            self._lines += layout.line_starts(key)  # valued at the first read

    def _rebuild(self, keys: list[tuple[str, ...]], children: list[Any]) -> None:
        cells_per_child = self._layout.cells_per_child
        lines_per_child = self._layout.lines_per_child
        was = {id(child): at for at, child in enumerate(self._children)}
        old_cells, old_values = self._cells, self._values
        old_lines = self._lines
        self._children, self._cells, self._values, self._lines = [], [], [], []
        for key, child in zip(keys, children, strict=True):
            at = was.get(id(child))
            if at is None:
                self._add((key,), (child,))
                continue
            cells = slice(at * cells_per_child, (at + 1) * cells_per_child)
            lines = slice(at * lines_per_child, (at + 1) * lines_per_child)
            self._children.append(child)
            self._cells += old_cells[cells]
            self._values += old_values[cells]
            self._lines += old_lines[lines]


class KeptFamilies:
    """A KeptFamily per metric object, for as long as the object lives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: weakref.WeakKeyDictionary[Any, KeptFamily] = weakref.WeakKeyDictionary()

    def of(self, wrapper: Any, info: WrapperInfo) -> KeptFamily:
        with self._lock:
            kept = self._families.get(wrapper)
            if kept is None or not kept.fits(info):
                kept = self._families[wrapper] = KeptFamily(info, wrapper)
            return kept
