"""This process's values, written into its multiprocess files with pwrite.

prometheus_client's multiprocess values write through a shared mapping, and a store into
a mapped page the file system cannot back (a full tmpfs, a file someone truncated) kills
the process with SIGBUS. Here each file's content is kept in memory, its image, in
prometheus_client's format, and stored with pwrite into space allocated beforehand
(posix_fallocate, when a file is created and whenever it passes half its size). Every
failure is then an OSError, handled here:

- A value whose entry is on file is written at once, into allocated space.
- A new entry needs room. When none can be allocated (no space), the entry and its values
  wait in the image, /health says so (health.py), one line is logged, and they are
  stored as soon as room can be made: at the next new entry, or at the next upkeep
  (every second). Nothing is lost while the process lives.
- `upkeep` also compares each file with its image: a file unlinked, truncated or
  overwritten by someone else is written anew from the image (the fault noted), so its
  counts come back.

Readers (files.py) read with pread; a value written here is in every later read once
`write` returns, on any architecture. An entry is written before the `used` length that
covers it, in a second call.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from impl.metrics.multiprocess.faults import Faults
from impl.upstream.prometheus import (
    HEADER_BYTES,
    INITIAL_FILE_BYTES,
    VALUE_BYTES,
    decode_used,
    decode_value,
    encode_entry,
    encode_key,
    encode_used,
    encode_value,
    file_kind,
    file_name,
    parse_entries,
)

log = logging.getLogger(__name__)

UPKEEP_SECONDS = 1.0
# How long an exiting process waits for room to store what waits in memory: less than
# gunicorn's worker timeout (30 s), after which the arbiter kills a silent worker.
EXIT_WAIT_SECONDS = 10.0


class StoredFile:
    """One of this process's files: its image, and how much of it is on file."""

    def __init__(self, directory: str, name: str, faults: Faults) -> None:
        self.name = name
        self._path = os.path.join(directory, name)
        self._faults = faults
        self._fd: int | None = None
        self._capacity = 0  # bytes allocated on file
        self._image = bytearray(encode_used(HEADER_BYTES) + bytes(HEADER_BYTES - 4))
        self._positions: dict[bytes, int] = {}  # each key's value, by offset
        self._stored = 0  # the `used` length on file; 0: nothing on file yet
        self._values_behind = False  # a value could not be written in place
        self.problem: str | None = None  # why the image is not all on file
        self.no_room: str | None = None  # why the file could not be grown ahead

    def slot(self, key: bytes) -> int:
        """The offset of `key`'s value, its entry appended (and stored if it can be) when new."""
        if self._fd is None and not self._positions:
            try:
                self._open()  # first: what a predecessor left may hold the key already
            except OSError as err:
                self._failed(err)
        at = self._positions.get(key)
        if at is None:
            self._image += encode_entry(key)
            self._image[:4] = encode_used(len(self._image))
            at = self._positions[key] = len(self._image) - VALUE_BYTES
            self.store()
        return at

    def read(self, at: int) -> tuple[float, float]:
        return decode_value(self._image, at)

    def write(self, at: int, value: float, timestamp: float) -> None:
        packed = encode_value(value, timestamp)
        self._image[at : at + VALUE_BYTES] = packed
        if self._fd is not None and at < self._stored:
            try:
                os.pwrite(self._fd, packed, at)
            except OSError as err:
                self._values_behind = True
                self._failed(err)

    @property
    def pending(self) -> bool:
        return self._stored < len(self._image) or self._values_behind

    def unstored_keys(self) -> list[bytes]:
        return [key for key, at in self._positions.items() if at >= self._stored]

    def store(self) -> bool:
        """Bring the file up to the image; False, with `problem` saying why, when it cannot."""
        try:
            fd = self._open() if self._fd is None else self._fd
            self._allocate(fd, len(self._image))
            if self._stored < len(self._image):
                start = max(self._stored, HEADER_BYTES)
                os.pwrite(fd, self._image[start:], start)
                os.pwrite(fd, self._image[:4], 0)  # after its entries: readers parse below it
                self._stored = len(self._image)
            if self._values_behind:
                os.pwrite(fd, self._image[HEADER_BYTES : self._stored], HEADER_BYTES)
                self._values_behind = False
        except OSError as err:
            self._failed(err)
            return False
        if self.problem is not None:
            log.info("multiprocess file stored again", extra={"fields": {"file": self.name}})
            self.problem = None
        self._grow_ahead(fd)
        return True

    def check(self) -> None:
        """Write the file anew when it is no longer what was stored (someone else's doing)."""
        fd = self._fd
        if fd is None or self.pending:
            return
        try:
            info = os.fstat(fd)
            cause = None
            if info.st_nlink == 0:
                cause = "unlinked"
                os.close(fd)
                self._fd = None
            elif info.st_size < self._capacity:
                cause = f"truncated to {info.st_size} bytes"
                self._capacity = 0
            elif os.pread(fd, self._stored, 0) != self._on_file():
                cause = "overwritten"
        except OSError as err:
            self._failed(err)
            return
        if cause is not None:
            self._faults.note(self.name, f"{cause}; written anew from this process's memory")
            self._stored = 0
            self.store()

    def retry(self) -> None:
        if self.pending:
            self.store()
        elif self._fd is not None and self.no_room is not None:
            self._grow_ahead(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _on_file(self) -> bytes:
        """What the file's first `_stored` bytes must be."""
        return encode_used(self._stored) + bytes(self._image[4 : self._stored])

    def _open(self) -> int:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        self._fd, self._capacity, self._stored = fd, 0, 0
        if not self._positions:
            self._adopt(fd)
        return fd

    def _adopt(self, fd: int) -> None:
        """Continue what an exited process with this pid left, as prometheus_client does."""
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        if len(data) < HEADER_BYTES or decode_used(data) <= HEADER_BYTES:
            return
        used = decode_used(data)
        try:
            entries = parse_entries(data, HEADER_BYTES, used)
        except ValueError as err:
            self._faults.note(self.name, f"not prometheus_client's format ({err}); replaced")
            return
        self._image[:] = data[:used]
        self._positions = {key: at for key, at in entries}
        self._stored = used

    def _allocate(self, fd: int, needed: int) -> None:
        if needed <= self._capacity:
            return
        capacity = max(self._capacity, INITIAL_FILE_BYTES)
        while capacity < needed:
            capacity *= 2
        os.posix_fallocate(fd, 0, capacity)
        self._capacity = capacity

    def _grow_ahead(self, fd: int) -> None:
        """Room for as many entries again, while there is space: the next ones need none."""
        if 2 * len(self._image) <= self._capacity:
            self.no_room = None
            return
        try:
            self._allocate(fd, 2 * len(self._image))
        except OSError as err:
            self.no_room = f"cannot grow to {2 * self._capacity} bytes: {_reason(err)}"
        else:
            self.no_room = None

    def _failed(self, err: OSError) -> None:
        if self.problem is None:
            log.warning(
                "multiprocess file not stored: its counts are kept in memory until it can be",
                extra={"fields": {"file": self.name, "error": _reason(err)}},
            )
        self.problem = _reason(err)


def _reason(err: OSError) -> str:
    return err.strerror or str(err)


class ValueWriter:
    """This process's files in the directory, and the value class that writes them."""

    def __init__(self, directory: Path, faults: Faults) -> None:
        self.directory = directory
        self.faults = faults
        self.lock = threading.Lock()  # one for every value of the process, as prometheus_client
        self._pid = os.getpid()
        self._files: dict[str, StoredFile] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def value_class(self) -> type[StoredValue]:
        """A class for impl.upstream.prometheus.install_value_class."""
        return type("StoredValue", (StoredValue,), {"writer": self})

    def file(self, kind: str) -> StoredFile:
        """The file of `kind`; call with `lock` held."""
        if os.getpid() != self._pid:
            # A forked child would write its values into its parent's files.
            raise RuntimeError(f"the value writer of process {self._pid} used by {os.getpid()}")
        stored = self._files.get(kind)
        if stored is None:
            name = file_name(kind, self._pid)
            stored = self._files[kind] = StoredFile(str(self.directory), name, self.faults)
        return stored

    def upkeep(self) -> None:
        """Store what waits, make room ahead, write anew what someone else damaged."""
        with self.lock:
            for stored in self._files.values():
                stored.retry()
                stored.check()

    def problems(self) -> list[str]:
        """Why some of this process's counts are not on file, or soon may not be."""
        with self.lock:
            files = list(self._files.values())
            found = []
            for stored in files:
                if stored.problem is not None:
                    waiting = len(stored.unstored_keys())
                    what = f"{waiting} new series" if waiting else "values"
                    found.append(
                        f"{stored.name}: {what} kept in memory, not stored: {stored.problem}"
                    )
                if stored.no_room is not None:
                    found.append(f"{stored.name}: {stored.no_room}")
            return found

    def unstored_keys(self, kind: str) -> list[bytes]:
        """Keys of `kind` recorded here but not yet on file (the series limit counts them)."""
        with self.lock:
            stored = self._files.get(kind)
            return [] if stored is None else stored.unstored_keys()

    def start_upkeep(self, interval: float = UPKEEP_SECONDS) -> None:
        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.upkeep()
                except Exception:  # the next round tries again; a dead thread would not
                    log.exception("multiprocess upkeep failed")

        self._thread = threading.Thread(target=run, name="multiprocess-upkeep", daemon=True)
        self._thread.start()

    def close(self, wait: float = EXIT_WAIT_SECONDS) -> None:
        """Stop the upkeep, store what waits (trying for up to `wait` seconds: space may
        come back), close the files."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        deadline = time.monotonic() + wait
        while self._store_all() and time.monotonic() < deadline:
            time.sleep(UPKEEP_SECONDS / 4)
        with self.lock:
            lost = {stored.name: len(stored.unstored_keys()) for stored in self._files.values()}
            for stored in self._files.values():
                if stored.pending:
                    log.error(
                        "multiprocess file not stored before exit: its counts are lost",
                        extra={"fields": {"file": stored.name, "series": lost[stored.name]}},
                    )
                stored.close()

    def _store_all(self) -> bool:
        """Store what waits; whether something still does."""
        with self.lock:
            for stored in self._files.values():
                stored.retry()
            return any(stored.pending for stored in self._files.values())


class StoredValue:
    """prometheus_client's value interface (values.py: MutexValue, MmapedValue) over a
    ValueWriter's files. Exemplars are not kept, as in prometheus_client's multiprocess mode."""

    _multiprocess = True
    writer: ClassVar[ValueWriter]

    def __init__(
        self,
        typ: str,
        metric_name: str,
        name: str,
        labelnames: list[str],
        labelvalues: list[str],
        help_text: str,
        multiprocess_mode: str = "",
        **_options: Any,
    ) -> None:
        key = encode_key(metric_name, name, labelnames, labelvalues, help_text)
        with self.writer.lock:
            self._file = self.writer.file(file_kind(typ, multiprocess_mode))
            self._at = self._file.slot(key)
            self._value, self._timestamp = self._file.read(self._at)

    def inc(self, amount: float) -> None:
        with self.writer.lock:
            self._value += amount
            self._timestamp = 0.0
            self._file.write(self._at, self._value, 0.0)

    def set(self, value: float, timestamp: float | None = None) -> None:
        with self.writer.lock:
            self._value = value
            self._timestamp = timestamp or 0.0
            self._file.write(self._at, value, self._timestamp)

    def set_exemplar(self, exemplar: object) -> None:
        return None

    def get(self) -> float:
        with self.writer.lock:
            return self._value

    def get_exemplar(self) -> None:
        return None
