"""--workers N: gunicorn with uvicorn workers, whose metrics add up exactly in any scrape."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import h11
import pytest
import requests

from impl.client.rawhttp import RawClient
from impl.metrics.http_metrics import LABELS
from impl.metrics.multiprocess.directory import ARCHIVE_NAME
from impl.server.config import load_config
from tests.conftest import StartServer
from tests.support.scaleout import (
    COUNTED_AGENT,
    PingLoad,
    counts_by_pid,
    only_worker,
    scrape,
    send_pings,
    start_workers,
    wait_for,
    worker_pids,
)
from tools.live import LiveServer
from tools.metrics_text import families, openmetrics_families, request_count, sample_value

pytestmark = pytest.mark.slow  # gunicorn arbiters with several workers each

ONCE_PER_INSTANCE = ("influxdb_info", "influxdb_uptime_seconds", "python_info")
PROCESS_FAMILIES = (
    "process_cpu_seconds",
    "process_max_fds",
    "process_open_fds",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_virtual_memory_bytes",
)


def histogram_count(body: str, **labels: str) -> float:
    family = families(body)["http_api_request_duration_seconds"]
    return sum(
        s.value
        for s in family.samples
        if s.name.endswith("_count") and all(s.labels.get(k) == v for k, v in labels.items())
    )


@pytest.mark.parametrize("workers", [2, 4])
def test_every_scrape_reports_the_requests_of_all_workers(
    start_server: StartServer, tmp_path: Path, workers: int
) -> None:
    directory = tmp_path / "multiproc"
    live = start_workers(start_server, directory, workers)
    pids = worker_pids(live)
    assert len(pids) == workers

    # Each worker answers its own share of the pings...
    share = 50
    for pid in pids:
        with only_worker(live, pid):
            send_pings(live.url, share)
    pings = share * workers
    assert counts_by_pid(directory, user_agent="curl") == dict.fromkeys(pids, share)

    # ...and then every worker answers scrapes, each with the totals of all of them.
    rounds = 3
    earlier_scrapes = 0
    for _ in range(rounds):
        for pid in pids:
            with only_worker(live, pid):
                body = scrape(live.url)
            assert request_count(body, user_agent="curl", path="/ping") == pings
            assert request_count(body, path="/metrics") == earlier_scrapes
            # The pings, the readiness ping, and every earlier scrape; nothing else.
            assert request_count(body) == pings + 1 + earlier_scrapes
            assert histogram_count(body) == pings + 1 + earlier_scrapes
            earlier_scrapes += 1
    assert counts_by_pid(directory, path="/metrics") == dict.fromkeys(pids, rounds)

    # Without steering, on new connections, whichever worker answers: still exact.
    send_pings(live.url, 100)
    for _ in range(10):
        body = scrape(live.url)
        assert request_count(body) == pings + 100 + 1 + earlier_scrapes
        earlier_scrapes += 1


def histogram_line_order(body: str, family: str) -> dict[str, list[str]]:
    """Per series (its labels without `le`), the suffixes of its lines in text order."""
    order: dict[str, list[str]] = {}
    for line in body.splitlines():
        if not line.startswith(family + "_"):
            continue
        name, _, rest = line.partition("{")
        labels = ",".join(p for p in rest.split("}")[0].split(",") if not p.startswith("le="))
        order.setdefault(labels, []).append(name.removeprefix(family))
    return order


def test_histogram_lines_in_single_process_order(start_server: StartServer, tmp_path: Path) -> None:
    """Each series: its buckets, then _count, then _sum, as one process (and
    prometheus_client's own encoder) writes them."""
    live = start_workers(start_server, tmp_path / "multiproc", 2)
    send_pings(live.url, 5)
    body = scrape(live.url)
    expected = ["_bucket"] * 12 + ["_count", "_sum"]
    order = histogram_line_order(body, "http_api_request_duration_seconds")
    assert order and all(suffixes == expected for suffixes in order.values()), order
    single = start_server()
    send_pings(single.url, 5)
    single_order = histogram_line_order(scrape(single.url), "http_api_request_duration_seconds")
    assert set(map(tuple, single_order.values())) == {tuple(expected)}


def test_each_family_has_its_documented_mode(start_server: StartServer, tmp_path: Path) -> None:
    live = start_workers(start_server, tmp_path / "multiproc", 3)
    send_pings(live.url, 29)
    span = {"trace_id": "0123456789abcdef", "span_id": "0123456789abcdef", "baggage": {}}
    traced = {**COUNTED_AGENT, "Zap-Trace-Span": json.dumps(span)}
    assert requests.get(live.url + "/ping", headers=traced, timeout=30).status_code == 204
    body = scrape(live.url)
    parsed = families(body)

    for name in ONCE_PER_INSTANCE:
        assert len(parsed[name].samples) == 1, name
    assert parsed["influxdb_uptime_seconds"].samples[0].labels.keys() == {"id"}

    # process_*: one series per live process (the arbiter and its workers), by pid.
    assert live.process is not None
    expected_pids = {str(live.process.pid), *(str(pid) for pid in worker_pids(live))}
    for name in PROCESS_FAMILIES:
        assert {s.labels["pid"] for s in parsed[name].samples} == expected_pids, name

    # Counters summed over workers: no pid label, one series per label set.
    for name in ("python_gc_collections", "python_gc_objects_collected", "http_api_requests"):
        assert all("pid" not in s.labels for s in parsed[name].samples), name
    assert {s.labels["generation"] for s in parsed["python_gc_collections"].samples} == {
        "0",
        "1",
        "2",
    }
    assert sorted(parsed["http_api_requests"].samples[0].labels) == sorted(LABELS)

    result = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr

    # OpenMetrics works too, but prometheus_client keeps no exemplars in this mode
    # (documented): the traced request has none.
    openmetrics = openmetrics_families(scrape(live.url, "application/openmetrics-text"))
    requests_family = openmetrics["http_api_requests"]
    assert sample_value(requests_family, "http_api_requests_total", user_agent="curl") == 30
    duration = openmetrics["http_api_request_duration_seconds"]
    assert all(sample.exemplar is None for sample in duration.samples)


def test_killed_worker_keeps_its_counts(start_server: StartServer, tmp_path: Path) -> None:
    directory = tmp_path / "multiproc"
    live = start_workers(start_server, directory, 2)
    victim, survivor = worker_pids(live)
    with only_worker(live, victim):
        send_pings(live.url, 60)
    with only_worker(live, survivor):
        send_pings(live.url, 40)
    before = scrape(live.url)
    assert request_count(before, user_agent="curl") == 100

    # The worker that answered 60 of the pings dies without any chance to clean up.
    os.kill(victim, signal.SIGKILL)
    wait_for(
        lambda: victim not in worker_pids(live) and len(worker_pids(live)) == 2,
        "gunicorn to replace the killed worker",
    )

    [replacement] = [pid for pid in worker_pids(live) if pid != survivor]
    with only_worker(live, replacement):
        send_pings(live.url, 50)
    scrapes_since = 0
    for pid in (survivor, replacement, survivor, replacement):
        with only_worker(live, pid):
            body = scrape(live.url)
        assert request_count(body, user_agent="curl") == 150
        # The readiness ping, the scrape before the kill, and the scrapes since.
        assert request_count(body) == 150 + 1 + 1 + scrapes_since
        scrapes_since += 1
    # The dead worker's counts live on in the archive, its files are gone (folded by
    # the arbiter); its live series are gone too.
    assert not list(directory.glob(f"*_{victim}.db"))
    assert (directory / ARCHIVE_NAME).exists()
    pids = {s.labels["pid"] for s in families(body)["process_start_time_seconds"].samples}
    assert str(victim) not in pids and len(pids) == 3


def test_worker_killed_under_load_keeps_totals_exact(
    start_server: StartServer, tmp_path: Path
) -> None:
    live = start_workers(start_server, tmp_path / "multiproc", 2)
    victim = worker_pids(live)[0]
    with PingLoad(live.url) as load:
        wait_for(lambda: load.completed_at_least(300), "load to warm up")
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda: victim not in worker_pids(live) and len(worker_pids(live)) == 2,
            "gunicorn to replace the killed worker",
        )
        after_kill = load.completed
        wait_for(lambda: load.completed_at_least(after_kill + 300), "load after the kill")
    counted = request_count(scrape(live.url), user_agent="curl")
    # Every completed request is counted. A request cut off by the kill may have been
    # counted just before its response was lost, never more than the failures.
    assert load.completed <= counted <= load.completed + load.failed
    # Each thread has one request in flight at a time: only those the victim held fail.
    assert load.failed <= len(load.threads)
    assert load.completed > after_kill  # the service kept answering


def test_sigterm_completes_the_request_in_flight_then_exits_0(
    start_server: StartServer, tmp_path: Path
) -> None:
    directory = tmp_path / "multiproc"
    live = start_workers(start_server, directory, 2)
    # A request in flight: many pipelined scrapes on one connection whose client reads
    # nothing, so the worker writes until the socket buffers fill and then waits, in
    # the middle of a response, for the client. The service counts a response just
    # before its last byte is written, so the count stops at the one in flight.
    pipelined = 1000
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(("127.0.0.1", live.port))
    client.settimeout(60)
    request = (
        f"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: {COUNTED_AGENT['User-Agent']}\r\n\r\n"
    )
    client.sendall(request.encode() * pipelined)

    def counted() -> float:
        return request_count(scrape(live.url), user_agent="curl")

    readings = [counted()]

    def stalled() -> bool:
        readings.append(counted())
        return readings[-1] == readings[-2] > 0

    wait_for(stalled, "the pipelined responses to stall")
    in_flight_or_done = readings[-1]

    assert live.process is not None
    live.process.send_signal(signal.SIGTERM)
    # Read only once both workers are shutting down, so that the response in flight is
    # finished by a worker that has stopped taking requests.
    wait_for(lambda: live.log().count('msg="Shutting down"') == 2, "the workers to shut down")
    responses = read_responses(client)
    client.close()
    assert live.process.wait(60) == 0
    # Every response counted before SIGTERM arrived complete, the one in flight
    # included; then the worker closed the connection instead of serving the rest.
    assert in_flight_or_done <= responses < pipelined
    assert not directory.exists()


def read_responses(client: socket.socket) -> int:
    """Complete HTTP responses read until the server closes; a cut one fails the test."""
    connection = h11.Connection(h11.CLIENT)
    data = bytearray()
    while chunk := client.recv(1 << 20):
        data += chunk
    connection.receive_data(bytes(data))
    connection.receive_data(b"")
    complete = 0
    while True:
        unread, closed = connection.trailing_data
        if closed and not unread:
            return complete
        # h11 pairs each response with a request; these were sent long ago, as bytes.
        connection.send(h11.Request(method="GET", target="/metrics", headers=[("Host", "x")]))
        connection.send(h11.EndOfMessage())
        event = connection.next_event()
        assert isinstance(event, h11.Response) and event.status_code == 200, event
        length = int(dict(event.headers)[b"content-length"])
        body = bytearray()
        while not isinstance(event := connection.next_event(), h11.EndOfMessage):
            assert isinstance(event, h11.Data), event  # NEED_DATA here: a cut response
            body += event.data
        assert len(body) == length
        complete += 1
        if connection.their_state is h11.MUST_CLOSE:
            return complete
        connection.start_next_cycle()


def test_multiproc_dir_is_private_wiped_at_start_and_removed_at_exit(
    start_server: StartServer, tmp_path: Path
) -> None:
    directory = tmp_path / "multiproc"
    directory.mkdir(mode=0o755)
    # What a previous run left: 1000 counted pings, written by a process of its own.
    previous_run = (
        "from prometheus_client import Counter\n"
        f"c = Counter('http_api_requests', 'x', {list(LABELS)!r})\n"
        "c.labels('platform', 'GET', '/ping', '204', '2XX', 'curl').inc(1000)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", previous_run], env=env, check=True, timeout=30)
    [stale] = directory.glob("counter_*.db")

    # Configured through the environment twin this time.
    live = start_server("--workers", "2", env={"INFLUXDB_SYSINFO_MULTIPROC_DIR": str(directory)})
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert not stale.exists()
    body = scrape(live.url)
    assert request_count(body, user_agent="curl") == 0
    assert request_count(body) == 1  # the readiness ping
    assert live.stop() == 0
    assert not directory.exists()


def test_default_multiproc_dir_is_a_private_temporary_one(
    start_server: StartServer, tmp_path: Path
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    live = start_server("--workers", "2", env={"TMPDIR": str(temporary)})
    [directory] = temporary.glob("influxdb-sysinfo-metrics-*")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert list(directory.glob("*.db"))  # the readiness ping was counted there
    assert live.stop() == 0
    assert not directory.exists()


def test_multiproc_dir_with_foreign_files_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "not-only-metrics"
    directory.mkdir()
    (directory / "notes.txt").write_text("keep me", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "impl.main", "--port", "0", "--workers", "2"]
        + ["--state-dir", str(tmp_path / "state"), "--multiproc-dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "refusing to wipe it" in result.stderr and "notes.txt" in result.stderr
    assert "Traceback" not in result.stderr
    assert (directory / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_multiproc_dir_option_and_help() -> None:
    assert load_config(["--multiproc-dir", "/run/x"], {}).multiproc_dir == Path("/run/x")
    env = {"INFLUXDB_SYSINFO_MULTIPROC_DIR": "/run/y"}
    assert load_config([], env).multiproc_dir == Path("/run/y")
    assert load_config([], {}).multiproc_dir is None
    result = subprocess.run(
        [sys.executable, "-m", "impl.main", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "--multiproc-dir" in result.stdout and "0700" in result.stdout


def test_one_worker_ignores_the_multiproc_dir(start_server: StartServer, tmp_path: Path) -> None:
    """Without --workers, the service stays one process with its in-process registry."""
    directory = tmp_path / "multiproc"
    live = start_server("--multiproc-dir", str(directory))
    body = scrape(live.url)
    assert not directory.exists()
    assert all("pid" not in s.labels for s in families(body)["process_start_time_seconds"].samples)


def test_the_environment_does_not_decide_where_counts_go(
    start_server: StartServer, tmp_path: Path
) -> None:
    """prometheus_client's PROMETHEUS_MULTIPROC_DIR, set to another directory, changes
    nothing: the workers count into the instance's directory, one process in memory."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(elsewhere)}
    workers = start_server(
        "--workers", "2", "--multiproc-dir", str(tmp_path / "multiproc"), env=env
    )
    single = start_server(env=env)
    for live in (workers, single):
        send_pings(live.url, 30)
        assert request_count(scrape(live.url), user_agent="curl") == 30
    assert list(elsewhere.iterdir()) == []


def test_workers_enforce_the_same_request_limits(start_server: StartServer, tmp_path: Path) -> None:
    live = start_workers(start_server, tmp_path / "multiproc", 2, "--max-header-size", "2048")
    with RawClient(live.port) as client:
        response = client.request("GET", "/ping", [("X-Padding", "a" * 4096)])
    assert response.status == 431
    assert response.header("X-Platform-Error-Code") == "request too large"
    assert response.header("X-Influxdb-Build") == "OSS"


def test_port_in_use_fails_clearly_with_workers(tmp_path: Path) -> None:
    directory = tmp_path / "multiproc"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "impl.main", "--port", str(port), "--workers", "2"]
            + ["--state-dir", str(tmp_path / "state"), "--multiproc-dir", str(directory)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert "address already in use" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert not directory.exists()


BACK_TO_BACK_SCRAPES = 10_000
SCRAPE_TARGET = "/metrics?name[]=http_api_requests_total"
SCRAPER_AGENT = "Prometheus/2.53.0"


def connection_to(live: LiveServer, pid: int) -> http.client.HTTPConnection:
    """A keep-alive connection that worker `pid` accepted, so it answers all it carries."""
    with only_worker(live, pid):
        connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
        connection.request("GET", "/ready")
        assert connection.getresponse().read() is not None
    return connection


def get(connection: http.client.HTTPConnection, target: str, agent: str) -> str:
    connection.request("GET", target, headers={"User-Agent": agent})
    response = connection.getresponse()
    body = response.read().decode()
    assert response.status in (200, 204), body
    return body


def counted_from(body: str, agent_label: str) -> float:
    marker = f'user_agent="{agent_label}"'
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("http_api_requests_total{") and marker in line
    )


@pytest.mark.parametrize("previous", ["ping", "scrape"])
def test_a_scrape_by_the_other_worker_counts_the_request_answered_just_before(
    start_server: StartServer, tmp_path: Path, previous: str
) -> None:
    """Back to back, alternating workers: as soon as one worker has answered (and so
    recorded) a request, a scrape answered by the other counts it."""
    live = start_workers(start_server, tmp_path / "multiproc", 2)
    first, second = (connection_to(live, pid) for pid in worker_pids(live))
    with contextlib.closing(first), contextlib.closing(second):
        scrape_back_to_back(first, second, previous)


def scrape_back_to_back(
    first: http.client.HTTPConnection, second: http.client.HTTPConnection, previous: str
) -> None:
    pings = 0
    for scrapes in range(BACK_TO_BACK_SCRAPES):
        here, there = (first, second) if scrapes % 2 else (second, first)
        if previous == "ping":
            get(there, "/ping", COUNTED_AGENT["User-Agent"])
            pings += 1
        body = get(here, SCRAPE_TARGET, SCRAPER_AGENT)
        seen = (
            counted_from(body, "curl") if previous == "ping" else counted_from(body, "Prometheus")
        )
        expected = pings if previous == "ping" else scrapes
        assert seen == expected, f"scrape {scrapes}: {seen} counted of {expected}"


def test_workers_leave_when_the_arbiter_is_killed(
    start_server: StartServer, tmp_path: Path
) -> None:
    """Without an arbiter no one folds a worker's files or replaces it: each worker
    leaves at its next heartbeat (half gunicorn's 30 s timeout) instead of holding the
    listening socket alone."""
    live = start_workers(start_server, tmp_path / "multiproc", 2)
    workers = worker_pids(live)
    assert live.process is not None
    live.process.kill()
    live.process.wait(30)

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"

    wait_for(lambda: all(gone(pid) for pid in workers), "the orphaned workers to leave", 60)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", live.port)) != 0  # nobody listens any more
    assert live.log().count("the arbiter is gone") == 2
