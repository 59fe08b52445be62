"""Request framing held to RFC 9112, where h11 is lenient: no smuggling through here.

Request smuggling needs two HTTP parsers, say a proxy and this service, to disagree on
where a request ends. h11 is strict about most of that (conflicting Content-Length
values, Transfer-Encodings other than chunked, whitespace before a colon, bad chunk sizes,
several Host headers), but accepts some shapes other parsers read differently. Each is
refused here with a 400 and the connection closed:

- Content-Length and Transfer-Encoding together (RFC 9112 6.1: "ought to be handled
  as an error"; h11 lets Transfer-Encoding win, a proxy might take the length);
- Transfer-Encoding in an HTTP/1.0 request (6.1: the framing is faulty);
- a bare LF ending a line of the head (2.2 lets a recipient accept it; a proxy that
  does not sees one line where h11 sees two);
- a bare CR in the head (2.2: invalid, or to be replaced by a space);
- obsolete line folding (5.2: reject or replace with a space; h11 replaces it, so
  `X: a\\r\\n Transfer-Encoding: chunked` would be one header here and two elsewhere).
"""

from __future__ import annotations

import re
from typing import Any

import h11

# Where a request head ends, as h11 finds it (a blank line, CRLF or bare LF).
_HEAD_END = re.compile(rb"\n\r?\n")
_BARE_LF = re.compile(rb"(?<!\r)\n")
_BARE_CR = re.compile(rb"\r(?!\n)")
_OBS_FOLD = re.compile(rb"\n[ \t]")


class FramingError(h11.RemoteProtocolError):
    """Refused framing; `reason`, safe to show the client, names the rule, never the bytes."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, error_status_hint=400)
        self.reason = reason


def head_end(data: bytes, start: int = 0) -> int | None:
    """Where the head at the start of `data` ends (searched from `start`); None if unfinished."""
    end = _HEAD_END.search(data, start)
    return None if end is None else end.end()


def head_problem(head: bytes) -> str | None:
    """What is wrong with a complete request head."""
    if _BARE_LF.search(head):
        return "bare LF in the request head"
    if _BARE_CR.search(head):
        return "bare CR in the request head"
    if _OBS_FOLD.search(head):
        return "obsolete line folding in the request head"
    return None


class StrictConnection(h11.Connection):
    """h11's server connection with the checks above. The head checks read the raw bytes,
    which h11's parse unfolds and strips of CRs. The search for a head's end resumes where
    the last stopped, as h11's own does: a head sent a byte at a time is read once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._searched = 0  # bytes of the waiting head known not to complete it
        self.head_bytes = 0  # the exact size of the last request head, as sent

    def next_event(self) -> Any:
        if self.their_state is h11.IDLE:
            buffered, _closed = self.trailing_data
            end = head_end(buffered, max(0, self._searched - 2))
            if end is None:
                self._searched = len(buffered)
            else:
                problem = head_problem(buffered[:end])
                if problem is not None:
                    raise FramingError(problem)
                self.head_bytes = end
        event = super().next_event()
        if isinstance(event, h11.Request):
            self._searched = 0  # what follows in the buffer is the next head
            names = [name for name, _ in event.headers]
            chunked = b"transfer-encoding" in names
            if chunked and b"content-length" in names:
                raise FramingError("both Content-Length and Transfer-Encoding")
            if chunked and event.http_version == b"1.0":
                raise FramingError("Transfer-Encoding in an HTTP/1.0 request")
        return event
