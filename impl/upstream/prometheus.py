"""prometheus_client's private names and formats, for the version pinned in pyproject.toml,
each use grouped under the code that relies on it. tests/upstream/test_prometheus.py
states every assumption against the installed version: an upgrade that breaks one turns
its test red."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import attrgetter, contains, methodcaller
from typing import Any, NamedTuple

from prometheus_client import metrics as client_metrics
from prometheus_client import values
from prometheus_client.metrics import Gauge
from prometheus_client.mmap_dict import mmap_key
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.values import MutexValue

# --- the text encoder (impl/metrics/encoding.py, impl/metrics/kept_text.py) ----------
# It reads Counter, Gauge, Histogram and Summary objects in place instead of collecting
# a Sample per value, and keeps their text between scrapes.


def plain_registry_collectors(registry: Collector) -> list[Collector] | None:
    """The collectors of a CollectorRegistry without target_info, in registration order
    (the order its collect() follows), read under its lock; None for anything else,
    whose families only its own collect() knows."""
    if type(registry) is not CollectorRegistry or registry._target_info:
        return None
    with registry._lock:
        return list(registry._collector_to_names)


class WrapperInfo(NamedTuple):
    """What a metric object's family is called and how it is described."""

    name: str  # without the type's suffix (`x` for a counter serving `x_total`)
    type: str  # "counter", "gauge", "histogram" or "summary"
    documentation: str
    label_names: tuple[str, ...]


def wrapper_info(wrapper: Any) -> WrapperInfo:
    """Read at every scrape: a metric object's name and labels are fixed at creation,
    but nothing stops its documentation being reassigned."""
    return WrapperInfo(
        wrapper._name, wrapper._type, wrapper._documentation, tuple(wrapper._labelnames)
    )


def children(wrapper: Any) -> tuple[list[tuple[str, ...]], list[Any]]:
    """A metric object's children and their label values, both in the order collect()
    writes them (insertion order of its dict), taken together under its lock. A metric
    without labels is its own only child. No object is allocated per child: two lists."""
    if not wrapper._labelnames:
        return [()], [wrapper]
    with wrapper._lock:
        metrics = wrapper._metrics
        return list(metrics), list(metrics.values())


def value_cells(child: Any, kind: str) -> list[Any]:
    """The value objects behind a child's samples, in the order its samples come:
    one for a counter or gauge; count and sum for a summary; every bucket (not yet
    cumulative) and the sum for a histogram. Made once, in the child's constructor:
    neither reset() nor set_function() replaces them, so they can be kept."""
    if kind == "summary":
        return [child._count, child._sum]
    if kind == "histogram":
        return [*child._buckets, child._sum]
    return [child._value]


def cell_reader(cells: Sequence[Any]) -> Callable[[Any], float]:
    """How to read each of `cells`: a MutexValue's number in place, without its lock
    (an attribute read is atomic; the lock only makes inc's read-modify-write one
    step), so that a scrape reads each value at C speed; any other value class (the
    multiprocess files' MmapedValue checks for a fork first) through its get()."""
    if all(type(cell) is MutexValue for cell in cells):
        return _IN_PLACE
    return _LOCKED


_IN_PLACE: Callable[[Any], float] = attrgetter("_value")
_LOCKED: Callable[[Any], float] = methodcaller("get")


def histogram_bounds(wrapper: Any) -> list[float]:
    """A histogram's upper bounds, sorted, +Inf last."""
    return list(wrapper._upper_bounds)


def sampled_by_function(children: Sequence[Any], per_check: int) -> bool:
    """Whether any gauge child has had set_function called: it replaces the child's
    `_child_samples` by an attribute of its own, and only collect() calls the function.
    Checked at every scrape, at C speed, since it can happen at any time; `per_check`
    children at a time, so that another thread may take the GIL in between."""
    for start in range(0, len(children), per_check):
        part = children[start : start + per_check]
        if any(map(contains, map(_INSTANCE_DICT, part), repeat("_child_samples"))):
            return True
    return False


_INSTANCE_DICT = attrgetter("__dict__")  # vars(), at half its cost


def created_samples_enabled() -> bool:
    """Whether metric objects make `_created` samples (PROMETHEUS_DISABLE_CREATED_SERIES,
    disable_created_metrics()): the text format leaves them out, but `name[]` can still
    select a family by them."""
    return bool(client_metrics._use_created)


# ---- Multiprocess backend (impl/metrics/multiprocess/) ----------------------------------
#
# Value classes. Every metric child makes its values by calling
# `prometheus_client.values.ValueClass(typ, metric_name, name, labelnames, labelvalues,
# help_text, multiprocess_mode=...)` when it is created; prometheus_client picks the class
# once, at first import, from PROMETHEUS_MULTIPROC_DIR. The service installs the class of
# each process itself, so that nothing depends on the environment or on import order.


def install_value_class(value_class: type) -> None:
    """Children created from now on in this process make their values with `value_class`."""
    values.ValueClass = value_class


def installed_value_class() -> type:
    value_class: type = values.ValueClass
    return value_class


def in_process_value_class() -> type:
    """prometheus_client's value of one process: a float behind a lock, no file."""
    return values.MutexValue


# Files. values.py names a process's files `<kind>_<pid>.db`, the kind being the metric
# type, or `gauge_<mode>`; mmap_dict.py lays each out as a 4-byte `used` length at offset
# 0 (4 bytes of padding after it), then entries: a 4-byte key length, the UTF-8 JSON key
# (mmap_key), spaces to 8-byte alignment, the value and a timestamp as two doubles.

GAUGE_MODES: frozenset[str] = frozenset(Gauge._MULTIPROC_MODES)
LIVE_GAUGE_PREFIX = "gauge_live"  # the modes whose series die with their process
_FILE_NAME = re.compile(
    r"(counter|histogram|summary|gauge_(?:" + "|".join(sorted(GAUGE_MODES)) + r"))_(\d+)\.db"
)
INITIAL_FILE_BYTES = 1 << 16  # mmap_dict's _INITIAL_MMAP_SIZE: a file's first size
HEADER_BYTES = 8
VALUE_BYTES = 16  # the value and its timestamp
_INT = struct.Struct("i")
_TWO_DOUBLES = struct.Struct("dd")


def file_kind(typ: str, multiprocess_mode: str) -> str:
    return f"gauge_{multiprocess_mode}" if typ == "gauge" else typ


def file_name(kind: str, pid: int) -> str:
    return f"{kind}_{pid}.db"


def parse_file_name(name: str) -> tuple[str, int] | None:
    """(kind, pid) when `name` is one of prometheus_client's files, else None."""
    match = _FILE_NAME.fullmatch(name)
    return (match.group(1), int(match.group(2))) if match else None


def encode_key(
    metric_name: str,
    name: str,
    labelnames: Sequence[str],
    labelvalues: Sequence[str],
    help_text: str,
) -> bytes:
    """A value's key, byte for byte as prometheus_client writes it."""
    return mmap_key(metric_name, name, list(labelnames), list(labelvalues), help_text).encode()


def decode_key(raw: bytes) -> tuple[str, str, dict[str, str], str]:
    """(metric name, sample name, labels, help); ValueError when `raw` is not such a key."""
    decoded: Any = json.loads(raw)  # UnicodeDecodeError and JSONDecodeError are ValueErrors
    if not (isinstance(decoded, list) and len(decoded) == 4):
        raise ValueError("a key is a list of four")
    metric, sample, labels, help_text = decoded
    texts = (metric, sample, help_text, *labels.values()) if isinstance(labels, dict) else ()
    if not texts or not all(isinstance(text, str) for text in texts):
        raise ValueError("a key holds names, labels and help as text")
    return metric, sample, labels, help_text


def encode_entry(key: bytes) -> bytes:
    """One entry as MmapedDict._init_value writes it, its value and timestamp 0.0."""
    padded = key + b" " * (8 - (len(key) + 4) % 8)
    return _INT.pack(len(key)) + padded + _TWO_DOUBLES.pack(0.0, 0.0)


def encode_used(used: int) -> bytes:
    return _INT.pack(used)


def decode_used(data: bytes | bytearray) -> int:
    used: int = _INT.unpack_from(data, 0)[0]
    return used


# A value and its timestamp, as bytes (bound: the hot path of every recorded value).
encode_value: Callable[[float, float], bytes] = _TWO_DOUBLES.pack


def decode_value(data: bytes | bytearray, offset: int) -> tuple[float, float]:
    value, timestamp = _TWO_DOUBLES.unpack_from(data, offset)
    return value, timestamp


# No key of the service's comes near: a metric's name, help and label values, each of a
# bounded set. What claims more is garbage, refused before it is read.
MAX_KEY_BYTES = 1 << 16


def parse_entries(data: bytes, start: int, used: int) -> list[tuple[bytes, int]]:
    """The entries between `start` (an entry's offset) and `used`: each key's bytes and its
    value's offset. ValueError when they do not tile that range exactly."""
    entries, stop = parse_entries_within(data, start, used)
    if stop != used:
        raise ValueError(f"entry at {stop} runs past {len(data)}")
    return entries


def parse_entries_within(
    data: bytes | bytearray, start: int, used: int
) -> tuple[list[tuple[bytes, int]], int]:
    """The whole entries from `start` that `data` holds, of a file that uses `used`
    bytes, and where the first one it does not hold begins. ValueError for an entry that
    could not be in such a file (runs past `used`), so a reader given the file in pieces
    refuses garbage at its first piece."""
    entries = []
    pos = start
    end = min(used, len(data))
    while pos < used:
        if pos + 4 > used:
            raise ValueError(f"entry at {pos} runs past {used}")
        if pos + 4 > end:
            break
        length = _INT.unpack_from(data, pos)[0]
        key_start = pos + 4
        value_at = key_start + length + (8 - (length + 4) % 8)
        if length <= 0 or value_at + VALUE_BYTES > used:
            raise ValueError(f"entry at {pos} runs past {used}")
        if length > MAX_KEY_BYTES:
            raise ValueError(f"entry at {pos} has a key of {length} bytes")
        if value_at + VALUE_BYTES > end:
            break
        entries.append((bytes(data[key_start : key_start + length]), value_at))
        pos = value_at + VALUE_BYTES
    return entries, pos
