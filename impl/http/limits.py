"""Per-request limits, answered with InfluxDB errors before routing, and `Limits`: every
limit of the HTTP room, shared by this layer and the protocol.

Inside Observe, so every refusal carries the identity headers, is counted in
http_api_requests_total and written to the access log (connection-level limits are in
impl/http/protocol.py). Every refusal closes the connection: the refused body may be
unread, and what is left of it must never be parsed as the next request. A request not
refused has had its body read in full before the app sees it: no connection is left half-read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

from starlette.types import Message, Receive, Scope, Send

from impl.errors import InfluxError
from impl.http.asgi import Layer, send_error

log = logging.getLogger(__name__)

# No served operation takes a body (the spec declares no requestBody), but some clients send
# a small one with a GET anyway, e.g. `{}`: influxd ignores it, and so does this service, up
# to this size. A larger one gets 413 before it is read: no request buffers more than this.
MAX_BODY_BYTES = 1024
BODY_TOO_LARGE = f"request body larger than {MAX_BODY_BYTES} bytes"

TOO_MANY_CONNECTIONS = "too many open connections"


@dataclass(frozen=True)
class Limits:
    """The limits of the HTTP room, built once from Config (impl/server/serving.py:limits)
    and named as its settings are; the protocol and RequestLimits read them."""

    max_header_size: int
    header_timeout: float
    keep_alive_timeout: float
    send_timeout: float
    max_connections: int


# Where the protocol (impl/http/protocol.py) leaves an `Arrival` in scope["extensions"].
ARRIVAL = "influxdb_sysinfo.arrival"


class Arrival(NamedTuple):
    """What only the protocol knows of a request: the exact size of its head as sent
    (request line, header lines, the blank line), and the connections open when it came."""

    head_bytes: int
    open_connections: int


class Body(NamedTuple):
    """What the request head says of its body."""

    content_length: int | None
    expected: bool


def declared_body(scope: Scope) -> Body:
    content_length: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            # h11 has checked it (digits; repeated ones agree); other servers may not.
            content_length = int(value)
        elif name == b"transfer-encoding":
            chunked = True  # h11 accepts chunked as the only transfer coding
    return Body(content_length, chunked or bool(content_length))


@dataclass
class RequestLimits(Layer):
    """Refuses requests beyond the configured limits; reads small bodies in full."""

    limits: Limits

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body_declared = declared_body(scope)
        # Served by another server than the protocol (in-process tests), there is none.
        arrival = scope.get("extensions", {}).get(ARRIVAL)
        try:
            if isinstance(arrival, Arrival):
                if arrival.open_connections > self.limits.max_connections:
                    raise InfluxError("unavailable", TOO_MANY_CONNECTIONS)
                if arrival.head_bytes > self.limits.max_header_size:
                    # h11 refuses a head that outgrows its buffer unfinished; this one
                    # arrived complete in one read.
                    raise InfluxError("request too large", "request header fields too large", 431)
            length = body_declared.content_length
            if length is not None and length > MAX_BODY_BYTES:
                raise InfluxError("request too large", BODY_TOO_LARGE)
            body = await self._read_body(receive) if body_declared.expected else None
        except InfluxError as refused:
            log.warning("request refused: %s", refused)
            await send_error(send, refused, close=True)
            return
        if not body_declared.expected:
            await self.app(scope, receive, send)
        elif body is not None:  # None: the client went away; there is nobody to answer
            await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None if the client disconnected; raises InfluxError, as
        `receive` does when the protocol refuses the body (malformed, too slow, or shed
        to make room at the connection limit)."""
        chunks: list[bytes] = []
        size = 0
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


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then what the server says."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay
