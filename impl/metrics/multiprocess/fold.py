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

The arbiter keeps the current version in memory (Folder) and adds to a copy, which
becomes current only once W2 has published it: a fold that fails (no space for the
archive) changes nothing, its files stay and are read as they are, and the next attempt
(every second, Folder.upkeep) folds them once. A version is written to the temporary
file, which is removed if the write fails, then renamed: a crash at any point leaves
the name on a complete version. The archive on disk is checked against what was
published at every upkeep; one unlinked or overwritten by someone else is published
anew from memory, and the fault written into it for every worker's /health to show.

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
import shutil
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from impl.metrics.multiprocess.directory import (
    ARCHIVE_NAME,
    ARCHIVE_TEMPORARY,
    metrics_file_pid,
    open_for_reading,
)
from impl.metrics.multiprocess.files import (
    DamagedFile,
    HeldFile,
    Key,
    KeyCache,
    SourceKeys,
    make_key,
)
from impl.upstream.prometheus import LIVE_GAUGE_PREFIX

log = logging.getLogger(__name__)

_FORMAT = 2
_SUMMED_KINDS = frozenset({"counter", "histogram", "summary", "gauge_sum"})
# Gauge kinds whose series carry the writing process's pid.
_PID_KINDS = frozenset({"gauge_all", "gauge_liveall"})
# Faults the archive carries for readers to show (the latest ones).
_MOST_FAULTS = 16
# Pids folded lately: a reader that finds a file gone knows a fold removed it. Many more
# folds than a reader sees between two of its scrapes.
_MOST_FOLDED = 256

_Slot = tuple[str, str, Key]  # kind, pid ("" when the kind's series have no pid), key
Fault = tuple[str, str, float]  # the file, what was found, when (wall clock)


@dataclass
class Archive:
    """One version of the archive: values by slot, the folded files still linked, and the
    faults the arbiter found (in dead workers' files, in the archive itself)."""

    values: dict[_Slot, tuple[float, float]] = field(default_factory=dict)
    pending: frozenset[tuple[str, int]] = frozenset()
    faults: tuple[Fault, ...] = ()
    folded: tuple[int, ...] = ()  # the latest pids folded

    @classmethod
    def parse(cls, text: str) -> Archive:
        """DamagedFile when `text` is not an archive of this format."""
        try:
            data = json.loads(text)
            if data["format"] != _FORMAT:
                raise ValueError(f"format {data['format']!r}, not {_FORMAT}")
            values: dict[_Slot, tuple[float, float]] = {}
            for kind, pid, metric, sample, labels, help_text, value, stamp in data["entries"]:
                pairs = tuple((name, text) for name, text in labels)
                if not _all_text(kind, pid, metric, sample, help_text, *sum(pairs, ())):
                    raise ValueError("names, labels and help are text")
                key = make_key(metric, sample, pairs, help_text)
                values[(kind, pid, key)] = (float(value), float(stamp))
            pending = frozenset((str(name), int(inode)) for name, inode in data["pending"])
            faults = tuple((str(f), str(c), float(at)) for f, c, at in data["faults"])
            folded = tuple(int(pid) for pid in data["folded"])
        except (ValueError, TypeError, KeyError) as err:  # JSON errors are ValueErrors
            raise DamagedFile(ARCHIVE_NAME, f"not an archive ({type(err).__name__})") from None
        return cls(values, pending, faults, folded)

    def text(self) -> str:
        entries = [
            [kind, pid, key.metric, key.sample, [list(p) for p in key.labels], key.help, *vs]
            for (kind, pid, key), vs in self.values.items()
        ]
        pending = sorted([name, inode] for name, inode in self.pending)
        return json.dumps(
            {
                "format": _FORMAT,
                "pending": pending,
                "faults": [list(fault) for fault in self.faults],
                "folded": list(self.folded),
                "entries": entries,
            }
        )

    def copy(self) -> Archive:
        return replace(self, values=dict(self.values))

    def with_fault(self, file: str, cause: str) -> Archive:
        log.warning("multiprocess file damaged", extra={"fields": {"file": file, "cause": cause}})
        faults = (*self.faults, (file, cause, time.time()))[-_MOST_FAULTS:]
        return replace(self, faults=faults)

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

    def add(self, dead: HeldFile) -> None:
        """Fold one dead process's file (refreshed) into these values."""
        owner = dead.pid if dead.kind in _PID_KINDS else ""
        for key, value, stamp in zip(dead.keys, dead.values(), dead.timestamps(), strict=True):
            slot = (dead.kind, owner, key)
            self.values[slot] = _merge(dead.kind, self.values.get(slot), (value, stamp))


def _all_text(*items: object) -> bool:
    return all(isinstance(item, str) for item in items)


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


# The largest archive read: some 200,000 entries the size of an HTTP duration bucket's
# (315 bytes), where summed kinds keep one entry per series whatever the number of
# workers folded, and the service's own series are bounded (--max-http-series). A
# larger file under the archive's name was not written by the service, and reading it
# whole would cost every worker its size in memory, once per version.
MAX_ARCHIVE_BYTES = 64 << 20


def archive_text(fd: int) -> str:
    """The text of the archive open at `fd`. DamagedFile when it is larger than
    MAX_ARCHIVE_BYTES (found from its size, without reading it) or not UTF-8."""
    size = os.fstat(fd).st_size
    if size > MAX_ARCHIVE_BYTES:
        raise DamagedFile(ARCHIVE_NAME, f"{size} bytes, larger than any archive written")
    with open(fd, "rb", closefd=False) as archive:
        data = archive.read(MAX_ARCHIVE_BYTES + 1)  # if it grew meanwhile, no further
    if len(data) > MAX_ARCHIVE_BYTES:
        raise DamagedFile(ARCHIVE_NAME, "grew larger than any archive written")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DamagedFile(ARCHIVE_NAME, "not UTF-8") from None


def load_archive(directory: Path) -> Archive:
    try:
        fd = open_for_reading(str(directory / ARCHIVE_NAME))
    except FileNotFoundError:
        return Archive()
    try:
        return Archive.parse(archive_text(fd))
    finally:
        os.close(fd)


_Published = tuple[int, int, int]  # inode, size, modification time (ns)


def publish(directory: Path, archive: Archive) -> _Published:
    """Replace the archive with `archive`, atomically (W2, W4); what was published."""
    temporary = directory / ARCHIVE_TEMPORARY
    for name in (temporary, directory / ARCHIVE_NAME):
        _remove_directory_at(name)
    data = archive.text().encode("utf-8")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, 0o600)
    try:
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        info = os.fstat(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temporary)  # a version cut short (no space) must not stay, nor hold space
        raise
    os.close(fd)
    os.replace(temporary, directory / ARCHIVE_NAME)
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _remove_directory_at(path: Path) -> None:
    """A directory made under one of the archive's names (by someone else: the directory
    holds the service's files only) would refuse the archive for ever: it goes."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)


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


class Folder:
    """The arbiter's side of the directory: the current archive, kept in memory by its
    only writer, each exited worker folded in once, and the archive on disk kept as
    published."""

    def __init__(self, directory: Path, archive: Archive | None = None) -> None:
        self.directory = directory
        self.archive = Archive() if archive is None else archive
        self._published: _Published | None = None
        self._unfolded: set[int] = set()  # exited workers whose fold failed: retried

    @classmethod
    def load(cls, directory: Path) -> Folder:
        """A folder continuing the archive on disk (for a directory without an arbiter)."""
        return cls(directory, load_archive(directory))

    def fold(self, pid: int) -> None:
        """Fold the files of exited process `pid` (they must be final); OSError when the
        archive cannot be written, and then a later `upkeep` tries again."""
        self._unfolded.add(pid)
        try:
            list(self.steps(pid))
        except OSError:
            raise  # no space, most likely: worth trying again
        except Exception:
            self._unfolded.discard(pid)  # would fail the same way: its files stay, read as they are
            raise
        self._unfolded.discard(pid)

    def steps(self, pid: int) -> Iterator[str]:
        """The fold, yielding each step's name once done: "live gauges", "W2", "W3", "W4"."""
        directory = self.directory
        foldable = []
        for entry in os.scandir(directory):
            if metrics_file_pid(entry.name) != pid:
                continue
            if entry.name.startswith(LIVE_GAUGE_PREFIX):  # gone, as mark_process_dead does
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
            else:
                foldable.append((entry.name, entry.inode()))
        yield "live gauges"
        if not foldable:
            return
        archive = self.archive.copy()
        earlier = _still_linked(directory, archive.pending)
        folded = []
        for name, inode in foldable:  # W1
            handle = HeldFile.open(str(directory), name, inode, KeyCache())
            if handle is None:
                continue
            try:
                handle.refresh()
                archive.add(handle)
            except DamagedFile as err:  # unlinked all the same: it costs its own counts only
                archive = archive.with_fault(
                    name, f"{err.cause}; exited worker {pid}'s counts in it lost"
                )
            finally:
                handle.close()
            folded.append((name, inode))
        archive.pending = frozenset(earlier | set(folded))
        archive.folded = (*archive.folded, pid)[-_MOST_FOLDED:]
        self._published = publish(directory, archive)
        self.archive = archive
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
        self._published = publish(directory, archive)
        yield "W4"

    def upkeep(self) -> None:
        """Fold what could not be folded before; publish the archive anew if someone else
        unlinked or changed it. Errors are logged: the next upkeep tries again."""
        for pid in sorted(self._unfolded):
            try:
                self.fold(pid)
            except OSError as err:
                log.warning("could not fold the files of worker %s yet: %s", pid, err.strerror)
                return  # the same cause would stop the others
        try:
            self._keep_archive()
        except OSError as err:
            log.warning("could not publish the archive anew: %s", err.strerror)

    def _keep_archive(self) -> None:
        path = self.directory / ARCHIVE_NAME
        try:
            info = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            if self._published is None:
                return  # none yet
            cause = "unlinked"
        else:
            if (info.st_ino, info.st_size, info.st_mtime_ns) == self._published:
                return
            cause = "replaced" if self._published is None else "overwritten"
        self.archive = self.archive.with_fault(ARCHIVE_NAME, f"{cause}; published anew")
        self._published = publish(self.directory, self.archive)


def fold_process(directory: Path, pid: int) -> None:
    """Fold the files of exited process `pid` (they must be final) into the archive on disk."""
    Folder.load(directory).fold(pid)


def fold_steps(directory: Path, pid: int) -> Iterator[str]:
    """fold_process, step by step (tests/test_fold.py)."""
    return Folder.load(directory).steps(pid)
