"""Scrape and write: points into an InfluxDB, batched, retried, buffered, never twice."""

from __future__ import annotations

import itertools
import logging
import math
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from impl.client.api import SysinfoClient
from impl.client.cli import main
from impl.client.lineprotocol import Version, to_line_protocol
from impl.client.write import Destination, PointWriter, retry_after_seconds, run_writer
from tests.support.databases import InfluxDB1, StoredPoint, VictoriaMetrics
from tests.support.lp_parser import parse_line
from tests.support.write_peer import Answer, WritePeer
from tools.live import LiveServer


@pytest.fixture
def peer() -> Iterator[WritePeer]:
    with WritePeer().serving() as serving:
        yield serving


def lines(count: int, prefix: str = "m") -> list[str]:
    return [f"{prefix},n={i} value={i} {1_700_000_000_000_000_000 + i}" for i in range(count)]


class FakeClock:
    """A clock the writer reads and its waits advance: delays observed exactly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


def test_v2_writes_batches_in_order_gzipped_with_the_token(peer: WritePeer) -> None:
    destination = Destination.v2(peer.url, org="my org", bucket="b/1", token="s3cret")
    writer = PointWriter(destination, batch_lines=5, buffer_lines=100)
    writer.add(lines(12))
    assert writer.flush(until=time.monotonic() + 30)
    assert [len(r.lines) for r in peer.received] == [5, 5, 2]
    first = peer.received[0]
    assert first.path == "/api/v2/write"
    assert first.query == {"org": ["my org"], "bucket": ["b/1"], "precision": ["ns"]}
    assert first.headers["content-encoding"] == "gzip"
    assert first.headers["authorization"] == "Token s3cret"
    assert first.headers["content-type"] == "text/plain; charset=utf-8"
    assert peer.written_lines() == lines(12)
    assert (writer.stats.written, writer.stats.dropped, writer.buffered) == (12, 0, 0)


def test_v1_writes_to_the_database_and_retention_policy(peer: WritePeer) -> None:
    destination = Destination.v1(peer.url, database="telegraf", retention_policy="week", token=None)
    writer = PointWriter(destination, compress=False)
    writer.add(lines(3))
    assert writer.flush(until=time.monotonic() + 30)
    (request,) = peer.received
    assert request.path == "/write"
    assert request.query == {"db": ["telegraf"], "precision": ["ns"], "rp": ["week"]}
    assert "content-encoding" not in request.headers and "authorization" not in request.headers
    assert request.lines == lines(3)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_honoured(peer: WritePeer, status: int) -> None:
    peer.script.append(Answer(status, {"Retry-After": "120"}))
    clock = FakeClock()
    writer = PointWriter(Destination.v2(peer.url, org="o", bucket="b"), clock=clock)
    writer.add(lines(4))
    assert not writer.flush(until=clock() + 60, wait=clock.wait)  # not due before then
    assert len(peer.received) == 1 and writer.buffered == 4
    assert writer.retry_in() == 120
    assert writer.flush(until=clock() + 600, wait=clock.wait)
    assert clock.waits == [120]
    assert peer.written_lines() == lines(4)


def test_retry_after_as_an_http_date_is_honoured() -> None:
    now = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=45), usegmt=True)
    assert retry_after_seconds(later, now.timestamp()) == 45
    assert retry_after_seconds("  7 ", 0) == 7
    assert retry_after_seconds("999999", 0) == 300  # capped
    assert retry_after_seconds("soon", 0) is None
    assert retry_after_seconds(None, 0) is None


def test_failures_back_off_doubling_up_to_the_maximum(peer: WritePeer) -> None:
    peer.script.extend(Answer(500) for _ in range(6))
    clock = FakeClock()
    writer = PointWriter(
        Destination.v2(peer.url, org="o", bucket="b"), first_delay=1, max_delay=8, clock=clock
    )
    writer.add(lines(2))
    assert writer.flush(until=clock() + 3600, wait=clock.wait)
    assert len(clock.waits) == 6
    for wait, ceiling in zip(clock.waits, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling / 2 <= wait <= ceiling  # jittered down to half, never above
    assert peer.written_lines() == lines(2)


def test_a_refused_batch_is_counted_said_and_not_retried(
    peer: WritePeer, caplog: pytest.LogCaptureFixture
) -> None:
    refusal = b'{"error":"partial write: field type conflict"}'
    peer.script.append(Answer(400, {"Content-Type": "application/json"}, refusal))
    writer = PointWriter(Destination.v1(peer.url, database="d", token=None), batch_lines=3)
    writer.add(lines(5))
    with caplog.at_level(logging.ERROR, logger="impl.client.write"):
        assert writer.flush(until=time.monotonic() + 30)
    assert [r.answered for r in peer.received] == [400, 204]
    assert (writer.stats.written, writer.stats.rejected) == (2, 3)
    assert "3 points not written: 400 partial write: field type conflict" in caplog.text


def test_past_the_buffer_the_oldest_points_are_dropped_counted_and_said(
    peer: WritePeer, caplog: pytest.LogCaptureFixture
) -> None:
    writer = PointWriter(
        Destination.v2(peer.url, org="o", bucket="b"), buffer_lines=10, batch_lines=4
    )
    with caplog.at_level(logging.WARNING, logger="impl.client.write"):
        writer.add(lines(6))
        writer.add(lines(19, prefix="later"))
    assert (writer.stats.dropped, writer.buffered) == (15, 10)
    assert "15 oldest points dropped" in caplog.text
    assert writer.flush(until=time.monotonic() + 30)
    assert peer.written_lines() == lines(19, prefix="later")[-10:]


def test_an_acknowledged_point_is_never_sent_again(peer: WritePeer) -> None:
    pattern = itertools.cycle([Answer(503), Answer(204), Answer(500), Answer(502), Answer(204)])
    peer.script.extend(next(pattern) for _ in range(60))
    clock = FakeClock()
    writer = PointWriter(Destination.v2(peer.url, org="o", bucket="b"), batch_lines=7, clock=clock)
    writer.add(lines(100))
    assert writer.flush(until=clock() + 10_000, wait=clock.wait)
    assert peer.written_lines() == lines(100)  # in order, each once
    assert writer.stats.written == 100


def test_an_unreachable_destination_keeps_the_points_for_a_retry() -> None:
    writer = PointWriter(
        Destination.v2("http://127.0.0.1:9", org="o", bucket="b"), batch_lines=10, buffer_lines=50
    )
    writer.add(lines(5))
    assert not writer.flush(until=time.monotonic() + 0.5)
    assert writer.buffered == 5 and writer.stats.settled == 0 and writer.retry_in() > 0


def test_run_writer_scrapes_every_interval_and_writes_everything(peer: WritePeer) -> None:
    stop = threading.Event()
    produced: list[str] = []

    def scrape() -> list[str]:
        batch = lines(3, prefix=f"scrape{len(produced) // 3}")
        produced.extend(batch)
        if len(produced) >= 15:
            stop.set()
        return batch

    writer = PointWriter(Destination.v2(peer.url, org="o", bucket="b"))
    run_writer(scrape, writer, every=0.05, stop=stop, flush_timeout=10)
    assert peer.written_lines() == produced and len(produced) == 15


def test_a_failing_scrape_is_said_and_skipped(
    peer: WritePeer, caplog: pytest.LogCaptureFixture
) -> None:
    stop = threading.Event()
    calls = itertools.count()

    def scrape() -> list[str]:
        call = next(calls)
        if call == 3:
            stop.set()
        if call == 1:
            raise ValueError("not an exposition")
        return lines(2, prefix=f"s{call}")

    writer = PointWriter(Destination.v2(peer.url, org="o", bucket="b"))
    with caplog.at_level(logging.WARNING, logger="impl.client.write"):
        run_writer(scrape, writer, every=0.02, stop=stop, flush_timeout=10)
    assert "scrape failed: not an exposition" in caplog.text
    assert len(peer.written_lines()) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--write", "http://127.0.0.1:1"], "--write needs --bucket and --org"),
        (["--write", "http://127.0.0.1:1", "--bucket", "b"], "--bucket needs --org"),
        (["--write", "http://x", "--db", "d", "--bucket", "b", "--org", "o"], "exclude each other"),
        (["--write", "http://x", "--db", "d", "--format", "text"], "--format lp1 or lp2"),
        (["--write", "http://x", "--db", "d", "--batch-size", "9", "--buffer-size", "3"], "batch"),
    ],
)
def test_write_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scrape", "http://127.0.0.1:1", *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("every", ["0", "1x", "-1s", "s"])
def test_a_bad_interval_is_a_usage_error(every: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["scrape", "http://127.0.0.1:1", "--write", "http://x", "--db", "d", "--every", every])
    assert exit_info.value.code == 2
    assert "--every" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_writes_what_is_buffered_then_exits_0(
    fresh_server: LiveServer, tmp_path: Path
) -> None:
    # The destination refuses for a while: points pile up, then SIGTERM must flush them.
    with WritePeer().serving() as peer:
        peer.script.extend(Answer(503, {"Retry-After": "1"}) for _ in range(2))
        command = [
            sys.executable, "-m", "impl.client.cli", "scrape", fresh_server.url,
            "--write", peer.url, "--org", "o", "--bucket", "b", "--every", "0.2",
        ]  # fmt: skip
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while len(peer.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    summary = stderr.strip().splitlines()[-1]
    written = len(peer.written_lines())
    assert f"points written {written}, dropped 0, rejected 0, unsent 0" in summary
    assert written > 0 and "retrying in" in stderr


def scrape_recording(
    server: LiveServer, version: Version, produced: list[str]
) -> Callable[[], list[str]]:
    """A scrape of the live service as the CLI makes it, keeping every line it returns."""

    def scrape() -> list[str]:
        with SysinfoClient(server.url) as client:
            families = client.scrape().families()
        text = to_line_protocol(
            families, version, timestamp_ns=time.time_ns(), url=server.url + "/metrics"
        )
        produced.extend(text.splitlines())
        return text.splitlines()

    return scrape


def as_points(produced: list[str]) -> set[StoredPoint]:
    points = set()
    for line in produced:
        parsed = parse_line(line)
        fields = tuple(sorted((k, float(v)) for k, v in parsed.fields.items()))
        points.add(
            (parsed.measurement, tuple(sorted(parsed.tags.items())), parsed.timestamp_ns, fields)
        )
    return points


@pytest.mark.slow
def test_points_read_back_from_influxdb_1_are_the_scraped_ones(
    fresh_server: LiveServer, tmp_path: Path
) -> None:
    with InfluxDB1(tmp_path / "influxdb") as database:
        database.create_database("sysinfo")
        produced: list[str] = []
        writer = PointWriter(Destination.v1(database.url, database="sysinfo", token=None))
        stop = threading.Event()
        scrape = scrape_recording(fresh_server, 1, produced)
        scrapes = itertools.count(1)

        def three_scrapes() -> list[str]:
            if next(scrapes) == 3:
                stop.set()
            return scrape()

        run_writer(three_scrapes, writer, every=0.2, stop=stop, flush_timeout=10)
        stored = database.points("sysinfo")
    assert writer.stats.written == len(produced) > 0
    assert len(stored) == len(set(stored)) == len(produced)
    assert set(stored) == as_points(produced)


@pytest.mark.slow
def test_samples_read_back_from_victoria_metrics_are_the_scraped_ones(
    fresh_server: LiveServer, tmp_path: Path
) -> None:
    with VictoriaMetrics(tmp_path / "vm") as database:
        produced: list[str] = []
        writer = PointWriter(Destination.v2(database.url, org="o", bucket="sysinfo"))
        run_writer(
            scrape_recording(fresh_server, 2, produced),
            writer,
            every=None,
            stop=threading.Event(),
            flush_timeout=10,
        )
        stored = database.samples()
    stored_values = {sample[:3]: sample[3] for sample in stored}
    assert len(stored_values) == len(stored)  # nothing twice
    expected = {
        key: value for point in vm_samples(as_points(produced)) for key, value in point.items()
    }
    assert stored_values.keys() == expected.keys()
    for key, value in expected.items():
        assert math.isclose(stored_values[key], value, rel_tol=VM_PRECISION), key


# VictoriaMetrics keeps about 12 significant digits of a float64.
VM_PRECISION = 1e-11
SampleKey = tuple[str, tuple[tuple[str, str], ...], int]


def vm_samples(points: set[StoredPoint]) -> list[dict[SampleKey, float]]:
    """What VictoriaMetrics stores of each point: a sample per field, named
    measurement_field, its time in milliseconds."""
    return [
        {(f"{measurement}_{key}", tags, time_ns // 1_000_000): value for key, value in fields}
        for measurement, tags, time_ns, fields in points
    ]


def _wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["influxdb-1-killed", "victoria-metrics-stopped"])
def test_a_destination_restarted_midway_loses_only_what_the_buffer_dropped(
    fresh_server: LiveServer, tmp_path: Path, kind: str
) -> None:
    produced: list[str] = []
    stop = threading.Event()
    influx = kind.startswith("influxdb")
    database: InfluxDB1 | VictoriaMetrics
    database = (
        InfluxDB1(tmp_path / "db").start() if influx else VictoriaMetrics(tmp_path / "db").start()
    )
    if isinstance(database, InfluxDB1):
        database.create_database("sysinfo")
        destination = Destination.v1(database.url, database="sysinfo", token=None)
    else:
        destination = Destination.v2(database.url, org="o", bucket="sysinfo")
    scrape = scrape_recording(fresh_server, 1 if influx else 2, produced)
    per_scrape = len(scrape())  # the size of one scrape, to size the buffer by
    produced.clear()
    writer = PointWriter(
        destination,
        batch_lines=per_scrape,
        buffer_lines=4 * per_scrape,
        first_delay=0.1,
        max_delay=0.5,
    )
    loop = threading.Thread(
        target=run_writer,
        args=(scrape, writer),
        kwargs={"every": 0.1, "stop": stop, "flush_timeout": 20},
    )
    loop.start()
    try:
        _wait_for(lambda: writer.stats.written >= 3 * per_scrape)
        database.stop(signal.SIGKILL if influx else signal.SIGTERM)
        _wait_for(lambda: writer.stats.dropped >= 2 * per_scrape)  # the outage outlasted the buffer
        database = database.restarted()
        written_before = writer.stats.written
        _wait_for(lambda: writer.stats.written >= written_before + 8 * per_scrape)
    finally:
        stop.set()
        loop.join(60)
    try:
        stats = writer.stats
        assert stats.dropped > 0 and stats.rejected == 0 and writer.buffered == 0
        assert stats.written + stats.dropped == len(produced)
        if isinstance(database, InfluxDB1):
            stored = database.points("sysinfo")
            assert len(stored) == len(set(stored)) == stats.written  # nothing twice
            assert set(stored) <= as_points(produced)
        else:
            samples = database.samples()
            stored_values = {sample[:3]: sample[3] for sample in samples}
            assert len(stored_values) == len(samples)  # nothing twice
            written = 0
            for point in vm_samples(as_points(produced)):
                present = point.keys() & stored_values.keys()
                assert present in (set(), point.keys())  # a point is stored whole or not
                for key in present:
                    assert math.isclose(stored_values.pop(key), point[key], rel_tol=VM_PRECISION)
                written += bool(present)
            assert not stored_values  # nothing that was not produced
            assert written == stats.written
    finally:
        database.stop()


def test_gzip_bodies_are_what_the_destination_reads(peer: WritePeer) -> None:
    writer = PointWriter(Destination.v2(peer.url, org="o", bucket="b"))
    writer.add(["unicode,t=é value=1 1"])
    assert writer.flush(until=time.monotonic() + 30)
    assert peer.written_lines() == ["unicode,t=é value=1 1"]
    assert peer.received[0].headers["content-encoding"] == "gzip"
