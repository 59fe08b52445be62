"""One multiprocess file, read with pread: keys decoded once, values read at each scrape.

The format is prometheus_client's (impl/upstream/prometheus.py). Its writers, this
service's (writer.py) and prometheus_client's own, only append entries and overwrite
values in place, so an entry's key and position never change: a reader decodes each key
once, then per scrape copies the file's first bytes with one pread and takes the values
from that copy through a memoryview of doubles. A copy equal to the last one keeps the
values taken from it, so that a scrape spends nothing on the files that did not change
(most of them, most of the time); `fingerprint` tells which values did change.

Why pread and not a shared mapping: a read(2) that begins after a write(2) has returned
sees what it wrote, on every architecture (POSIX; the kernel orders the two), where loads
from a mapping rely on the processor's store order (x86-64's, not arm64's). A writer
appends an entry, then, in a second call, raises `used`: a reader that finds `used`
beyond what it parsed reads the file again before parsing, so it never parses an entry
older than the `used` it saw. And a truncated file gives a short read, where touching a
mapping past its end would kill the process with SIGBUS, as would a read of a hole on a
full tmpfs.

A file that is not what its writer wrote (shorter than its entries, `used` shrunk or
out of range, entries that do not parse) raises DamagedFile, with the cause.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

from impl.metrics.multiprocess.directory import open_for_reading
from impl.upstream.prometheus import (
    HEADER_BYTES,
    decode_key,
    decode_used,
    parse_entries_within,
    parse_file_name,
)

_DOUBLE = 8
# What one pread copies when nothing new is expected: a page, or the parsed entries.
_FIRST_READ_BYTES = 4096


class DamagedFile(OSError):
    """A file is not in prometheus_client's format, or was cut short. An OSError: the
    series limit handles those."""

    def __init__(self, file: str, cause: str) -> None:
        super().__init__(f"{file}: {cause}")
        self.file = file
        self.cause = cause


Labels = tuple[tuple[str, str], ...]


class Key(NamedTuple):
    """A decoded key: what MultiProcessCollector derives from it."""

    metric: str  # the family's name
    sample: str  # the sample's name (`x_total`, `x_bucket`, ...)
    labels: Labels  # sorted by label name, `le` included
    help: str
    without_le: Labels  # the labels but `le`
    bound: float | None  # `le` as a number, when there is one (a histogram's bucket)


def make_key(metric: str, sample: str, labels: Labels, help_text: str) -> Key:
    without = tuple(pair for pair in labels if pair[0] != "le")
    le = next((value for name, value in labels if name == "le"), None)
    return Key(metric, sample, labels, help_text, without, None if le is None else float(le))


class KeyCache(dict[bytes, Key]):
    """Decoded keys by their bytes: every worker writes the same keys, decoded once."""

    def __missing__(self, raw: bytes) -> Key:
        metric, sample, labels, help_text = decode_key(raw)
        key = self[raw] = make_key(metric, sample, tuple(sorted(labels.items())), help_text)
        return key


class SourceKeys(NamedTuple):
    """A source of a plan (merge.py): a file, or archived values grouped as one file."""

    kind: str  # counter, histogram, summary, gauge_<mode>
    pid: str
    keys: Sequence[Key]


def _getter(indices: list[int]) -> Callable[[Any], tuple[float, ...]]:
    """The doubles at `indices`, as a tuple (itemgetter: a bare item for one, fails for none)."""
    if not indices:
        return lambda _view: ()
    if len(indices) == 1:
        only = indices[0]
        return lambda view: (view[only],)
    return itemgetter(*indices)


class HeldFile:
    """A multiprocess file held open (which pins its inode), parsed incrementally."""

    def __init__(self, name: str, fd: int, inode: int, keys: KeyCache) -> None:
        parsed = parse_file_name(name)
        if parsed is None:
            raise ValueError(f"{name} is not a multiprocess file")
        self.name = name
        self.kind, pid = parsed
        self.pid = str(pid)
        self.inode = inode
        self._fd = fd
        self._cache = keys
        self._parsed_to = HEADER_BYTES
        self._copy = b""  # the file's first `_parsed_to` bytes as last read
        self._view: memoryview[float] = memoryview(b"").cast("d")
        self._bits: memoryview[int] = memoryview(b"").cast("Q")  # the same, as integers
        self.keys: list[Key] = []
        self._slots: list[int] = []  # index of each key's value among the file's doubles
        self._values = _getter([])
        self._stamps = _getter([])
        # Taken from `_copy` when first asked for, until a refresh finds other bytes.
        self._taken: dict[str, tuple[Any, ...]] = {}

    @classmethod
    def open(cls, directory: str, name: str, inode: int, keys: KeyCache) -> HeldFile | None:
        """The file `name` if it is still the one listed with `inode`, else None."""
        try:
            fd = open_for_reading(os.path.join(directory, name))
        except FileNotFoundError:
            return None  # unlinked since it was listed
        if os.fstat(fd).st_ino != inode:
            os.close(fd)
            return None  # replaced since it was listed
        return cls(name, fd, inode, keys)

    def refresh(self) -> bool:
        """Read the file's current values, and decode the entries appended since the last
        call; True when there were any. DamagedFile when the file is not as written."""
        data = os.pread(self._fd, max(self._parsed_to, _FIRST_READ_BYTES), 0)
        if len(data) < HEADER_BYTES:
            if self._parsed_to > HEADER_BYTES:
                raise DamagedFile(self.name, f"truncated to {len(data)} bytes")
            return False  # created, not yet written by its writer
        used = decode_used(data)
        if used == 0 and self._parsed_to == HEADER_BYTES:
            return False  # sized, its header not yet written
        if used < self._parsed_to or used % _DOUBLE:
            raise DamagedFile(self.name, f"its length field reads {used}")
        grew = used > self._parsed_to
        if grew:
            size = os.fstat(self._fd).st_size
            if used > size:
                raise DamagedFile(self.name, f"uses {used} bytes of {size}")
            data = self._read_new_entries(used)
        if len(data) < self._parsed_to or len(data) < used:
            raise DamagedFile(self.name, f"truncated to {len(data)} bytes")
        copy = data[: self._parsed_to]  # the whole of `data` (no copy) past its first page
        if copy != self._copy:  # one memcmp: the keys never change, so only values can
            self._copy, self._taken = copy, {}
            self._view = memoryview(copy).cast("d")
            self._bits = memoryview(copy).cast("Q")
        return grew

    def _read_new_entries(self, used: int) -> bytes:
        """The file's first `used` bytes, read again now that `used` was seen (the entries
        below it are all written), decoding the entries past those parsed on the way.
        Read in pieces that double, each parsed before the next is read: a file whose
        length field claims gigabytes of garbage (a sparse file costs nothing to make)
        is refused at its first piece, not read whole at every scrape."""
        piece = _FIRST_READ_BYTES
        data = bytearray(os.pread(self._fd, min(used, max(self._parsed_to, piece)), 0))
        at, entries = self._parsed_to, []
        while True:
            try:
                found, at = parse_entries_within(data, at, used)
            except ValueError as err:
                raise DamagedFile(self.name, f"not prometheus_client's format ({err})") from None
            entries.extend(found)
            if at >= used:
                break
            piece *= 2
            more = os.pread(self._fd, min(piece, used - len(data)), len(data))
            if not more:
                raise DamagedFile(self.name, f"truncated to {len(data)} bytes")
            data += more
        self._parse(entries, used)
        return bytes(data)

    def _parse(self, entries: list[tuple[bytes, int]], used: int) -> None:
        try:
            keys = [self._cache[raw] for raw, _ in entries]
        except ValueError as err:  # UnicodeDecodeError and JSONDecodeError among them
            raise DamagedFile(self.name, f"not prometheus_client's format ({err})") from None
        self.keys.extend(keys)
        self._slots.extend(at // _DOUBLE for _, at in entries)
        self._parsed_to = used
        self._values = _getter(self._slots)
        self._stamps = _getter([slot + 1 for slot in self._slots])

    def values(self) -> tuple[float, ...]:
        """Every decoded key's value as of the last refresh, in file order: the same
        object while the file's bytes stay the same."""
        return self._take("values", lambda: self._values(self._view))

    def timestamps(self) -> tuple[float, ...]:
        return self._take("stamps", lambda: self._stamps(self._view))

    def fingerprint(self, with_stamps: bool) -> tuple[object, ...]:
        """Per decoded key, in file order, what its merged text depends on, compared
        exactly: the value's bits (0.0 and -0.0 differ, and are written differently; a
        NaN equals itself), and its timestamp's `with_stamps`: for a plan with
        `mostrecent` gauges, whose families weigh the timestamps of every file that holds
        them, whatever its mode (a family takes the mode of the file read last, merge.py;
        prometheus_client's writers stamp only `mostrecent` values, but nothing in the
        format says so). The same object while the file's bytes stay the same."""
        if with_stamps:
            return self._take(
                "bits and stamps",
                lambda: tuple(zip(self._values(self._bits), self._stamps(self._bits), strict=True)),
            )
        return self._take("bits", lambda: self._values(self._bits))

    def _take(self, what: str, take: Callable[[], tuple[Any, ...]]) -> tuple[Any, ...]:
        taken = self._taken.get(what)
        if taken is None:
            taken = self._taken[what] = take()
        return taken

    def close(self) -> None:
        self._view.release()
        self._bits.release()
        os.close(self._fd)
