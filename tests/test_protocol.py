"""The connection layer (impl/http/protocol.py): timeouts and malformed or oversized heads."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from impl.client.rawhttp import HOST, RawClient, RawResponse, read_response, wait_for_close
from impl.errors import JSON_CONTENT_TYPE
from tools.live import LiveServer
from tools.metrics_text import request_count

pytestmark = pytest.mark.slow  # waits out header and keep-alive timeouts by design

MAX_HEADER_SIZE = 4096
TIMEOUT = 1  # --header-timeout and --keep-alive-timeout, in seconds
# How long a test waits for the server to act on a 1 s timeout: generous, as CI is slow.
PATIENCE = 15.0


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    args = [
        "--max-header-size", str(MAX_HEADER_SIZE),
        "--header-timeout", str(TIMEOUT),
        "--keep-alive-timeout", str(TIMEOUT),
    ]  # fmt: skip
    with LiveServer(tmp_path_factory.mktemp("strict"), args) as live:
        yield live


def connect(server: LiveServer) -> socket.socket:
    return socket.create_connection((HOST, server.port), timeout=PATIENCE)


def assert_refused(response: RawResponse, status: int, code: str, message: str) -> None:
    assert response.status == status
    assert response.header("Content-Type") == JSON_CONTENT_TYPE
    assert response.header("X-Platform-Error-Code") == code
    assert json.loads(response.body) == {"code": code, "message": message}
    assert response.header("X-Influxdb-Build") == "OSS"
    assert response.header("X-Influxdb-Version") == "v2.7.12"
    assert response.will_close


def test_malformed_request_is_influx_invalid(strict: LiveServer) -> None:
    for request in (
        b"GET /ping HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        b"GET /p\xffing HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /ping HTTP/1.1\r\nHost: x\r\nBad\x00Header: 1\r\n\r\n",
        b"GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    ):
        with RawClient(strict.port) as client:
            response = client.exchange(request)
        assert_refused(response, 400, "invalid", "malformed HTTP request")


def test_head_larger_than_limit_while_incomplete_is_431(strict: LiveServer) -> None:
    # h11 has buffered more than the limit without finding the end of the head.
    with connect(strict) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * MAX_HEADER_SIZE)
        response = read_response(sock)
    assert_refused(response, 431, "request too large", "request header fields too large")


def test_partial_head_gets_408_after_header_timeout(strict: LiveServer) -> None:
    with connect(strict) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
        response = read_response(sock)
        assert wait_for_close(sock, PATIENCE) == b""
    assert_refused(response, 408, "invalid", "request header timeout")


def test_head_sent_a_byte_at_a_time_is_cut_off(strict: LiveServer) -> None:
    """Slowloris: each byte arrives well within any per-read timeout, the head never ends."""
    started = time.monotonic()
    received = b""
    with connect(strict) as sock:
        sock.settimeout(0.2)
        sock.sendall(b"GET /ping HTTP/1.1\r\n")
        while time.monotonic() - started < PATIENCE and not received:
            try:
                sock.sendall(b"X")
                received = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break  # closed under our feet: the 408 may have been lost in the reset
    assert received.startswith(b"HTTP/1.1 408 "), received


def test_idle_new_connection_is_closed_without_a_response(strict: LiveServer) -> None:
    with connect(strict) as sock:
        assert wait_for_close(sock, PATIENCE) == b""


def test_idle_keep_alive_connection_is_closed(strict: LiveServer) -> None:
    with connect(strict) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock).status == 204
        assert wait_for_close(sock, PATIENCE) == b""


def test_connection_in_use_is_not_cut_by_the_header_timeout(strict: LiveServer) -> None:
    """The timer covers each head, not the connection: a connection kept busy lives on
    well past the header timeout."""
    with RawClient(strict.port) as client:
        opened = time.monotonic()
        while time.monotonic() - opened < 2 * TIMEOUT:
            assert client.request("GET", "/ping").status == 204
            time.sleep(TIMEOUT / 10)  # far inside the keep-alive timeout
        assert client.connections == 1


def test_refusals_before_the_app_are_not_counted(fresh_server: LiveServer) -> None:
    with RawClient(fresh_server.port) as client:
        before = request_count(client.request("GET", "/metrics").body.decode())
        for _ in range(3):
            assert client.exchange(b"GET /ping HTTP/1.1\r\n\r\n").status == 400
        after = client.request("GET", "/metrics").body.decode()
    assert request_count(after, response_code="400") == 0
    assert request_count(after) == before + 1  # the first scrape only
