"""Request smuggling shapes, sent raw: each is refused with an InfluxDB 400 and the
connection closed, or read the one way RFC 9112 allows and answered on.

Each case sends a request whose framing parsers may disagree on, then, on the same
connection, a second request that a smuggler would want served: a refused shape must
close the connection before that second request is read.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from impl.errors import JSON_CONTENT_TYPE
from impl.http.framing import head_end, head_problem
from impl.http.protocol import LINGER_SECONDS
from tools.live import LiveServer
from tools.rawhttp import HOST, read_response, read_responses, wait_for_close

PATIENCE = 15.0
SMUGGLED = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


def req(*fields: bytes, body: bytes = b"", line: bytes = b"GET /ping HTTP/1.1") -> bytes:
    """A request with a Host header, these header lines, CRLF line ends and `body`."""
    return b"\r\n".join([line, b"Host: x", *fields]) + b"\r\n\r\n" + body


CHUNKED = b"Transfer-Encoding: chunked"
EMPTY_CHUNKED = b"0\r\n\r\n"

# (name, request, the reason in the 400's message, or None when h11's own check refuses)
REFUSED = [
    (
        "content-length-and-chunked",
        req(b"Content-Length: 5", CHUNKED, body=EMPTY_CHUNKED, line=b"POST /ping HTTP/1.1"),
        "both Content-Length and Transfer-Encoding",
    ),
    (
        "chunked-and-content-length",
        req(CHUNKED, b"Content-Length: 0", body=EMPTY_CHUNKED),
        "both Content-Length and Transfer-Encoding",
    ),
    (
        "chunked-in-http-1.0",
        req(CHUNKED, body=EMPTY_CHUNKED, line=b"GET /ping HTTP/1.0"),
        "Transfer-Encoding in an HTTP/1.0 request",
    ),
    (
        "bare-lf-line-ends",
        b"GET /ping HTTP/1.1\nHost: x\nContent-Length: 0\n\n",
        "bare LF in the request head",
    ),
    (
        "bare-lf-in-one-line",
        req(b"X-A: a\n" + CHUNKED, body=EMPTY_CHUNKED),
        "bare LF in the request head",
    ),
    (
        "obs-fold",
        req(b"X-Folded: a", b" " + CHUNKED, body=EMPTY_CHUNKED),
        "obsolete line folding in the request head",
    ),
    (
        "obs-fold-tab",
        req(b"X-Folded: a", b"\tb"),
        "obsolete line folding in the request head",
    ),
    ("bare-cr", req(b"X-A: a\rX-B: b"), "bare CR in the request head"),
    # h11's own refusals, answered the same way.
    ("conflicting-lengths", req(b"Content-Length: 1", b"Content-Length: 2", body=b"ab"), None),
    ("conflicting-length-list", req(b"Content-Length: 1, 2", body=b"ab"), None),
    ("signed-length", req(b"Content-Length: +1", body=b"a"), None),
    ("hex-length", req(b"Content-Length: 0x1", body=b"a"), None),
    ("space-before-colon", req(b"Content-Length : 1", body=b"a"), None),
    ("chunked-identity", req(CHUNKED + b", identity", body=EMPTY_CHUNKED), None),
    ("identity-chunked", req(b"Transfer-Encoding: identity, chunked", body=EMPTY_CHUNKED), None),
    ("two-transfer-encodings", req(CHUNKED, CHUNKED, body=EMPTY_CHUNKED), None),
    ("transfer-encoding-vtab", req(b"Transfer-Encoding:\x0bchunked", body=EMPTY_CHUNKED), None),
    ("xchunked", req(b"Transfer-Encoding: xchunked", body=EMPTY_CHUNKED), None),
    ("chunk-size-bare-lf", req(CHUNKED, body=b"2\nab\r\n" + EMPTY_CHUNKED), None),
    ("chunk-size-hex-prefix", req(CHUNKED, body=b"0x2\r\nab\r\n" + EMPTY_CHUNKED), None),
    ("chunk-without-crlf", req(CHUNKED, body=b"2\r\nabc" + EMPTY_CHUNKED), None),
    ("no-host", b"GET /ping HTTP/1.1\r\n\r\n", None),
    ("two-hosts", req(b"Host: y"), None),
    ("two-spaces-in-request-line", req(line=b"GET  /ping HTTP/1.1"), None),
]

# Shapes RFC 9112 lets a server read one way, which is the only way h11 reads them:
# the request is served and the connection stays usable.
ACCEPTED = [
    # RFC 9110 8.6: identical values may be taken as one.
    ("equal-lengths", req(b"Content-Length: 2", b"Content-Length: 2", body=b"ab")),
    ("equal-length-list", req(b"Content-Length: 2, 2", body=b"ab")),
    # Transfer codings are case-insensitive; chunk extensions are ignored.
    ("chunked-upper-case", req(b"Transfer-Encoding: CHUNKED", body=b"2\r\nab\r\n" + EMPTY_CHUNKED)),
    ("chunk-extension", req(CHUNKED, body=b"2;ext=1\r\nab\r\n" + EMPTY_CHUNKED)),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("framing"), ["--header-timeout", "5"]) as server:
        yield server


def connect(live: LiveServer) -> socket.socket:
    return socket.create_connection((HOST, live.port), timeout=PATIENCE)


@pytest.mark.parametrize(("name", "request_bytes", "reason"), REFUSED, ids=[c[0] for c in REFUSED])
def test_smuggling_shape_is_refused_and_the_connection_closed(
    live: LiveServer, name: str, request_bytes: bytes, reason: str | None
) -> None:
    with connect(live) as sock:
        sock.sendall(request_bytes + SMUGGLED)
        response = read_response(sock)
        rest = wait_for_close(sock, PATIENCE)  # closed, and nothing more was answered
    assert response.status == 400, name
    assert response.header("Content-Type") == JSON_CONTENT_TYPE
    assert response.header("X-Platform-Error-Code") == "invalid"
    assert response.header("X-Influxdb-Version") == "v2.7.12"
    assert response.will_close
    message = "malformed HTTP request" + (f": {reason}" if reason else "")
    assert json.loads(response.body) == {"code": "invalid", "message": message}
    assert rest == b""


@pytest.mark.parametrize(("name", "request_bytes"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_unambiguous_shape_is_served_and_the_connection_kept(
    live: LiveServer, name: str, request_bytes: bytes
) -> None:
    with connect(live) as sock:
        sock.sendall(request_bytes + SMUGGLED)
        first, second = read_responses(sock, 2)
    assert first.status == 204, name
    assert second.status == 200, name  # the next request, read where the first ended


def test_pipelined_request_with_both_lengths_is_refused_after_the_first(live: LiveServer) -> None:
    """The check applies to every request on a connection, not only the first."""
    smuggler = (
        b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    with connect(live) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n" + smuggler + SMUGGLED)
        received = wait_for_close(sock, PATIENCE)
    # Two answers, the ping's and the refusal's, and nothing for the smuggled request.
    assert received.count(b"HTTP/1.1 ") == 2
    assert received.startswith(b"HTTP/1.1 204 ")
    assert b"HTTP/1.1 400 " in received and b"both Content-Length and Transfer-Encoding" in received


def test_refusals_are_logged_with_their_reason(live: LiveServer) -> None:
    with connect(live) as sock:
        sock.sendall(REFUSED[0][1])
        read_response(sock)
    assert 'reason="malformed HTTP request: both Content-Length and Transfer-Encoding"' in (
        live.log()
    )


def test_head_ends_where_h11_ends_it() -> None:
    assert head_end(b"GET /ping HTTP/1.1\r\nHost: x\r\n") is None  # more may come
    data = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n\nbody\nwith\nLFs"
    end = head_end(data)
    assert end is not None and head_problem(data[:end]) is None  # the body is not judged
    assert head_problem(b"GET /ping HTTP/1.1\r\nHost: x\n\r\n") == "bare LF in the request head"


def test_head_sent_a_byte_at_a_time_is_judged_once_complete(live: LiveServer) -> None:
    request = req(b"X-Folded: a", b" b")
    with connect(live) as sock:
        for byte in request:
            sock.sendall(bytes([byte]))
        response = read_response(sock)
    assert response.status == 400
    assert json.loads(response.body)["message"].endswith(
        "obsolete line folding in the request head"
    )


@pytest.mark.slow  # lingers the full 2 s after the refusal
def test_refusal_followed_by_much_more_input_ends_without_a_reset(live: LiveServer) -> None:
    """What follows a refused request is read and dropped, however much, so that the
    connection ends in order: a socket closed with unread input sends a reset, which
    can destroy the answer before the client has read it."""
    junk = SMUGGLED * 10_000  # 330 KB: more than the read-ahead bound
    with connect(live) as sock:
        sock.sendall(REFUSED[0][1] + junk)
        received = wait_for_close(sock, PATIENCE)  # the server's end of sending
        time.sleep(LINGER_SECONDS + 1)  # until the server has closed its socket too
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0  # no reset came
    assert received.startswith(b"HTTP/1.1 400 ")
    assert received.count(b"HTTP/1.1 ") == 1
