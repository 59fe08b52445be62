"""Folding an exited worker's files into the archive, counted exactly once throughout.

prometheus_client leaves every process's files in the directory forever, so with workers
recycled (--max-requests) the files, and every scrape's work, grow with uptime. Here the
arbiter, told by gunicorn that a worker has exited (child_exit), merges that worker's
values into one archive file, as MultiProcessCollector would show them, and removes its
files: the directory holds the live workers' files and the archive, whatever the uptime.

## Who writes what

Each worker writes only its own `<kind>_<pid>.db` files (under prometheus_client's
process lock); the arbiter writes only the archive and its temporary twin, and unlinks
only the files of workers it has reaped; scrapes write nothing. So a reaped worker's
files are final, and the archive has one writer, whose folds never overlap. The
directory is the instance's alone (mode 0700, and a lock: directory.py).

## The archive

`influxdb-sysinfo.archive` is JSON: the archived values by kind, and `pending`, the
(name, inode) of folded files that may still be linked. Never changed in place: each
version is written whole to a temporary file and renamed over the archive (rename is
atomic), so whoever opens the name reads one complete version.

## The fold of a dead worker's file D (arbiter, in child_exit)

    W1  read D (final: its writer has exited and been reaped)
    W2  publish version k+1: the values of version k plus D's; pending = {D}
    W3  unlink D
    W4  publish version k+2: the same values; pending = {}

Folds run one at a time in the arbiter's main loop (gunicorn 22+ handles signals there),
and child_exit returns before the arbiter forks any new worker, so a new worker's file
only ever appears after W4. A file whose unlink fails at W3 stays in `pending` at W4 and
after, since it is still linked (and a later fold retries it).

## A scrape (any worker; snapshot.py)

    R1  open the archive by name; keep it open (this pins its inode: no later
        version can get the same inode while it is held)
    R2  list the directory; hold each listed worker file open (reusing a handle kept
        from an earlier scrape when the listing shows the same name and inode; a
        listed file that is gone or replaced when opened is left out)
    R3  stat the archive's name: if its inode is not R1's, a fold published in
        between: start again at R1
    R4  count the archive's values, plus every held file not in its `pending`

## Why D is counted exactly once

A scrape that passes R3 read one archive version v that was current during the whole
of [R1, R3] (each version has a fresh inode, and v's is pinned). Which one?

1. v = k (W2 after R3): v lacks D. D was linked throughout [R1, R3] (W3 comes after
   W2), so R2 listed and opened it: D is counted once, from its file.
2. v = k+1 (W2 before R1, W4 after R3): v has D and pending = {D}. If R2 holds D, it
   is left out by pending: once, from the archive. Could pending hide another file?
   Only one named and inode-numbered as D; a new file with D's name needs a new
   worker, forked after W4, so after R3.
3. v = k+2 or later (W4 before R1): v has D. D was unlinked at W3, before R1, so the
   listing at R2 cannot show it: once, from the archive. A handle kept on D from an
   earlier scrape is reused only if the listing shows D's name with D's inode, and
   while the handle is held no other file can have that inode.

Never twice, never zero. Each scrape also sees each live value at some instant between
its start and end, and archived values only grow: a scrape's total lies between the true
totals at its start and its end, so totals are monotone across non-overlapping scrapes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from impl.metrics.multiprocess.directory import ARCHIVE_NAME, ARCHIVE_TEMPORARY, metrics_file_pid
from impl.metrics.multiprocess.files import Key, KeyCache, MappedFile, SourceKeys, make_key

log = logging.getLogger(__name__)

_FORMAT = 1
_SUMMED_KINDS = frozenset({"counter", "histogram", "summary", "gauge_sum"})
# Gauge kinds whose series carry the writing process's pid.
_PID_KINDS = frozenset({"gauge_all", "gauge_liveall"})

_Slot = tuple[str, str, Key]  # kind, pid ("" when the kind's series have no pid), key


@dataclass
class Archive:
    """One version of the archive: values by slot, and the folded files still linked."""

    values: dict[_Slot, tuple[float, float]] = field(default_factory=dict)
    pending: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def parse(cls, text: str) -> Archive:
        data = json.loads(text)
        if data.get("format") != _FORMAT:
            raise ValueError(f"archive format {data.get('format')!r} is not {_FORMAT}")
        values: dict[_Slot, tuple[float, float]] = {}
        for kind, pid, metric, sample, labels, help_text, value, stamp in data["entries"]:
            key = make_key(metric, sample, tuple((k, v) for k, v in labels), help_text)
            values[(kind, pid, key)] = (value, stamp)
        return cls(values, frozenset((name, inode) for name, inode in data["pending"]))

    def text(self) -> str:
        entries = [
            [kind, pid, key.metric, key.sample, [list(p) for p in key.labels], key.help, *vs]
            for (kind, pid, key), vs in self.values.items()
        ]
        pending = sorted([name, inode] for name, inode in self.pending)
        return json.dumps({"format": _FORMAT, "pending": pending, "entries": entries})

    def sources(self) -> tuple[list[SourceKeys], list[float], list[float]]:
        """The archived keys grouped as files would hold them (one group per kind, and
        pid for gauge `all`), in a fixed order; their values and timestamps in that order."""
        grouped: dict[tuple[str, str], dict[Key, tuple[float, float]]] = {}
        for (kind, pid, key), value in self.values.items():
            grouped.setdefault((kind, pid), {})[key] = value
        order = sorted(grouped)
        sources = [SourceKeys(kind, pid, list(grouped[kind, pid])) for kind, pid in order]
        pairs = [pair for group in order for pair in grouped[group].values()]
        return sources, [value for value, _ in pairs], [stamp for _, stamp in pairs]

    def add(self, dead: MappedFile) -> None:
        """Fold one dead process's file into these values."""
        owner = dead.pid if dead.kind in _PID_KINDS else ""
        for key, value, stamp in zip(dead.keys, dead.values(), dead.timestamps(), strict=True):
            slot = (dead.kind, owner, key)
            self.values[slot] = _merge(dead.kind, self.values.get(slot), (value, stamp))


def _merge(
    kind: str, before: tuple[float, float] | None, new: tuple[float, float]
) -> tuple[float, float]:
    """The archived value with one more process's folded in, by MultiProcessCollector's rule."""
    if kind in _SUMMED_KINDS:
        return ((0.0 if before is None else before[0]) + new[0], 0.0)
    if before is None:
        return new
    if kind == "gauge_min":
        return new if new[0] < before[0] else before
    if kind == "gauge_max":
        return new if new[0] > before[0] else before
    if kind == "gauge_mostrecent":
        return new if new[1] > before[1] else before
    return new  # gauge_all: the pid's latest file wins, as when a reused pid appends


def load_archive(directory: Path) -> Archive:
    try:
        return Archive.parse((directory / ARCHIVE_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Archive()


def publish(directory: Path, archive: Archive) -> None:
    """Replace the archive with `archive`, atomically (W2, W4)."""
    temporary = directory / ARCHIVE_TEMPORARY
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(archive.text())
    os.replace(temporary, directory / ARCHIVE_NAME)


def _still_linked(directory: Path, pending: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
    """The pending files still linked under their name and inode, each unlinked again first."""
    linked = set()
    for name, inode in pending:
        with contextlib.suppress(OSError):
            if os.stat(directory / name, follow_symlinks=False).st_ino == inode:
                try:
                    os.unlink(directory / name)
                except OSError:
                    linked.add((name, inode))
    return linked


def fold_process(directory: Path, pid: int) -> None:
    """Fold the files of exited process `pid` (they must be final) into the archive."""
    list(fold_steps(directory, pid))


def fold_steps(directory: Path, pid: int) -> Iterator[str]:
    """The fold, yielding each step's name once it is done: "live gauges", "W2", "W3", "W4"."""
    foldable = []
    for entry in os.scandir(directory):
        if metrics_file_pid(entry.name) != pid:
            continue
        if entry.name.startswith("gauge_live"):  # gone, not archived, as mark_process_dead does
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
        else:
            foldable.append((entry.name, entry.inode()))
    yield "live gauges"
    if not foldable:
        return
    archive = load_archive(directory)
    earlier = _still_linked(directory, archive.pending)
    folded = []
    for name, inode in foldable:  # W1
        handle = MappedFile.open(str(directory), name, inode, KeyCache())
        if handle is None:
            continue
        try:
            handle.refresh()
            archive.add(handle)
        finally:
            handle.close()
        folded.append((name, inode))
    archive.pending = frozenset(earlier | set(folded))
    publish(directory, archive)
    yield "W2"
    left = set()
    for name, inode in folded:
        try:
            os.unlink(directory / name)
        except OSError as err:
            log.warning("folded file left in place: %s: %s", name, err.strerror)
            left.add((name, inode))
    yield "W3"
    archive.pending = frozenset(earlier | left)
    publish(directory, archive)
    yield "W4"
