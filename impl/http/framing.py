"""Request framing held to RFC 9112, where h11 is lenient: no smuggling through here.

Request smuggling needs two HTTP parsers, say a proxy and this service, to disagree on
where a request ends. h11 is strict about most of that (conflicting Content-Length
values, Transfer-Encodings other than chunked, whitespace before a colon, several Host
headers), but accepts some shapes other parsers read differently. Each is refused here
with a 400 and the connection closed. In the head:

- Content-Length and Transfer-Encoding together (RFC 9112 6.1: "ought to be handled
  as an error"; h11 lets Transfer-Encoding win, a proxy might take the length);
- Transfer-Encoding in an HTTP/1.0 request (6.1: the framing is faulty);
- a bare LF ending a line of the head (2.2 lets a recipient accept it; a proxy that
  does not sees one line where h11 sees two);
- a bare CR in the head (2.2: invalid, or to be replaced by a space);
- obsolete line folding (5.2: reject or replace with a space; h11 replaces it, so
  `X: a\\r\\n Transfer-Encoding: chunked` would be one header here and two elsewhere).

In a chunked body (7.1), which h11 reads loosely (a chunk line is a size, then anything
up to CRLF; the trailer section ends at a bare LF and is unfolded), anything but the
grammar itself (`ChunkedBody`).
"""

from __future__ import annotations

import re
from enum import Enum, auto
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


# RFC 9110 5.6.2 and 5.6.4, RFC 9112 7.1.1: a chunk line is its size, hex digits, and
# extensions, each `;name` or `;name=value`, the value a token or a quoted string.
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x20-\x7e\x80-\xff])*"'
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]*")
_CHUNK_EXTENSIONS = re.compile(rb"(?:;%s(?:=(?:%s|%s))?)*" % (_TOKEN, _TOKEN, _QUOTED))
# A trailer field line (RFC 9110 5.5): name, colon, then value and optional whitespace.
_FIELD_LINE = re.compile(rb"(%s):[\t \x21-\x7e\x80-\xff]*" % _TOKEN)
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# 16 hex digits hold any 64-bit size: a parser that keeps fewer bits reads a longer
# size as another (2**64 + 2 as 2), so none is read here (Go's net/http stops there too).
MAX_CHUNK_SIZE_DIGITS = 16
# RFC 9110 6.5.1: fields that must not be trailers, since they are needed before the
# content (framing, routing, connection, request modifiers, authentication, content
# format). A proxy that merges trailers into the head would act on them; this service
# ignores trailers. So a request carrying one is refused instead of read two ways.
NOT_TRAILERS = frozenset(
    {
        "content-length", "transfer-encoding", "trailer", "te", "connection", "keep-alive",
        "proxy-connection", "upgrade", "host", "forwarded", "x-forwarded-for",
        "x-forwarded-host", "x-forwarded-proto", "expect", "max-forwards", "range",
        "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range",
        "cache-control", "pragma", "authorization", "proxy-authorization", "cookie",
        "content-encoding", "content-type", "content-range",
    }
)  # fmt: skip


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
    the last stopped, as h11's own does: a head sent a byte at a time is read once. A
    chunked body is judged as its bytes arrive, from where its head ended; what is wrong
    with it is raised before h11 reads past it."""

    def __init__(self, head_limit: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=head_limit)
        self._head_limit = head_limit
        self._searched = 0  # bytes of the waiting head known not to complete it
        self._body: ChunkedBody | None = None  # the chunked body being received
        self.head_bytes = 0  # the exact size of the last request head, as sent

    def receive_data(self, data: bytes) -> None:
        super().receive_data(data)
        if self._body is not None and not self._body.done:
            self._body.feed(data)

    def next_event(self) -> Any:
        if self._body is not None and self._body.problem is not None:
            raise FramingError(self._body.problem)
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
            self._body = ChunkedBody(self._head_limit) if chunked else None
            if self._body is not None:
                # The body starts where h11 ended the head; a problem in what has
                # arrived of it is raised at the next call, once the request is out.
                self._body.feed(self.trailing_data[0])
        return event


class _Part(Enum):
    SIZE_LINE = auto()
    DATA = auto()
    DATA_END = auto()
    TRAILER = auto()
    END = auto()


class ChunkedBody:
    """A chunked body held to RFC 9112 7.1 as its raw bytes arrive, before h11 parses
    them: CRLF line ends only; a chunk size of 1 to 16 hex digits; extensions of tokens
    and quoted strings, without whitespace (BWS, which no sender may generate) or control
    characters; CRLF right after the data; trailer fields of token names and visible
    values, none folded and none RFC 9110 keeps out of trailers. Chunk lines and trailers
    together may take `metadata_limit` bytes (7.1.1: "a server ought to limit" them).
    `problem` names the first rule broken, never the bytes; `done` once the body ended,
    after which nothing more is read (what follows is the next request)."""

    def __init__(self, metadata_limit: int) -> None:
        self.problem: str | None = None
        self._part = _Part.SIZE_LINE
        self._line = bytearray()  # the chunk line, trailer line or data end read so far
        self._data_left = 0
        self._metadata_left = metadata_limit
        self._metadata_limit = metadata_limit

    @property
    def done(self) -> bool:
        return self._part is _Part.END

    def feed(self, data: bytes | bytearray) -> None:
        at = 0
        while at < len(data) and self.problem is None and self._part is not _Part.END:
            if self._part is _Part.DATA:
                taken = min(self._data_left, len(data) - at)
                self._data_left -= taken
                at += taken
                if not self._data_left:
                    self._part = _Part.DATA_END
            elif self._part is _Part.DATA_END:
                piece = data[at : at + 2 - len(self._line)]
                self._line += piece
                at += len(piece)
                if not b"\r\n".startswith(self._line):
                    self.problem = "chunk data not followed by CRLF"
                elif len(self._line) == 2:
                    self._line.clear()
                    self._part = _Part.SIZE_LINE
            else:
                newline = data.find(b"\n", at)
                end = len(data) if newline < 0 else newline + 1
                self._metadata_left -= end - at
                if self._metadata_left < 0:
                    self.problem = (
                        f"chunk lines and trailers larger than {self._metadata_limit} bytes"
                    )
                    return
                self._line += data[at:end]
                at = end
                if newline >= 0:
                    line = bytes(self._line)
                    self._line.clear()
                    if self._part is _Part.SIZE_LINE:
                        self._chunk_line(line)
                    else:
                        self._trailer_line(line)

    def _chunk_line(self, line: bytes) -> None:
        if not line.endswith(b"\r\n"):
            self.problem = "bare LF in a chunk line"
            return
        line = line[:-2]
        digits = _CHUNK_SIZE.match(line).group()  # type: ignore[union-attr]  # matches ""
        extensions = line[len(digits) :]
        if b"\r" in line:
            self.problem = "bare CR in a chunk line"
        elif not digits or extensions[:1] not in (b"", b";"):
            self.problem = "invalid chunk size"
        elif len(digits) > MAX_CHUNK_SIZE_DIGITS:
            self.problem = f"chunk size longer than {MAX_CHUNK_SIZE_DIGITS} hex digits"
        elif _CONTROL.search(extensions):
            self.problem = "control character in a chunk extension"
        elif not _CHUNK_EXTENSIONS.fullmatch(extensions):
            self.problem = "invalid chunk extension"
        elif size_value := int(digits, 16):
            self._data_left = size_value
            self._part = _Part.DATA
        else:
            self._part = _Part.TRAILER  # the last chunk

    def _trailer_line(self, line: bytes) -> None:
        if not line.endswith(b"\r\n"):
            self.problem = "bare LF in the trailer section"
            return
        line = line[:-2]
        if not line:
            self._part = _Part.END
        elif b"\r" in line:
            self.problem = "bare CR in the trailer section"
        elif line[:1] in (b" ", b"\t"):
            self.problem = "obsolete line folding in the trailer section"
        elif _CONTROL.search(line):
            self.problem = "control character in the trailer section"
        elif (field := _FIELD_LINE.fullmatch(line)) is None:
            self.problem = "invalid trailer field"
        elif (name := field.group(1).decode("ascii").lower()) in NOT_TRAILERS:
            self.problem = f"{name} sent as a trailer field"
