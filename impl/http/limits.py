"""Per-request limits, answered with InfluxDB errors before routing.

Inside Observe, so every refusal carries the identity headers, is counted in
http_api_requests_total and written to the access log (connection-level limits are in
impl/http/protocol.py). Every refusal closes the connection: the refused body may be
unread, and what is left of it must never be parsed as the next request. A request not
refused has had its body read in full before the app sees it: no connection is left half-read.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import NamedTuple

from starlette.types import Message, Receive, Scope, Send

from impl.errors import InfluxError
from impl.http.asgi import Layer, send_error
from impl.http.protocol import OPEN_CONNECTIONS, TOO_MANY_CONNECTIONS

log = logging.getLogger(__name__)

# No served operation takes a body (the spec declares no requestBody), but some clients send
# a small one with a GET anyway, e.g. `{}`: influxd ignores it, and so does this service, up
# to this size. A larger one gets 413 before it is read: no request buffers more than this.
MAX_BODY_BYTES = 1024
BODY_TOO_LARGE = f"request body larger than {MAX_BODY_BYTES} bytes"

# Bytes of the head that scope["headers"] does not hold, so that the size compared with
# the limit is what the client sent: "METHOD SP target SP HTTP/1.1 CRLF" and the CRLF
# that ends the head, and per header ": " and CRLF.
_REQUEST_LINE_OVERHEAD = len("  HTTP/1.1\r\n\r\n")
_HEADER_OVERHEAD = len(": \r\n")


@dataclass(frozen=True)
class Limits:
    max_header_size: int
    max_connections: int
    body_timeout: float


class Framing(NamedTuple):
    """What the request head says about its size and body."""

    head_bytes: int
    content_length: int | None
    has_body: bool


def framing(scope: Scope) -> Framing:
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    head = len(scope["method"]) + len(path) + len(query) + (1 if query else 0)
    head += _REQUEST_LINE_OVERHEAD
    content_length: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        head += len(name) + len(value) + _HEADER_OVERHEAD
        if name == b"content-length" and value.isdigit():
            # h11 has checked it (digits; repeated ones agree); other servers may not.
            content_length = int(value)
        elif name == b"transfer-encoding":
            chunked = True  # h11 accepts chunked as the only transfer coding
    return Framing(head, content_length, chunked or bool(content_length))


@dataclass
class RequestLimits(Layer):
    """Refuses requests beyond the configured limits; reads small bodies in full."""

    limits: Limits

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = framing(scope)
        connections = scope.get("extensions", {}).get(OPEN_CONNECTIONS)
        try:
            if isinstance(connections, int) and connections > self.limits.max_connections:
                raise InfluxError("unavailable", TOO_MANY_CONNECTIONS)
            if request.head_bytes > self.limits.max_header_size:
                raise InfluxError("request too large", "request header fields too large", 431)
            if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
                raise InfluxError("request too large", BODY_TOO_LARGE)
            body = await self._read_body(receive) if request.has_body else None
        except InfluxError as refused:
            log.warning("request refused: %s", refused)
            await send_error(send, refused, close=True)
            return
        if not request.has_body:
            await self.app(scope, receive, send)
        elif body is not None:  # None: the client went away; there is nobody to answer
            await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None if the client disconnected; raises InfluxError."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:  # only a chunked body gets here
                        raise InfluxError("request too large", BODY_TOO_LARGE)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise InfluxError("invalid", "request body timeout", 408) from None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then what the server says."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay
