"""Connections that hold the service's memory or places: clients that never read,
pipeline without end, or connect and say nothing (impl/http/protocol.py)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from impl.client.rawhttp import HOST, read_response, read_responses
from tests.conftest import StartServer
from tests.support.scaleout import wait_for
from tools.attack_trickle import trickle
from tools.attacks import (
    CLIENT_RCVBUF,
    LARGEST_SCRAPE,
    NonReaders,
    Pinger,
    fill_series,
    held_connections,
    tree_rss_kib,
)
from tools.metrics_text import request_count

pytestmark = pytest.mark.slow  # hostile connections against live processes, up to 20,000 requests

PATIENCE = 20.0
PIPELINED_SCRAPES = 40


def non_reader(port: int, requests_bytes: bytes) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RCVBUF)
    sock.settimeout(PATIENCE)
    sock.connect((HOST, port))
    sock.sendall(requests_bytes)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def test_client_that_never_reads_is_cut_off_and_renders_no_more(
    start_server: StartServer,
) -> None:
    live = start_server("--send-timeout", "1")
    fill_series(live.port)  # /metrics at its largest: far more than the socket takes
    before = request_count(requests.get(live.url + "/metrics", timeout=PATIENCE).text)
    sock = non_reader(live.port, LARGEST_SCRAPE * PIPELINED_SCRAPES)
    with sock:
        wait_for(lambda: "response not read in time" in live.log(), "the send timeout")
        answered = read_until_closed(sock).count(b"HTTP/1.1 200 ")
    # The connection was closed with scrapes still unanswered, and those were never
    # rendered: the next request waits until the last response has left the process.
    assert answered < PIPELINED_SCRAPES
    after = request_count(requests.get(live.url + "/metrics", timeout=PATIENCE).text)
    rendered = after - before - 1  # the scrape that took `before` is counted in `after`
    assert answered <= rendered <= answered + 1  # at most one more held, then dropped
    assert "lvl=error" not in live.log()


def test_pipelined_requests_are_all_answered_in_order(start_server: StartServer) -> None:
    """Reading pauses while much pipelined input waits; it must always resume."""
    live = start_server()
    count = 20_000
    pipeline = b"".join(
        f"GET /ping?n={n} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for n in range(count)
    )
    with socket.create_connection((HOST, live.port), timeout=PATIENCE) as sock:
        writer = threading.Thread(target=sock.sendall, args=(pipeline,), daemon=True)
        writer.start()
        statuses = [response.status for response in read_responses(sock, count)]
        writer.join(PATIENCE)
    assert statuses == [204] * count
    body = requests.get(live.url + "/metrics", timeout=PATIENCE).text
    assert request_count(body, path="/ping", response_code="204", user_agent="unknown") == count


@pytest.mark.parametrize(
    ("first_bytes", "what"), [(b"", "silent"), (b"GET /ping HTTP/1.1\r\nHost: x\r\n", "unfinished")]
)
def test_connections_that_sent_no_request_make_room_for_one_that_did(
    start_server: StartServer, first_bytes: bytes, what: str
) -> None:
    live = start_server("--max-connections", "20", "--header-timeout", "60")
    with held_connections(live.port, 60, first_bytes) as held:
        pinger = Pinger(live.port).run(5)
        assert pinger.statuses == {204: 5}, what
        if first_bytes:  # an unfinished head closed to make room is told why
            closed = [sock for sock in held if _answer_or_none(sock) is not None]
            assert closed and all(_answer_or_none(s) in (503, -1) for s in closed)


def _answer_or_none(sock: socket.socket) -> int | None:
    """The status the server sent on `sock` before closing it (-1: closed without one,
    None: still open)."""
    sock.settimeout(0.05)
    try:
        return read_response(sock).status
    except TimeoutError:
        return None
    except (OSError, ValueError):
        return -1


@pytest.mark.slow  # 150 clients for 20 s
def test_ping_is_answered_while_150_clients_never_read(start_server: StartServer) -> None:
    live = start_server("--send-timeout", "2")
    fill_series(live.port)
    time.sleep(1)  # the fill's last scrapes and the allocator settle
    baseline = tree_rss_kib(live.pid)
    peak = baseline
    with NonReaders(live.port, 150, pipelined=3, hold=4.0, stagger=0.01) as crowd:
        pinger = Pinger(live.port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pinger.ping()
            peak = max(peak, tree_rss_kib(live.pid))
            time.sleep(0.05)
    assert crowd.connections >= 150
    # Every ping answered within its timeout (10 s), none refused.
    assert pinger.failures == 0 and set(pinger.statuses) == {204}
    # At most one response per connection is held, each for at most the send timeout
    # (README: per connection, the largest response and the read-ahead).
    assert peak - baseline < 150 * 1024  # KiB: 150 clients x 1 MiB
    wait_for(lambda: tree_rss_kib(live.pid) - baseline < 32 * 1024, "memory to fall back")


def test_pings_are_answered_while_connections_trickle_their_bodies(
    start_server: StartServer,
) -> None:
    """More trickling connections than the limit: they are refused for their slowness
    (408) or make room for others (503), and the pings get in."""
    live = start_server("--max-connections", "40")
    result = trickle(live.port, connections=60, seconds=8)
    assert result.pinger is not None and result.pinger.statuses
    assert result.pings_2xx_share >= 0.95, (result.pinger.statuses, result.pinger.failures)
    assert set(result.answers) <= {0, 408, 503} and (result.answers[408] or result.answers[503])
