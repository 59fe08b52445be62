"""Request smuggling shapes, sent raw: each is refused with an InfluxDB 400 and the
connection closed, or read the one way RFC 9112 allows and answered on.

Each case sends a request whose framing parsers may disagree on, then, on the same
connection, a second request that a smuggler would want served: a refused shape must
close the connection before that second request is read. Chunked bodies arrive a few
bytes per write, as a smuggler may send them, so that each is judged across reads.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impl.client.rawhttp import HOST, RawResponse, read_response, read_responses, wait_for_close
from impl.errors import JSON_CONTENT_TYPE
from impl.http.framing import ChunkedBody, head_end, head_problem
from impl.http.protocol import LINGER_SECONDS
from tests.conftest import StartServer
from tests.support.examples import examples
from tools.live import LiveServer
from tools.metrics_text import request_count

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


# Chunked bodies (RFC 9112 7.1) h11 would read, in some way; each is refused instead.
TOO_LONG = "chunk size longer than 16 hex digits"
FOLDED = "obsolete line folding in the trailer section"
AS_TRAILER = "{} sent as a trailer field".format
OVERSIZED = "chunk lines and trailers larger than 16384 bytes"
# (name, body after a `Transfer-Encoding: chunked` head, the reason in the 400's message)
CHUNKED_REFUSED = [
    # Line ends: CRLF, nothing else (2.2), in chunk lines, after data, in trailers.
    ("last-chunk-ended-by-bare-lf", b"0\r\n\n", "bare LF in the trailer section"),
    ("chunk-size-bare-lf", b"2\nab\r\n0\r\n\r\n", "bare LF in a chunk line"),
    ("last-chunk-bare-lf", b"0\n\r\n", "bare LF in a chunk line"),
    ("chunk-size-bare-cr", b"2\rab\r\n0\r\n\r\n", "bare CR in a chunk line"),
    ("data-without-crlf", b"2\r\nabc0\r\n\r\n", "chunk data not followed by CRLF"),
    ("data-ended-by-bare-lf", b"2\r\nab\n0\r\n\r\n", "chunk data not followed by CRLF"),
    ("data-ended-by-bare-cr", b"2\r\nab\r0\r\n\r\n", "chunk data not followed by CRLF"),
    # Chunk sizes: 1 to 16 hex digits, nothing around them.
    ("size-hex-prefix", b"0x2\r\nab\r\n0\r\n\r\n", "invalid chunk size"),
    ("size-signed", b"+2\r\nab\r\n0\r\n\r\n", "invalid chunk size"),
    ("size-empty", b"\r\nab\r\n0\r\n\r\n", "invalid chunk size"),
    ("size-underscore", b"1_0\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n", "invalid chunk size"),
    ("size-trailing-space", b"2 \r\nab\r\n0\r\n\r\n", "invalid chunk size"),
    ("size-trailing-tab", b"2\t\r\nab\r\n0\r\n\r\n", "invalid chunk size"),
    ("size-leading-space", b" 2\r\nab\r\n0\r\n\r\n", "invalid chunk size"),
    ("size-space-before-extension", b"2 ;a=b\r\nab\r\n0\r\n\r\n", "invalid chunk size"),
    ("size-2-to-the-64", b"1" + b"0" * 16 + b"\r\nab\r\n0\r\n\r\n", TOO_LONG),
    ("size-zero-padded", b"0" * 17 + b"2\r\nab\r\n0\r\n\r\n", TOO_LONG),
    ("last-chunk-zero-padded", b"0" * 17 + b"\r\n\r\n", TOO_LONG),
    # Chunk extensions (7.1.1): `;name` or `;name=value`, tokens or quoted strings.
    ("extension-control", b"2;a\x01b\r\nab\r\n0\r\n\r\n", "control character in a chunk extension"),
    ("extension-nul", b"2;a=\x00\r\nab\r\n0\r\n\r\n", "control character in a chunk extension"),
    ("extension-del", b"2;a=b\x7f\r\nab\r\n0\r\n\r\n", "control character in a chunk extension"),
    ("extension-bare-cr", b"2;a\rb\r\nab\r\n0\r\n\r\n", "bare CR in a chunk line"),
    ("extension-bare-lf-in-quotes", b'2;a="b\nc"\r\nab\r\n0\r\n\r\n', "bare LF in a chunk line"),
    ("extension-whitespace", b"2;a = b\r\nab\r\n0\r\n\r\n", "invalid chunk extension"),
    ("extension-tab", b"2;a=b\t\r\nab\r\n0\r\n\r\n", "invalid chunk extension"),
    ("extension-no-name", b"2;=b\r\nab\r\n0\r\n\r\n", "invalid chunk extension"),
    ("extension-empty", b"2;\r\nab\r\n0\r\n\r\n", "invalid chunk extension"),
    ("extension-unclosed-quote", b'2;a="b\r\nab\r\n0\r\n\r\n', "invalid chunk extension"),
    ("extension-after-quote", b'2;a="b"c\r\nab\r\n0\r\n\r\n', "invalid chunk extension"),
    ("last-chunk-extension-separator", b"0;a,b\r\n\r\n", "invalid chunk extension"),
    # The trailer section (7.1.2): field lines as in a head, and no field the head needs.
    ("trailer-bare-lf", b"0\r\nX-A: 1\n\r\n", "bare LF in the trailer section"),
    ("trailer-obs-fold", b"0\r\nX-A: 1\r\n 2\r\n\r\n", FOLDED),
    ("trailer-blank-line", b"0\r\n \r\n\r\n", FOLDED),
    ("trailer-bare-cr", b"0\r\nX-A: 1\r2\r\n\r\n", "bare CR in the trailer section"),
    ("trailer-control", b"0\r\nX-A: 1\x002\r\n\r\n", "control character in the trailer section"),
    ("bytes-after-last-chunk", b"0\r\nab\r\n\r\n", "invalid trailer field"),
    ("trailer-space-before-colon", b"0\r\nX-A : 1\r\n\r\n", "invalid trailer field"),
    ("trailer-no-name", b"0\r\n: 1\r\n\r\n", "invalid trailer field"),
    ("trailer-content-length", b"0\r\nContent-Length: 5\r\n\r\n", AS_TRAILER("content-length")),
    ("trailer-te", b"0\r\nTransfer-Encoding: x\r\n\r\n", AS_TRAILER("transfer-encoding")),
    ("trailer-host", b"0\r\nHOST: y\r\n\r\n", AS_TRAILER("host")),
    ("trailer-authorization", b"0\r\nAuthorization: Token t\r\n\r\n", AS_TRAILER("authorization")),
    # 7.1.1: chunk lines and trailers are limited (here to the head limit, 16 KiB).
    ("extension-oversized", b"2;a=" + b"b" * 16_400 + b"\r\nab\r\n0\r\n\r\n", OVERSIZED),
]  # fmt: skip

# Chunked bodies as the grammar has them: served, and the connection kept.
CHUNKED_ACCEPTED = [
    ("extension-token", b"2;ext=1\r\nab\r\n0\r\n\r\n"),
    ("extensions-quoted", b'2;a="x \\"y\\" z";b\r\nab\r\n0;c=d\r\n\r\n'),
    ("sizes-upper-case-zero-padded", b"000A\r\n0123456789\r\n0000\r\n\r\n"),
    ("size-16-digits", b"0000000000000002\r\nab\r\n0\r\n\r\n"),
    ("trailer-field", b"2\r\nab\r\n0\r\nX-Checksum: \tab c \r\nX-Empty:\r\n\r\n"),
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


def send_in_pieces(sock: socket.socket, head: bytes, rest: bytes, piece: int = 1) -> None:
    """The head, then `rest` `piece` bytes per write, until the server closes."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(head)
    for at in range(0, len(rest), piece):
        try:
            sock.sendall(rest[at : at + piece])
        except OSError:
            return  # refused and closed: the rest is not read
        time.sleep(0.001)  # one write, one segment, most often one read


def rest_until_closed(sock: socket.socket) -> bytes:
    """What the server sends until it closes (a reset, after our writes, counts)."""
    try:
        return wait_for_close(sock, PATIENCE)
    except ConnectionResetError:
        return b""


def assert_chunked_refusal(response: RawResponse, reason: str) -> None:
    assert response.status == 400, reason
    assert response.header("X-Platform-Error-Code") == "invalid"
    assert response.header("X-Influxdb-Version") == "v2.7.12"
    assert response.will_close
    message = f"malformed HTTP request: {reason}"
    assert json.loads(response.body) == {"code": "invalid", "message": message}


@pytest.mark.parametrize(
    ("name", "body", "reason"), CHUNKED_REFUSED, ids=[c[0] for c in CHUNKED_REFUSED]
)
def test_lenient_chunked_body_is_refused_and_the_connection_closed(
    live: LiveServer, name: str, body: bytes, reason: str
) -> None:
    piece = 1 if len(body) < 100 else 1000
    with connect(live) as sock:
        send_in_pieces(sock, req(CHUNKED), body + SMUGGLED, piece)
        response = read_response(sock)
        rest = rest_until_closed(sock)
    assert_chunked_refusal(response, reason)
    assert rest == b""  # nothing more was answered: the smuggled request was not read


@pytest.mark.parametrize(("name", "body"), CHUNKED_ACCEPTED, ids=[c[0] for c in CHUNKED_ACCEPTED])
def test_chunked_body_as_the_grammar_has_it_is_served(
    live: LiveServer, name: str, body: bytes
) -> None:
    with connect(live) as sock:
        send_in_pieces(sock, req(CHUNKED), body + SMUGGLED)
        first, second = read_responses(sock, 2)
    assert first.status == 204, name
    assert second.status == 200, name


def test_bytes_after_a_chunked_body_that_closes_the_connection_are_never_read(
    live: LiveServer,
) -> None:
    head = req(CHUNKED, b"Connection: close")
    with connect(live) as sock:
        send_in_pieces(sock, head, b"2\r\nab\r\n0\r\n\r\n" + SMUGGLED)
        received = rest_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 204 ") and received.count(b"HTTP/1.1 ") == 1


def test_refused_chunked_body_is_counted_as_the_apps_refusals_are(
    start_server: StartServer,
) -> None:
    live = start_server()
    with connect(live) as sock:
        send_in_pieces(sock, req(CHUNKED), b"2\r\nab\r\n0\r\nContent-Length: 9\r\n\r\n")
        assert_chunked_refusal(read_response(sock), "content-length sent as a trailer field")
    with connect(live) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        metrics = read_response(sock).body.decode()
    refused = {"path": "/ping", "method": "none", "user_agent": "none", "status": "4XX"}
    assert request_count(metrics, response_code="400", **refused) == 1
    assert (
        'reason="malformed HTTP request' not in live.log()
    )  # the app's refusal, not the protocol's
    assert "content-length sent as a trailer field" in live.log()


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


_tokens = st.text("abcXYZ019!#$%&'*+.^_`|~-", min_size=1, max_size=6).map(str.encode)
_quoted = st.text('ab \t\\"()', max_size=6).map(
    lambda text: b'"' + text.replace("\\", "\\\\").replace('"', '\\"').encode() + b'"'
)
_extensions = st.lists(
    st.tuples(_tokens, st.none() | _tokens | _quoted).map(
        lambda pair: b";" + pair[0] + (b"" if pair[1] is None else b"=" + pair[1])
    ),
    max_size=3,
).map(b"".join)
_chunks = st.lists(
    st.tuples(st.binary(min_size=1, max_size=40), st.integers(0, 3), _extensions), max_size=5
)
_trailers = st.lists(
    st.tuples(st.sampled_from([b"X-Checksum", b"Digest", b"x-t"]), st.text("ab c\t1", max_size=8)),
    max_size=2,
)


@settings(max_examples=examples(300), deadline=None)
@given(chunks=_chunks, last=_extensions, trailers=_trailers, cuts=st.lists(st.integers(1, 7)))
def test_body_the_grammar_allows_ends_where_h11_ends_it_however_it_arrives(
    chunks: list[tuple[bytes, int, bytes]],
    last: bytes,
    trailers: list[tuple[bytes, str]],
    cuts: list[int],
) -> None:
    body = b"".join(
        b"%0*X%s\r\n%s\r\n" % (zeros + 1, len(data), extensions, data)
        for data, zeros, extensions in chunks
    )
    body += b"0" + last + b"\r\n"
    body += b"".join(name + b":" + value.encode() + b"\r\n" for name, value in trailers)
    body += b"\r\n"
    judged = ChunkedBody(16384)
    at = 0
    for cut in [*cuts, len(body)]:
        assert not judged.done  # not before its last byte
        judged.feed(body[at : at + cut] + (SMUGGLED if at + cut >= len(body) else b""))
        at += cut
        if at >= len(body):
            break
    assert judged.problem is None and judged.done
    # h11 reads the same body to the same end: what follows is the next request.
    parser = h11.Connection(h11.SERVER)
    parser.receive_data(req(CHUNKED) + body + SMUGGLED)
    events = []
    while not isinstance(event := parser.next_event(), h11.EndOfMessage):
        events.append(event)
    assert b"".join(e.data for e in events if isinstance(e, h11.Data)) == b"".join(
        data for data, _, _ in chunks
    )
    assert parser.trailing_data[0] == SMUGGLED
