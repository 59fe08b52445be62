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
