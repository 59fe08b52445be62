"""A worker's view of the multiprocess directory: current values, at the cost of the
live series.

Per scrape, a worker's DirectoryReader lists the directory and reads every value in
place (files.py); keys are decoded only when they appear, the archive only when a fold
has published a new version, and the plan (merge.py) is rebuilt only when either
happened. The families' text is kept with the plan and rewritten where values changed
(kept.py). Nothing is cached by time. Which files and archive version a scrape counts:
steps R1 to R4 in fold.py, with the proof that a folded worker is counted exactly once.

A file that cannot be read as written (files.py: DamagedFile, or any OSError opening
it) is left out of the scrape and noted (faults.py): it costs its own counts, for as long
as it stays so, and nothing else. So is an archive that does not parse; one that goes
missing, and a worker file unlinked while its process runs, are noted too (only a fold
removes files, and only those of exited workers). Faults the arbiter wrote into the
archive are noted as well, so that every worker's /health shows them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from impl.metrics.multiprocess.directory import ARCHIVE_NAME, metrics_file_pid, open_for_reading
from impl.metrics.multiprocess.faults import Faults
from impl.metrics.multiprocess.files import DamagedFile, HeldFile, Key, KeyCache, SourceKeys
from impl.metrics.multiprocess.fold import Archive, archive_text
from impl.metrics.multiprocess.kept import KeptText
from impl.metrics.multiprocess.merge import Plan, Planner

# A scrape that sees this many folds publish while it reads gives up (each fold
# publishes twice, within milliseconds; in practice a scrape restarts rarely, once).
_MAX_ATTEMPTS = 50


class UnstableDirectory(OSError):
    """The archive kept changing while a scrape read the directory."""


@dataclass
class _HeldArchive:
    """One archive version, held open so that its inode stays its own (R1)."""

    fd: int | None = None  # None: no archive yet
    inode: int | None = None
    pending: frozenset[tuple[str, int]] = frozenset()
    folded: frozenset[int] = frozenset()
    damage: str | None = None  # why it was counted as empty
    sources: list[SourceKeys] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Snapshot:
    """A scrape's plan, the values to evaluate it with, and its families' text."""

    plan: Plan
    values: list[float]
    stamps: list[float]  # empty unless the plan has `mostrecent` gauges
    texts: list[bytes]  # per family of the plan, HELP and TYPE included


class DirectoryReader:
    """Reads a multiprocess directory for one worker, scrape after scrape."""

    def __init__(self, directory: Path, faults: Faults | None = None) -> None:
        self._directory = str(directory)
        self._archive_path = os.path.join(self._directory, ARCHIVE_NAME)
        self.faults = Faults() if faults is None else faults
        self._keys = KeyCache()
        self._archive = _HeldArchive()
        self._files: dict[str, HeldFile] = {}
        self._planner = Planner()
        self._plan: Plan | None = None
        self._plan_for: tuple[object, ...] = ()
        self._kept: KeptText | None = None  # the plan's text, as of the last read
        # Scrapes of one worker run in a thread pool: one at a time through the caches.
        self._lock = threading.Lock()

    def read(self) -> Snapshot:
        with self._lock:
            archive, counted = self._consistent()
            counted, grew = self._refreshed(counted)
            shape = (archive.inode, *((f.inode, len(f.keys)) for f in counted))
            if self._plan is None or grew or shape != self._plan_for:
                sources = [*archive.sources, *(SourceKeys(f.kind, f.pid, f.keys) for f in counted)]
                self._plan, self._plan_for = self._planner.build(sources), shape
            values = list(archive.values)  # R4
            for handle in counted:
                values.extend(handle.values())
            stamps = list(archive.stamps) if self._plan.needs_stamps else []
            if self._plan.needs_stamps:
                for handle in counted:
                    stamps.extend(handle.timestamps())
            fingerprints = [handle.fingerprint(self._plan.needs_stamps) for handle in counted]
            if self._kept is None or self._kept.plan is not self._plan:
                files_at = len(archive.values)
                self._kept = KeptText(self._plan, values, stamps, files_at, fingerprints)
            else:
                self._kept.update(values, stamps, fingerprints)
            return Snapshot(self._plan, values, stamps, list(self._kept.texts))

    def close(self) -> None:
        """Let go of the files and the archive held open (a worker's reader lives as long
        as the worker; a reader made for a while, as a test's, would keep them open)."""
        with self._lock:
            for handle in self._files.values():
                handle.close()
            self._files = {}
            if self._archive.fd is not None:
                os.close(self._archive.fd)
            self._archive = _HeldArchive()
            self._plan, self._kept = None, None

    def keys(self, kind: str) -> list[Key]:
        """The keys of `kind` the instance recorded, exited workers' too, as a scrape counts."""
        with self._lock:
            archive, counted = self._consistent()
            keys = [key for source in archive.sources if source.kind == kind for key in source.keys]
            refreshed, _ = self._refreshed([handle for handle in counted if handle.kind == kind])
            for handle in refreshed:
                keys.extend(handle.keys)
            return keys

    def decode(self, raw: bytes) -> Key:
        return self._keys[raw]

    def _refreshed(self, handles: list[HeldFile]) -> tuple[list[HeldFile], bool]:
        """The handles read anew, but those found damaged (dropped, and noted); whether
        any had new entries."""
        kept, grew = [], False
        for handle in handles:
            try:
                grew = handle.refresh() or grew
            except DamagedFile as err:
                self.faults.note(handle.name, err.cause)
                self._files.pop(handle.name, None)
                handle.close()  # read from scratch at the next scrape: its writer may mend it
            else:
                kept.append(handle)
        return kept, grew

    def _consistent(self) -> tuple[_HeldArchive, list[HeldFile]]:
        """The archive, and the held files it does not count already (R1 to R3)."""
        for _ in range(_MAX_ATTEMPTS):
            archive = self._hold_archive()  # R1
            files = self._hold_files()  # R2
            if self._archive_inode() == archive.inode:  # R3
                return archive, [f for f in files if (f.name, f.inode) not in archive.pending]
        raise UnstableDirectory(f"{self._directory}: the archive kept changing")

    def _archive_inode(self) -> int | None:
        try:
            return os.stat(self._archive_path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            return None

    def _hold_archive(self) -> _HeldArchive:
        """The current archive version, read anew only when it is a new one."""
        current = self._archive
        if current.inode is not None and self._archive_inode() == current.inode:
            if current.damage is not None:  # still there: still said
                self.faults.note(ARCHIVE_NAME, current.damage)
            return current  # the same file: archive versions are never changed
        try:
            fd = open_for_reading(self._archive_path)
        except FileNotFoundError:
            fresh = _HeldArchive()
            if current.inode is not None:  # only ever replaced, while the instance runs
                self.faults.note(ARCHIVE_NAME, "unlinked; the counts of exited workers missing")
        except OSError as err:
            fresh = _HeldArchive()
            self.faults.note(ARCHIVE_NAME, f"{err.strerror}; the counts of exited workers missing")
        else:
            fresh = self._read_archive(fd)
        if current.fd is not None:
            os.close(current.fd)  # which unpins its inode
        self._archive = fresh
        return fresh

    def _read_archive(self, fd: int) -> _HeldArchive:
        """The archive open at `fd`; one that does not parse is held (its inode pinned)
        and counted as empty: it costs the exited workers' counts until the arbiter
        publishes it anew."""
        inode = os.fstat(fd).st_ino
        try:
            archive = Archive.parse(archive_text(fd))
        except DamagedFile as err:
            damage = f"{err.cause}; the counts of exited workers missing"
            self.faults.note(ARCHIVE_NAME, damage)
            return _HeldArchive(fd, inode, damage=damage)
        for file, cause, at in archive.faults:
            self.faults.note(file, cause, at)
        sources, values, stamps = archive.sources()
        folded = frozenset(archive.folded)
        return _HeldArchive(fd, inode, archive.pending, folded, None, sources, values, stamps)

    def _hold_files(self) -> list[HeldFile]:
        """The listed worker files, held open, in listing order (R2)."""
        held: dict[str, HeldFile] = {}
        with os.scandir(self._directory) as entries:
            listed = [(e.name, e.inode()) for e in entries if metrics_file_pid(e.name) is not None]
        for name, inode in listed:
            kept = self._files.get(name)
            if kept is not None and kept.inode == inode:
                held[name] = self._files.pop(name)
                continue
            try:
                opened = HeldFile.open(self._directory, name, inode, self._keys)
            except OSError as err:
                self.faults.note(name, err.strerror or str(err))
                continue
            if opened is not None:
                held[name] = opened
        folded = self._archive.folded
        for gone in self._files.values():  # no longer listed, or the name is another file
            # Only a fold removes files, and only an exited worker's.
            if int(gone.pid) not in folded and _runs(int(gone.pid)):
                self.faults.note(gone.name, f"unlinked while its process {gone.pid} runs")
            gone.close()
        self._files = held
        return list(held.values())


def _runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True
