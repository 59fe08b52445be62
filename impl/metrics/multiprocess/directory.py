"""The multiprocess directory: its names, and one owner at a time.

Besides prometheus_client's files, it holds the archive of exited workers' counts
(fold.py), its temporary twin while a new version is written, and the lock file, flocked
by the owning instance while it runs, with its pid in it.

Its mode is 0700: the files hold every request's labels, and whoever could write them
could forge the counts. A second instance started on the same directory finds the lock
held and stops before touching anything: wiping the first one's files would drop its
totals, and removing the directory at exit would break its scrapes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from impl.upstream.prometheus import parse_file_name

log = logging.getLogger(__name__)

ARCHIVE_NAME = "influxdb-sysinfo.archive"
ARCHIVE_TEMPORARY = ARCHIVE_NAME + ".tmp"
LOCK_NAME = "influxdb-sysinfo.lock"
_SERVICE_FILES = frozenset({ARCHIVE_NAME, ARCHIVE_TEMPORARY, LOCK_NAME})
# Attempts at the lock when its file is replaced under us (an owner exiting).
_LOCK_ATTEMPTS = 10


class NotRegularFile(OSError):
    """A name of the directory's is something other than a regular file."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.EINVAL, "not a regular file", path)


def open_for_reading(path: str) -> int:
    """A read-only descriptor of `path`, a regular file, else NotRegularFile (or the
    OSError of the open). Whoever can write into the directory can put a FIFO under one
    of its names, and opening a FIFO waits for a writer, for ever: every scrape, and the
    event loop with it. Without O_NONBLOCK the open itself would wait; on a regular file
    the flag changes nothing."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotRegularFile(path)
    return fd


class MultiprocDirError(Exception):
    """The multiprocess directory cannot be used; the message, one line, says why. Raised
    at start-up only: impl/main.py prints it and exits 2."""


def metrics_file_pid(name: str) -> int | None:
    """The writer's pid when `name` is one of prometheus_client's files, else None."""
    parsed = parse_file_name(name)
    return parsed[1] if parsed else None


def _is_known(entry: Path) -> bool:
    known = entry.name in _SERVICE_FILES or metrics_file_pid(entry.name) is not None
    return known and entry.is_file() and not entry.is_symlink()


@dataclass
class OwnedDirectory:
    """The directory, locked by this instance until `release`."""

    path: Path
    lock_fd: int

    def release(self, writers: set[int]) -> None:
        """Remove the files of `writers` (its workers' pids and its own), the archive and the
        lock file; then the directory, unless another program's files keep it."""
        for entry in self.path.iterdir():
            if metrics_file_pid(entry.name) in writers or entry.name in _SERVICE_FILES:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
        try:
            self.path.rmdir()
        except OSError as err:  # e.g. a mount point, or a file someone else put there
            log.warning("multiproc dir left in place: %s: %s", self.path, err.strerror)
        finally:
            os.close(self.lock_fd)  # the lock goes with the last descriptor


def prepare_directory(path: Path | None) -> OwnedDirectory:
    """A directory only this user can enter, locked for this instance and emptied."""
    if path is None:
        try:
            # mkdtemp creates it 0700 and unique, so instances never share one.
            path = Path(tempfile.mkdtemp(prefix="influxdb-sysinfo-metrics-"))
            return OwnedDirectory(path, _lock(path))
        except OSError as err:
            raise MultiprocDirError(f"no temporary multiproc dir: {err.strerror}") from err
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode):
            raise MultiprocDirError(f"multiproc dir {path} is not a directory (or a symlink)")
        if info.st_uid != os.geteuid():
            raise MultiprocDirError(f"multiproc dir {path} belongs to another user")
        lock_fd = _lock(path)
        try:
            _empty(path)
        except BaseException:
            os.close(lock_fd)
            raise
    except OSError as err:
        raise MultiprocDirError(f"multiproc dir {path} is not usable: {err.strerror}") from err
    return OwnedDirectory(path, lock_fd)


def _empty(path: Path) -> None:
    """Wipe what a previous run left, refusing a directory that holds anything else."""
    entries = list(path.iterdir())
    foreign = sorted(e.name for e in entries if not _is_known(e))
    if foreign:
        raise MultiprocDirError(
            f"multiproc dir {path} holds files that are not prometheus_client's "
            f"({', '.join(foreign[:3])}): refusing to wipe it"
        )
    path.chmod(0o700)  # mkdir's mode does not apply to a directory that existed
    for entry in entries:
        if entry.name != LOCK_NAME:
            entry.unlink()  # a previous run's counts would be added to this run's


def _lock(path: Path) -> int:
    """The lock file's descriptor, locked; MultiprocDirError when another instance
    holds it. Inherited by the workers (fork), so the lock lasts while any of them runs."""
    lock_path = path / LOCK_NAME
    for _ in range(_LOCK_ATTEMPTS):
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise MultiprocDirError(
                f"multiproc dir {path} is in use by another instance{holder}"
            ) from None
        # An exiting owner unlinks the lock file before it lets go: a lock taken on
        # that file guards nothing, since the next instance creates a new one.
        with contextlib.suppress(FileNotFoundError):
            if os.stat(lock_path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                return fd
        os.close(fd)
    raise MultiprocDirError(f"multiproc dir {path}: its lock file keeps being replaced")


def refuse_if_in_use(path: Path) -> None:
    """MultiprocDirError when an instance holds `path`'s lock. For an instance that does not
    use the directory (one process), named to it all the same: two instances configured
    with one directory are a mistake to stop at, whatever the mode of the second."""
    try:
        fd = open_for_reading(str(path / LOCK_NAME))
    except OSError:
        return  # no lock file (or none that can be read): no instance holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        raise MultiprocDirError(
            f"multiproc dir {path} is in use by another instance{holder}"
        ) from None
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f" (pid {int(os.pread(fd, 32, 0).decode().strip())})"
    return ""
