"""A response written at once (impl/http/coalesce.py) is the bytes h11 writes from its
events one by one, and leaves h11 in the same state; what h11 would write otherwise
than as given, or refuse, is declined with nothing done."""

from __future__ import annotations

from typing import TypeVar

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impl.http.coalesce import CoalescingConnection, WholeResponses
from impl.http.framing import StrictConnection

HEAD_LIMIT = 16 * 1024
DATE = (b"date", b"Mon, 07 Dec 2026 21:01:33 GMT")
IDENTITY = [(b"x-influxdb-build", b"OSS"), (b"x-influxdb-version", b"v2.7.12")]


def request(method: bytes = b"GET", version: bytes = b"1.1", extra: bytes = b"") -> bytes:
    host = b"Host: x\r\n" if version == b"1.1" else b""
    return b"%s /metrics HTTP/%s\r\n%s%s\r\n" % (method, version, host, extra)


Parser = TypeVar("Parser", bound=h11.Connection)


def received(connection: Parser, raw: bytes) -> Parser:
    connection.receive_data(raw)
    while connection.next_event() not in (h11.NEED_DATA, h11.PAUSED):
        pass
    return connection


def by_events(
    raw: bytes, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], data: bytes
) -> tuple[bytes, h11.Connection]:
    connection = received(StrictConnection(HEAD_LIMIT), raw)
    events = [
        h11.Response(status_code=status, headers=headers, reason=reason),
        h11.Data(data=data),
        h11.EndOfMessage(),
    ]
    return b"".join(connection.send(event) or b"" for event in events), connection


def states(connection: h11.Connection) -> tuple[object, object]:
    return connection.our_state, connection.their_state


CASES = [
    # (request, status, reason, headers, data)
    (request(), 200, b"OK", [DATE, (b"content-length", b"5"), *IDENTITY], b"hello"),
    (request(b"HEAD"), 200, b"OK", [DATE, (b"content-length", b"5"), *IDENTITY], b""),
    (request(), 204, b"No Content", [DATE, *IDENTITY], b""),
    (request(), 304, b"Not Modified", [DATE, *IDENTITY], b""),
    (request(), 404, b"Not Found", [(b"Content-Length", b"2"), DATE], b"{}"),
    (request(version=b"1.0"), 200, b"OK", [(b"content-length", b"1")], b"x"),
    (request(extra=b"Connection: close\r\n"), 200, b"OK", [(b"content-length", b"1")], b"x"),
    (request(extra=b"Connection: keep-alive, Close\r\n"), 204, b"No Content", [DATE], b""),
    (request(), 200, b"", [(b"content-length", b"0")], b""),
]


@pytest.mark.parametrize(("raw", "status", "reason", "headers", "data"), CASES)
def test_a_whole_response_is_what_h11_writes_event_by_event(
    raw: bytes, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], data: bytes
) -> None:
    expected, reference = by_events(raw, status, reason, headers, data)
    connection = received(WholeResponses(HEAD_LIMIT), raw)
    assert (
        connection.whole_response(
            status, reason, headers, data, head_request=raw.startswith(b"HEAD")
        )
        == expected
    )
    assert states(connection) == states(reference)


DECLINED = [
    # h11 would frame it chunked (no length), or rewrite, reorder or refuse the head.
    (200, [DATE], b"x"),
    (200, [(b"transfer-encoding", b"chunked")], b"x"),
    (200, [(b"content-length", b"1"), (b"connection", b"close")], b"x"),
    (200, [(b"content-length", b"1"), (b"host", b"x")], b"x"),
    (200, [(b"content-length", b"1"), (b"content-length", b"1")], b"x"),
    (200, [(b"content-length", b" 1")], b"x"),
    (200, [(b"content-length", b"2")], b"x"),  # too little data
    (204, [DATE], b"x"),  # a body where there can be none
    (200, [(b"content-length", b"1"), (b"x-bad", b"a\nb")], b"x"),
    (200, [(b"content-length", b"1"), [b"x-list", b"pair"]], b"x"),
    (101, [], b""),
]


@pytest.mark.parametrize(("status", "headers", "data"), DECLINED)
def test_what_h11_would_write_otherwise_or_refuse_is_declined_with_nothing_done(
    status: int, headers: list[tuple[bytes, bytes]], data: bytes
) -> None:
    connection = received(WholeResponses(HEAD_LIMIT), request())
    before = states(connection)
    assert connection.whole_response(status, b"", headers, data, head_request=False) is None
    assert states(connection) == before


def test_a_second_response_is_declined_once_one_has_been_written() -> None:
    connection = received(WholeResponses(HEAD_LIMIT), request())
    headers = [(b"content-length", b"1")]
    assert connection.whole_response(200, b"OK", headers, b"x", head_request=False)
    assert connection.whole_response(200, b"OK", headers, b"x", head_request=False) is None


def test_the_next_request_is_read_after_a_whole_response() -> None:
    connection = received(WholeResponses(HEAD_LIMIT), request() + request(b"HEAD"))
    assert connection.whole_response(
        200, b"OK", [(b"content-length", b"1")], b"x", head_request=False
    )
    connection.start_next_cycle()
    event = connection.next_event()
    assert isinstance(event, h11.Request) and event.method == b"HEAD"


def test_a_head_leaves_with_the_next_events_bytes() -> None:
    connection = received(CoalescingConnection(HEAD_LIMIT), request())
    head = connection.send(h11.Response(status_code=200, headers=[(b"content-length", b"1")]))
    assert head == b""
    assert connection.send(h11.Data(data=b"x")) == b"HTTP/1.1 200 \r\ncontent-length: 1\r\n\r\nx"
    assert connection.send(h11.EndOfMessage()) == b""


_names = st.sampled_from([b"content-type", b"Vary", b"x-a", b"X-Influxdb-Build", b"cache-control"])
_values = st.binary(min_size=0, max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    headers=st.lists(st.tuples(_names, _values), max_size=6),
    body=st.binary(max_size=20),
    head_request=st.booleans(),
    version=st.sampled_from([b"1.0", b"1.1"]),
)
def test_any_headers_are_written_as_h11_writes_them_or_declined(
    headers: list[tuple[bytes, bytes]], body: bytes, head_request: bool, version: bytes
) -> None:
    raw = request(b"HEAD" if head_request else b"GET", version)
    full = [*headers, (b"content-length", str(len(body)).encode())]
    data = b"" if head_request else body
    connection = received(WholeResponses(HEAD_LIMIT), raw)
    written = connection.whole_response(200, b"OK", full, data, head_request=head_request)
    try:
        expected, reference = by_events(raw, 200, b"OK", full, data)
    except h11.LocalProtocolError:
        assert written is None  # h11 refuses it: declined
        return
    if written is not None:
        assert written == expected
        assert states(connection) == states(reference)
