"""The assumptions impl/upstream/prometheus.py makes about prometheus_client, one test each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, values
from prometheus_client.multiprocess import mark_process_dead

from impl.upstream import prometheus as upstream
from tests.support.mpfiles import writing_as

# ---- Multiprocess backend -------------------------------------------------------------


@pytest.fixture
def restored_value_class() -> Iterator[None]:
    saved = upstream.installed_value_class()
    yield
    upstream.install_value_class(saved)


class Recording:
    """A value class that records how prometheus_client calls it."""

    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Recording.calls.append((args, kwargs))
        self.value = 0.0

    def inc(self, amount: float) -> None:
        self.value += amount

    def set(self, value: float, timestamp: float | None = None) -> None:
        self.value = value

    def get(self) -> float:
        return self.value

    def set_exemplar(self, exemplar: object) -> None:
        pass

    def get_exemplar(self) -> None:
        return None


def test_children_make_their_values_with_the_installed_class(restored_value_class: None) -> None:
    """values.ValueClass is read when each child is created, with these arguments."""
    Recording.calls = []
    upstream.install_value_class(Recording)
    assert upstream.installed_value_class() is Recording
    Counter("c", "help c", ["a"], registry=None).labels("x").inc(2)
    Gauge("g", "help g", multiprocess_mode="max", registry=None).set(3)
    assert Recording.calls == [
        (("counter", "c", "c_total", ("a",), ("x",), "help c"), {}),
        (("gauge", "g", "g", (), (), "help g"), {"multiprocess_mode": "max"}),
    ]
    histogram = Histogram("h", "help h", buckets=(1.0,), registry=None)
    summary = Summary("s", "help s", registry=None)
    names = [args[2] for args, _ in Recording.calls[2:]]
    assert names == ["h_sum", "h_bucket", "h_bucket", "s_count", "s_sum"]
    histogram.observe(0.5)
    summary.observe(2.0)


def test_the_in_process_class_writes_no_file(
    restored_value_class: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    upstream.install_value_class(upstream.in_process_value_class())
    registry = CollectorRegistry()
    Counter("c", "h", registry=registry).inc(5)
    assert registry.get_sample_value("c_total") == 5.0
    assert list(tmp_path.iterdir()) == []
    assert upstream.in_process_value_class() is values.MutexValue


def test_file_names_are_kind_and_pid(tmp_path: Path) -> None:
    with writing_as(tmp_path, 4242):
        Counter("c", "h", registry=None).inc()
        Histogram("h", "h", registry=None).observe(1)
        Summary("s", "h", registry=None).observe(1)
        for mode in sorted(upstream.GAUGE_MODES):
            Gauge(f"g_{mode}", "h", multiprocess_mode=mode, registry=None).set(1)  # type: ignore[arg-type]
    expected = {upstream.file_kind(t, "") for t in ("counter", "histogram", "summary")}
    expected |= {upstream.file_kind("gauge", mode) for mode in upstream.GAUGE_MODES}
    names = {path.name for path in tmp_path.iterdir()}
    assert names == {upstream.file_name(kind, 4242) for kind in expected}
    assert {upstream.parse_file_name(name) for name in names} == {(k, 4242) for k in expected}
    assert upstream.parse_file_name("counter_12.db.tmp") is None
    assert upstream.parse_file_name("gauge_unknownmode_1.db") is None


def test_live_gauge_files_are_the_ones_mark_process_dead_removes(tmp_path: Path) -> None:
    with writing_as(tmp_path, 77):
        for mode in sorted(upstream.GAUGE_MODES):
            Gauge(f"g_{mode}", "h", multiprocess_mode=mode, registry=None).set(1)  # type: ignore[arg-type]
    before = {path.name for path in tmp_path.iterdir()}
    mark_process_dead(77, str(tmp_path))  # type: ignore[no-untyped-call]
    removed = before - {path.name for path in tmp_path.iterdir()}
    assert removed == {name for name in before if name.startswith(upstream.LIVE_GAUGE_PREFIX)}
    assert removed


def test_the_file_format_is_prometheus_clients(tmp_path: Path) -> None:
    """Header, entries, keys and values as MmapedDict writes them; a new file's size."""
    with writing_as(tmp_path, 5):
        counter = Counter("requests", "help \u00e9", ["path", "code"], registry=None)
        counter.labels("/ping", "204").inc(3)
        counter.labels("/metrics", "200").inc(0.25)
    [path] = tmp_path.iterdir()
    data = path.read_bytes()
    assert len(data) == upstream.INITIAL_FILE_BYTES
    used = upstream.decode_used(data)
    assert data[: upstream.HEADER_BYTES] == upstream.encode_used(used) + bytes(4)
    entries = upstream.parse_entries(data, upstream.HEADER_BYTES, used)
    keys = [
        upstream.encode_key("requests", "requests_total", ["path", "code"], labels, "help \u00e9")
        for labels in (["/ping", "204"], ["/metrics", "200"])
    ]
    assert [key for key, _ in entries] == keys
    assert [upstream.decode_value(data, at) for _, at in entries] == [(3.0, 0.0), (0.25, 0.0)]
    layout = b"".join(upstream.encode_entry(key) for key in keys)
    assert len(layout) == used - upstream.HEADER_BYTES
    first_value_at = entries[0][1]
    assert data[upstream.HEADER_BYTES : first_value_at] == layout[: first_value_at - 8]
    assert upstream.decode_key(keys[0]) == (
        "requests",
        "requests_total",
        {"path": "/ping", "code": "204"},
        "help \u00e9",
    )


@pytest.mark.parametrize(
    "raw",
    [b"", b"\xff", b"[]", b'["a", "b", {}, 3]', b'["a", "b", {"x": 1}, "h"]', b'{"a": 1}'],
)
def test_decode_key_refuses_what_is_not_a_key(raw: bytes) -> None:
    with pytest.raises(ValueError):
        upstream.decode_key(raw)


def test_parse_entries_refuses_entries_that_do_not_tile() -> None:
    entry = upstream.encode_entry(b'["m", "m", {}, "h"]')
    data = upstream.encode_used(8 + len(entry)) + bytes(4) + entry
    assert len(upstream.parse_entries(data, 8, 8 + len(entry))) == 1
    for used in (8 + len(entry) - 8, 8 + len(entry) + 8, 12):
        with pytest.raises(ValueError):
            upstream.parse_entries(data + bytes(16), 8, used)
