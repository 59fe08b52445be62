"""HTTP/1.1 over a plain socket: the caller decides every byte of the request, h11's
client side frames every response.

Clients such as requests or http.client refuse to send malformed methods, targets or
header values, which are what fuzz and limit tests send, and cannot show what a server
sends after a response that has no body (HEAD, 204). Here the request is bytes, and
each response is read with a fresh h11 client state machine told only what framing
depends on (whether the request was a HEAD), so HEAD, 204, 304, chunked,
close-delimited and pipelined answers are framed as RFC 9112 says, and the bytes
beyond them stay readable.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType

import h11

HOST = "127.0.0.1"
READ_CHUNK = 64 * 1024
# Larger than h11's default (16 KiB): a server's head may legitimately be long, and a
# client that reads anything should say so rather than stop early.
MAX_HEAD_BYTES = 64 * 1024
SHOWN_START = 80  # bytes of a non-HTTP answer quoted in the error


class NoResponse(ConnectionError):
    """The server closed the connection before a response began."""


class InvalidResponse(ValueError):
    """What came is not a complete HTTP/1.1 response."""


@dataclass(frozen=True)
class RawResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]  # as received, names in their case, in order
    body: bytes  # as framed, still compressed if it was
    will_close: bool  # the server closes the connection after this response
    http_version: str = "1.1"

    def header(self, name: str) -> str | None:
        return next(iter(self.header_values(name)), None)

    def header_values(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]


def build_request(
    method: bytes,
    target: bytes,
    headers: Iterable[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    version: bytes = b"HTTP/1.1",
) -> bytes:
    lines = [method + b" " + target + b" " + version]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class ResponseReader:
    """Reads the responses of one connection in order; what arrives beyond the last
    response read is kept for the next read (pipelining) or for `rest()`."""

    def __init__(self, sock: socket.socket, max_body: int | None = None) -> None:
        self.sock = sock
        self.max_body = max_body
        self._connection: h11.Connection | None = None
        self._unread = b""  # beyond the last response, when its h11 state is let go
        self._closed = False  # the server's end of the connection is closed

    @property
    def unread(self) -> bytes:
        """Bytes received beyond the responses read."""
        if self._connection is not None:
            return self._connection.trailing_data[0]
        return self._unread

    def read(self, method: str = "GET", deadline: float | None = None) -> RawResponse:
        """The next response; `method` is the request's (a HEAD answer has no body);
        `deadline` (a time.monotonic() value) bounds the whole read."""
        connection, start = self._prepare(method)
        head: h11.Response | None = None
        body = bytearray()
        try:
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    data = self._receive(deadline)
                    start += data[: max(0, SHOWN_START - len(start))]
                    self._closed = not data
                    connection.receive_data(data)  # b"": the server closed
                elif isinstance(event, h11.Response):
                    head = event
                elif isinstance(event, h11.Data):
                    body += event.data
                    if self.max_body is not None and len(body) > self.max_body:
                        raise InvalidResponse(f"the body is over {self.max_body} bytes")
                elif isinstance(event, h11.EndOfMessage):
                    break
                # 1xx informational responses are skipped: the final one follows.
        except h11.RemoteProtocolError as err:
            self._connection = None
            raise _unreadable(start, head, self._closed, err) from None
        assert head is not None  # h11 ends a message only after its head
        will_close = connection.their_state is h11.MUST_CLOSE or self._closed
        if will_close:  # h11 reads no further response here; keep the bytes for rest()
            self._unread, self._closed = connection.trailing_data
            self._connection = None
        return RawResponse(
            head.status_code,
            head.reason.decode("latin-1"),
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers.raw_items()],
            bytes(body),
            will_close,
            head.http_version.decode("ascii"),
        )

    def _prepare(self, method: str) -> tuple[h11.Connection, bytes]:
        """An h11 client ready for the next response, and the start of that response as
        far as it is known (for error messages)."""
        connection = self._connection
        start = b""
        if connection is not None and connection.states == {
            h11.CLIENT: h11.DONE,
            h11.SERVER: h11.DONE,
        }:
            connection.start_next_cycle()  # keep-alive: the buffered bytes stay in h11
        else:
            connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
            start = self._unread[:SHOWN_START]
            if self._unread:
                connection.receive_data(self._unread)
            if self._closed:
                connection.receive_data(b"")  # h11's way of saying the peer closed
            self._unread = b""
        # h11 pairs a response with a request: this stand-in tells it what framing
        # depends on. The bytes really sent were the caller's.
        framing_method = "HEAD" if method.upper() == "HEAD" else "GET"
        connection.send(h11.Request(method=framing_method, target="/", headers=[("Host", "x")]))
        connection.send(h11.EndOfMessage())
        self._connection = connection
        return connection, start

    def rest(self, limit: int, quiet: float, deadline: float | None = None) -> bytes:
        """What the server sends beyond the responses read, until it closes, stays
        silent for `quiet` seconds, or `limit` bytes have come."""
        received = self.unread
        self._connection, self._unread = None, b""
        while not self._closed and len(received) < limit:
            wait = quiet if deadline is None else min(quiet, deadline - time.monotonic())
            if wait <= 0:
                break
            self.sock.settimeout(wait)
            try:
                chunk = self.sock.recv(READ_CHUNK)
            except OSError:  # a timeout too: the server keeps the connection open
                break
            self._closed = not chunk
            received += chunk
        return received[:limit]

    def _receive(self, deadline: float | None) -> bytes:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the time to read the response is up")
            self.sock.settimeout(left)
        return self.sock.recv(READ_CHUNK)


def _unreadable(
    start: bytes, head: h11.Response | None, closed: bool, err: h11.RemoteProtocolError
) -> Exception:
    if head is not None:
        return InvalidResponse(f"the response is cut short or malformed: {err}")
    if not start and closed:
        return NoResponse("the server closed the connection without answering")
    first_line = start.split(b"\n", 1)[0].rstrip(b"\r")
    if first_line and not first_line.startswith(b"HTTP/"):
        shown = first_line[:SHOWN_START].decode("latin-1")
        return InvalidResponse(f"the answer is not HTTP: {shown!r}")
    return InvalidResponse(f"the answer is not valid HTTP: {err}")


def read_response(sock: socket.socket, method: str = "GET") -> RawResponse:
    """One response off `sock`; bytes beyond it are dropped (use a ResponseReader to
    read several)."""
    return ResponseReader(sock).read(method)


def read_responses(sock: socket.socket, count: int, method: str = "GET") -> list[RawResponse]:
    """`count` pipelined responses, in order, off one connection."""
    reader = ResponseReader(sock)
    return [reader.read(method) for _ in range(count)]


class RawClient:
    """One connection at a time to the server on `port`, reopened when it closes."""

    def __init__(self, port: int, timeout: float = 15.0, host: str = HOST) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.reader: ResponseReader | None = None
        self.connections = 0

    def connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self.reader = ResponseReader(self.sock)
            self.connections += 1
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = self.reader = None

    def exchange(self, data: bytes, method: str = "GET") -> RawResponse:
        """Send `data` (a whole request) and read one response."""
        sock = self.connect()
        sock.sendall(data)
        assert self.reader is not None
        response = self.reader.read(method)
        if response.will_close:
            self.close()
        return response

    def request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> RawResponse:
        encoded = [(name.encode(), value.encode()) for name, value in headers]
        if not any(name.lower() == b"host" for name, _ in encoded):
            encoded.insert(0, (b"Host", f"{self.host}:{self.port}".encode()))
        data = build_request(method.encode(), target.encode(), encoded, body)
        return self.exchange(data, method)

    def __enter__(self) -> RawClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def wait_for_close(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection; TimeoutError when
    it stays open and silent for `timeout` seconds."""
    sock.settimeout(timeout)
    received = b""
    while True:
        chunk = sock.recv(READ_CHUNK)
        if not chunk:
            return received
        received += chunk
