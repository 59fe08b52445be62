"""A response head leaves with its first body bytes, in one write.

uvicorn writes each h11 event as h11 serializes it: the head, then the body, two
`transport.write` calls and so two `send` system calls (and two TCP segments) for a
response that fits in one. Here the head's bytes are kept back and handed out with
the next event's, so a whole small response leaves in one write. Nothing waits for
them: the app's layers send a response's head and its first body message back to back
(impl/http/observe.py holds the head until the body comes), and every other way out
(uvicorn's plain-text 400 and 500, the protocol's refusals) sends both alike. What
h11 says of the connection's state is unchanged: every event still goes through it.
"""

from __future__ import annotations

import h11

from impl.http.framing import StrictConnection


class CoalescingConnection(StrictConnection):
    """StrictConnection whose `send` returns a final response head's bytes together with
    those of the event after it (b"" in its own place)."""

    def __init__(self, head_limit: int) -> None:
        super().__init__(head_limit)
        self._head: list[bytes] = []  # the bytes of a response head not handed out yet

    def send_with_data_passthrough(self, event: h11.Event) -> list[bytes] | None:
        data = super().send_with_data_passthrough(event)
        if type(event) is h11.Response:
            self._head = data or []
            return []
        if self._head and data is not None:
            data, self._head = [*self._head, *data], []
        return data


# Response headers whose presence makes h11 rewrite a head (framing, connection) or
# reorder it (host): a response carrying one is written through h11 event by event.
_REWRITTEN = frozenset({b"transfer-encoding", b"connection", b"host"})
_CONTENT_LENGTH = b"content-length"
# Statuses h11 frames as empty whatever their headers say.
_EMPTY_STATUSES = frozenset({204, 304})
# Header lines known to stand in a head as they are given (see _as_given); emptied when full.
_KEPT_LINES = 4096
_lines: dict[tuple[bytes, bytes], bytes] = {}


def _line(pair: tuple[bytes, bytes]) -> bytes | None:
    """`name: value\\r\\n` if h11 writes the header as it is given (valid, and not
    normalized), else None."""
    if type(pair) is not tuple:  # ASGI allows any pair of byte strings: a list too
        return None
    line = _lines.get(pair)
    if line is None:
        try:
            written = h11.Response(status_code=200, headers=[pair]).headers.raw_items()
        except h11.LocalProtocolError:
            return None
        if written != [pair]:
            return None
        if len(_lines) >= _KEPT_LINES:
            _lines.clear()
        line = _lines[pair] = b"%s: %s\r\n" % pair
    return line


class WholeResponses(CoalescingConnection):
    """CoalescingConnection that also writes a whole response at once, from its status,
    headers and body, as h11 writes it from the three events (Response, Data,
    EndOfMessage), and with h11's state advanced by the same events; most of h11's
    per-header work is skipped: what h11 would add to the head (Connection: close) is
    found from a head of the framing header alone, which h11 frames the same way."""

    def whole_response(
        self,
        status: int,
        reason: bytes,
        headers: list[tuple[bytes, bytes]],
        data: bytes,
        *,
        head_request: bool,
    ) -> bytes | None:
        """The response's bytes, or None (and nothing done) when h11 would write it
        otherwise than as given, or refuse it: then it is to be sent event by event."""
        if type(status) is not int or status < 200 or self.our_state is not h11.SEND_RESPONSE:
            return None
        lines = []
        length: tuple[bytes, bytes] | None = None
        for pair in headers:
            line = _line(pair)
            if line is None:
                return None
            name = pair[0].lower()
            if name in _REWRITTEN:
                return None
            if name == _CONTENT_LENGTH:
                if length is not None:
                    return None
                length = pair
            lines.append(line)
        if head_request or status in _EMPTY_STATUSES:
            expected = 0  # h11 frames these as empty, and sends no body
        elif length is not None:
            expected = int(length[1])
        else:
            return None  # h11 would frame it chunked, and say so in the head
        if len(data) != expected:
            return None  # h11 refuses it
        send = StrictConnection.send_with_data_passthrough
        status_line = b"HTTP/1.1 %d %s\r\n" % (status, reason)
        framing = [length] if length is not None else []
        probe = h11.Response(status_code=status, headers=framing, reason=reason)
        written = b"".join(send(self, probe) or ())
        given = status_line + b"".join(b"%s: %s\r\n" % pair for pair in framing)
        assert written.startswith(given) and written.endswith(b"\r\n"), written
        added = written[len(given) : -2]  # after the lines given, before the blank line
        out = [status_line, *lines, added, b"\r\n"]
        out += send(self, h11.Data(data=data)) or ()
        out += send(self, h11.EndOfMessage()) or ()
        return b"".join(out)
