"""Per-request limits (impl/http/limits.py): head size, bodies on body-less operations and
open connections, each refused with an InfluxDB error that is counted."""

from __future__ import annotations

import array
import fcntl
import json
import socket
import termios
import time
from collections.abc import Iterator

import pytest

from impl.client.rawhttp import HOST, RawClient, RawResponse, read_response, wait_for_close
from impl.errors import JSON_CONTENT_TYPE
from impl.http.limits import MAX_BODY_BYTES
from tests.conftest import StartServer
from tools.attacks import CLIENT_RCVBUF
from tools.live import LiveServer
from tools.metrics_text import request_count

MAX_HEADER_SIZE = 4096
PATIENCE = 15.0


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    args = ["--max-header-size", str(MAX_HEADER_SIZE), "--header-timeout", "1"]
    with LiveServer(tmp_path_factory.mktemp("limited"), args) as live:
        yield live


def assert_error(response: RawResponse, status: int, code: str) -> str:
    assert response.status == status
    assert response.header("Content-Type") == JSON_CONTENT_TYPE
    assert response.header("X-Platform-Error-Code") == code
    assert response.header("X-Influxdb-Version") == "v2.7.12"
    body = json.loads(response.body)
    assert body["code"] == code
    message: str = body["message"]
    return message


def padded_head(size: int) -> bytes:
    """A GET /ping head of exactly `size` bytes."""
    start = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Pad: "
    return start + b"p" * (size - len(start) - 4) + b"\r\n\r\n"


def test_the_head_is_measured_as_sent(limited: LiveServer) -> None:
    """Whitespace around header values, which the parsed headers no longer hold, counts."""
    start = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Pad:"
    spaced = start + b" " * (MAX_HEADER_SIZE - len(start) - 6) + b"p\t\r\n\r\n"
    assert len(spaced) == MAX_HEADER_SIZE
    with RawClient(limited.port) as client:
        assert client.exchange(spaced).status == 204
        response = client.exchange(spaced.replace(b"p\t", b"p\t\t"))
    assert assert_error(response, 431, "request too large") == "request header fields too large"


def test_head_up_to_the_limit_is_served_and_one_byte_more_is_431(limited: LiveServer) -> None:
    with RawClient(limited.port) as client:
        assert client.exchange(padded_head(MAX_HEADER_SIZE)).status == 204
        response = client.exchange(padded_head(MAX_HEADER_SIZE + 1))
    message = assert_error(response, 431, "request too large")
    assert message == "request header fields too large"
    assert response.will_close


def test_small_body_on_get_is_read_and_ignored(limited: LiveServer) -> None:
    with RawClient(limited.port) as client:
        for body in (b"{}", b"x" * MAX_BODY_BYTES):
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            response = client.request("GET", "/ping", headers, body)
            assert response.status == 204 and not response.will_close
        chunked = b"2\r\n{}\r\n0\r\n\r\n"
        response = client.request("GET", "/health", [("Transfer-Encoding", "chunked")], chunked)
        assert response.status == 200
        # Each body was read to its end: the same connection served every request.
        assert client.connections == 1


def test_declared_body_over_the_limit_is_413_without_reading_it(limited: LiveServer) -> None:
    with socket.create_connection((HOST, limited.port), timeout=PATIENCE) as sock:
        sock.sendall(
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        response = read_response(sock)
        # No "100 Continue" came first, and the connection is closed, not left half-read.
        assert wait_for_close(sock, PATIENCE) == b""
    message = assert_error(response, 413, "request too large")
    assert message == f"request body larger than {MAX_BODY_BYTES} bytes"
    assert response.will_close


def test_chunked_body_over_the_limit_is_413(limited: LiveServer) -> None:
    chunk = b"a" * 600
    body = b"258\r\n" + chunk + b"\r\n258\r\n" + chunk + b"\r\n0\r\n\r\n"
    with RawClient(limited.port) as client:
        response = client.request("GET", "/ping", [("Transfer-Encoding", "chunked")], body)
    assert_error(response, 413, "request too large")
    assert response.will_close


@pytest.mark.slow  # waits out the body timeout
def test_body_that_never_arrives_is_408(limited: LiveServer) -> None:
    with socket.create_connection((HOST, limited.port), timeout=PATIENCE) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        response = read_response(sock)
    assert assert_error(response, 408, "invalid") == "request body timeout"
    assert response.will_close


def test_refusals_are_counted(fresh_server: LiveServer) -> None:
    with RawClient(fresh_server.port) as client:
        client.request("GET", "/ping", [("Content-Length", str(MAX_BODY_BYTES + 1))])
        client.exchange(padded_head(20_000))
        body = client.request("GET", "/metrics").body.decode()
    # Refused before any operation was reached: counted under the path, without
    # method or user agent.
    refused = {"path": "/ping", "status": "4XX", "method": "none", "user_agent": "none"}
    assert request_count(body, response_code="413", **refused) == 1
    assert request_count(body, response_code="431", **refused) == 1


def body_sender(live: LiveServer, sent: int, declared: int = MAX_BODY_BYTES) -> socket.socket:
    """A connection with a request in progress: its head sent and `sent` bytes of its body.
    The server's "100 Continue" shows that it has the head."""
    sock = socket.create_connection((HOST, live.port), timeout=PATIENCE)
    sock.sendall(
        b"GET /ping HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        + f"Content-Length: {declared}\r\n\r\n".encode()
    )
    assert sock.recv(1024).startswith(b"HTTP/1.1 100 ")
    sock.sendall(b"x" * sent)
    return sock


def non_reader(port: int, pipelined: bytes) -> socket.socket:
    """A connection that sends `pipelined` and reads nothing, into a small buffer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RCVBUF)
    sock.settimeout(PATIENCE)
    sock.connect((HOST, port))
    sock.sendall(pipelined)
    return sock


def unread(sock: socket.socket) -> int:
    pending = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), termios.FIONREAD, pending)
    return pending[0]


def wait_until_stalled(holders: list[socket.socket]) -> None:
    """Until what waits unread for each holder stays the same for a while: the service has
    filled what the kernel would take and holds the rest of a response."""
    seen: list[int] = []
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        now = [unread(sock) for sock in holders]
        if now == seen and all(now):
            return
        seen = now
        time.sleep(0.3)
    raise AssertionError(f"the holders never stalled: {seen}")


def test_slowest_body_makes_room_for_a_request(start_server: StartServer) -> None:
    """At the connection limit, the request whose body is furthest behind is refused
    (nearest the minimum rate's deadline: the fewest bytes for its time), not the new one."""
    live = start_server("--max-connections", "2", "--header-timeout", "60")
    with body_sender(live, 100) as slowest, body_sender(live, 900) as faster:
        with RawClient(live.port) as third:
            assert third.request("GET", "/ping").status == 204
        refused = read_response(slowest)
        assert assert_error(refused, 503, "unavailable") == "too many open connections"
        assert refused.will_close
        faster.sendall(b"x" * (MAX_BODY_BYTES - 900))  # the rest: served where it waited
        assert read_response(faster).status == 204
        metrics = wait_until_served(live)
    refused_labels = {"path": "/ping", "method": "none", "user_agent": "none"}
    assert request_count(metrics, response_code="503", **refused_labels) == 1


@pytest.mark.slow  # sends for the minimum rate's grace and beyond
def test_body_slower_than_the_minimum_rate_is_408_long_before_the_header_timeout(
    start_server: StartServer,
) -> None:
    live = start_server("--header-timeout", "60")
    with socket.create_connection((HOST, live.port), timeout=PATIENCE) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        sock.settimeout(1)
        response = None
        for _ in range(int(PATIENCE)):  # a byte a second, until answered
            sock.sendall(b"x")
            try:
                response = read_response(sock)
                break
            except TimeoutError:
                continue
    assert response is not None
    assert assert_error(response, 408, "invalid") == "request body timeout"
    assert response.will_close
    metrics = wait_until_served(live)
    refused = {"path": "/ping", "method": "none", "user_agent": "none"}
    assert request_count(metrics, response_code="408", **refused) == 1


def test_connections_beyond_the_limit_get_503_unavailable(start_server: StartServer) -> None:
    """Connections that cannot make room: each holds a response its client does not read
    (the next pipelined request waits for it), so the request on a third is refused."""
    live = start_server("--max-connections", "2", "--send-timeout", "60")
    pipelined = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 400
    holders = [non_reader(live.port, pipelined) for _ in range(2)]
    try:
        # A third connection while the holders' requests still arrive would take their
        # place (theirs would be the refused ones): it comes once both have stalled.
        wait_until_stalled(holders)
        with RawClient(live.port) as third:
            response = third.request("GET", "/ping")
        assert assert_error(response, 503, "unavailable") == "too many open connections"
        assert response.will_close
    finally:
        for sock in holders:
            sock.close()
    scrape = wait_until_served(live)
    assert request_count(scrape, response_code="503", status="5XX") >= 1


def wait_until_served(live: LiveServer) -> str:
    """A scrape, once the server has seen a connection close and has room again."""
    for _ in range(200):
        with RawClient(live.port) as client:
            response = client.request("GET", "/metrics")
        if response.status == 200:
            return response.body.decode()
    raise AssertionError("the server never took a new connection")
