"""One prometheus_client multiprocess file, read in place: keys once, values each time.

The format (prometheus_client/mmap_dict.py): a 4-byte `used` length at offset 0, then
entries: a 4-byte key length, the UTF-8 JSON key padded to 8-byte alignment, and two
doubles, the value and a timestamp. The writer only appends entries and overwrites values
in place, so an entry's key and position never change: a reader decodes each key once,
then reads only values from a shared read-only mapping, through a memoryview of doubles
(one C call for a whole file).

What a concurrent reader can see, and why it is enough:

- `used` is written after the entry it covers (MmapedDict._init_value); the reader reads
  `used` first and parses only below it. Stores become visible in program order on
  x86-64 (TSO); prometheus_client's own reader relies on the same.
- A value is an 8-byte double at an 8-byte-aligned offset: it never straddles a cache
  line and is written (in one slice assignment, see mmap_dict.py) and read in one
  access, so a read sees the old or the new value, never a mix.
- The writer grows a full file (ftruncate to twice the size) before appending past the
  end, so `used` never exceeds the file's size; when it exceeds what this reader mapped,
  the reader maps the file again at its current size. Offsets stay valid.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

_INT = struct.Struct("i")
_HEADER_BYTES = 8
_DOUBLE = 8


class CorruptFile(OSError):
    """Not prometheus_client's format (an OSError: the series limit handles those)."""


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
        metric, sample, labels, help_text = json.loads(raw)
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


class MappedFile:
    """A multiprocess file held open (which pins its inode), parsed incrementally."""

    def __init__(self, name: str, fd: int, inode: int, keys: KeyCache) -> None:
        self.name = name
        self.kind, _, pid = name.rpartition("_")
        self.pid = pid.removesuffix(".db")
        self.inode = inode
        self._fd = fd
        self._cache = keys
        self._map: mmap.mmap | None = None
        self._view: memoryview[float] | None = None
        self._parsed_to = _HEADER_BYTES
        self.keys: list[Key] = []
        self._slots: list[int] = []  # index of each key's value among the file's doubles
        self._values = _getter([])
        self._stamps = _getter([])

    @classmethod
    def open(cls, directory: str, name: str, inode: int, keys: KeyCache) -> MappedFile | None:
        """The file `name` if it is still the one listed with `inode`, else None."""
        try:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None  # unlinked since it was listed
        if os.fstat(fd).st_ino != inode:
            os.close(fd)
            return None  # replaced since it was listed
        return cls(name, fd, inode, keys)

    def refresh(self) -> bool:
        """Decode the entries appended since the last call; True when there were any."""
        data = self._map
        if data is None:
            size = os.fstat(self._fd).st_size
            if size < _HEADER_BYTES:
                return False  # created, not yet sized by its writer
            data = self._remap(size)
        used: int = _INT.unpack_from(data, 0)[0]
        if used <= self._parsed_to:
            return False
        if used > len(data):  # grown by its writer since it was mapped
            data = self._remap(os.fstat(self._fd).st_size)
            if used > len(data):
                raise CorruptFile(f"{self.name}: uses {used} bytes of {len(data)}")
        pos = self._parsed_to
        while pos < used:
            length = _INT.unpack_from(data, pos)[0]
            start = pos + 4
            if length <= 0 or start + length > used:
                raise CorruptFile(f"{self.name}: entry at {pos} runs past {used}")
            pos = start + length + (_DOUBLE - (length + 4) % _DOUBLE)
            self.keys.append(self._cache[data[start : start + length]])
            self._slots.append(pos // _DOUBLE)
            pos += 2 * _DOUBLE
        self._parsed_to = pos
        self._values = _getter(self._slots)
        self._stamps = _getter([slot + 1 for slot in self._slots])
        return True

    def values(self) -> tuple[float, ...]:
        """Every decoded key's current value, in file order."""
        return self._values(self._view)

    def timestamps(self) -> tuple[float, ...]:
        return self._stamps(self._view)

    def _remap(self, size: int) -> mmap.mmap:
        self._release()
        self._map = mmap.mmap(self._fd, size, access=mmap.ACCESS_READ)
        self._view = memoryview(self._map)[: size - size % _DOUBLE].cast("d")
        return self._map

    def _release(self) -> None:
        if self._view is not None:
            self._view.release()
            self._view = None
        if self._map is not None:
            self._map.close()
            self._map = None

    def close(self) -> None:
        self._release()
        os.close(self._fd)
