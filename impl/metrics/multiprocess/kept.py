"""The merged families' text, kept between scrapes and rewritten only where a value changed.

Most of a scrape's values are those it read last time: the files of a worker that served
nothing since, every series that was not touched. Formatting every number anew was most
of a scrape. So, as impl/metrics/kept_text.py does for one process, each line's text is
kept per plan (merge.py), and each family's bytes: a scrape finds which values changed
(per file, its bytes compared at once, then its values' fingerprints: files.py), rewrites
the lines they make, and the families that hold them; the others give the bytes they gave.

A line's text depends only on the values (and, for `mostrecent` gauges, the timestamps)
of its own indices, and for a histogram's bucket or `_count` on those of the buckets of
its series up to it: what is rewritten is exactly what could differ. Nothing depends on
time: every scrape compares every file. A new plan (a key appeared, a file came or went,
the archive was published anew) writes every line once, as a scrape did before.

Not thread-safe: the reader (snapshot.py) updates it under its lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress, count
from operator import ne

from impl.metrics.multiprocess.merge import Plan, PlannedFamily
from impl.metrics.text_format import value_text


def _line(prefix: str, value: float | None) -> str:
    return "" if value is None else f"{prefix}{value_text(value)}\n"


class KeptText:
    """The text of one plan's families, for the values it was last given."""

    def __init__(
        self,
        plan: Plan,
        values: Sequence[float],
        stamps: Sequence[float],
        files_at: int,
        fingerprints: list[tuple[object, ...]],
    ) -> None:
        """Every line written for `values`; `files_at` is where the files' values begin
        (after the archive's, which do not change within a plan), `fingerprints` are the
        files' (files.py), in the plan's order."""
        self.plan = plan
        self._files_at = files_at
        self._fingerprints = fingerprints
        # Per value index: the family and line it makes (each value makes one line).
        self._owners: list[tuple[int, int]] = [(0, 0)] * len(values)
        # Per histogram family: its bucket lines' series, as (first line, buckets).
        self._runs: dict[int, dict[int, tuple[int, int]]] = {}
        self._lines: list[list[str]] = []
        self.texts: list[bytes] = []
        for at, family in enumerate(plan.families):
            for line, indices in enumerate(family.indices):
                for index in indices:
                    self._owners[index] = (at, line)
            if family.bucket_runs:
                self._runs[at] = {
                    line: (first, buckets)
                    for first, buckets in family.bucket_runs
                    for line in range(first, first + buckets)
                }
            prefixes = [line.prefix for line in family.lines]
            self._lines.append(list(map(_line, prefixes, family.values(values, stamps))))
            self.texts.append(self._text(at, family))

    def update(
        self,
        values: Sequence[float],
        stamps: Sequence[float],
        fingerprints: list[tuple[object, ...]],
    ) -> None:
        """Rewrite the lines whose values differ from those last given: `fingerprints`
        are the files' now, in the same order and of the same lengths (the same plan)."""
        changed: dict[int, set[int]] = {}  # family -> its lines
        at = self._files_at
        owners = self._owners
        for now, before in zip(fingerprints, self._fingerprints, strict=True):
            if now is not before:  # the same object: the file's bytes did not change
                for index in compress(count(at), map(ne, now, before)):
                    family, line = owners[index]
                    changed.setdefault(family, set()).add(line)
            at += len(now)
        self._fingerprints = fingerprints
        for family, lines in changed.items():
            self._rewrite(family, sorted(lines), values, stamps)

    def _rewrite(
        self, at: int, lines: list[int], values: Sequence[float], stamps: Sequence[float]
    ) -> None:
        family = self.plan.families[at]
        kept = self._lines[at]
        runs = self._runs.get(at, {})
        done = -1  # the last line of the series whose buckets were rewritten
        for line in lines:
            run = runs.get(line)
            if run is None:
                kept[line] = _line(family.lines[line].prefix, family.value_of(line, values, stamps))
                continue
            if line <= done:
                continue  # a lower bucket of the same series rewrote it
            first, buckets = run
            done = first + buckets  # its `_count`
            cumulative = family.run_values(first, buckets, values)
            # Below the lowest changed bucket, the sums are those already written.
            for offset in range(line - first, buckets + 1):
                kept[first + offset] = _line(
                    family.lines[first + offset].prefix, cumulative[offset]
                )
        self.texts[at] = self._text(at, family)

    def _text(self, at: int, family: PlannedFamily) -> bytes:
        return (family.header + "".join(self._lines[at])).encode("utf-8")
