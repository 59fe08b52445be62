"""A response head leaves with the next event's bytes (impl/http/coalesce.py): one
write for a head and its body, the bytes and h11's state as h11 makes them."""

from __future__ import annotations

import h11

from impl.http.coalesce import CoalescingConnection
from impl.http.framing import StrictConnection

REQUEST = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
EVENTS = [
    h11.Response(status_code=200, headers=[(b"content-length", b"1")], reason=b"OK"),
    h11.Data(data=b"x"),
    h11.EndOfMessage(),
]


def received(connection: h11.Connection) -> h11.Connection:
    connection.receive_data(REQUEST)
    while connection.next_event() is not h11.NEED_DATA:
        pass
    return connection


def test_a_head_leaves_with_the_next_events_bytes() -> None:
    coalescing = received(CoalescingConnection(16 * 1024))
    plain = received(StrictConnection(16 * 1024))
    sent = [coalescing.send(event) for event in EVENTS]
    expected = [plain.send(event) or b"" for event in EVENTS]
    assert sent == [b"", expected[0] + expected[1], expected[2]]
    assert (coalescing.our_state, coalescing.their_state) == (plain.our_state, plain.their_state)
