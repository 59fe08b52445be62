"""uvicorn's h11 protocol with the limits the app cannot enforce itself.

What happens before a request exists is the server's business, and uvicorn's answers
to it are plain text or silence. This subclass keeps uvicorn's parsing and adds:

- a header timeout: uvicorn has none, so a client could hold a connection for ever by
  sending nothing, or its request head a byte at a time (slowloris). A connection gets
  `header_timeout` seconds from opening, and a request head the same from its first
  byte. If part of a head has arrived by then, the client gets a 408; if nothing has,
  the connection is just closed (a 408 there would race the client's next request on
  an idle keep-alive connection, which clients then mistake for its answer).
- InfluxDB errors for malformed or oversized request heads, where uvicorn writes a
  plain-text 400: 400 `invalid`, or 431 `request too large` when h11 has buffered more
  than `h11_max_incomplete_event_size` bytes without finding the end of the head.
- the number of open connections, told to the app (impl/http/limits.py refuses requests
  beyond its limit with an InfluxDB 503; uvicorn's own `limit_concurrency` answers
  in plain text, so it is not used).

h11 rather than httptools: h11 passes any well-formed request to the app, extension
methods included, so each is answered with an InfluxDB error and counted; httptools
answers methods it does not know with a bare 400 the app never sees.

Requests refused here never reach the app, so they are logged (logger impl.protocol)
but not counted in http_api_requests_total: they have no method or path to label.
"""

from __future__ import annotations

import asyncio
import http
import logging
import sys
from collections.abc import Sequence
from typing import Any

import h11
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from impl.errors import InfluxError, render

log = logging.getLogger(__name__)

# Where the connection count travels in the ASGI scope, for impl/http/limits.py.
OPEN_CONNECTIONS = "influxdb_sysinfo.open_connections"

Headers = Sequence[tuple[bytes, bytes]]


class CountConnections:
    """Tells the app, per request, how many connections the server has open."""

    def __init__(self, app: ASGIApp, connections: set[Any]) -> None:
        self.app = app
        self.connections = connections

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("extensions", {})[OPEN_CONNECTIONS] = len(self.connections)
        await self.app(scope, receive, send)


class InfluxH11Protocol(H11Protocol):
    """One HTTP/1.1 connection; see the module docstring. Configure with `protocol_class`."""

    header_timeout: float = 10.0
    identity_headers: Headers = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = CountConnections(self.app, self.connections)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # the first bytes of the next request head
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_header_timer()  # the head is complete, or the connection failed

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this from inside its `except h11.RemoteProtocolError:`, so the
        # exception being handled says what went wrong; h11 hints 431 for a head that
        # outgrew its buffer. Its text may quote header bytes (a token), so it is not
        # repeated to the client or the log.
        error = sys.exception()
        status = error.error_status_hint if isinstance(error, h11.RemoteProtocolError) else 400
        if status == 431:
            self._refuse(InfluxError("request too large", "request header fields too large", 431))
        else:
            self._refuse(InfluxError("invalid", "malformed HTTP request"))

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._on_header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:
            self._refuse(InfluxError("invalid", "request header timeout", 408))
        else:
            self.transport.close()

    def _refuse(self, error: InfluxError) -> None:
        """Answer `error` without the app, as influxd would, then close the connection."""
        log.warning(
            "request refused",
            extra={"fields": {"status": error.status, "reason": error.message}},
        )
        status, headers, body = render(error)
        response_headers = [
            *self.server_state.default_headers,
            *((name.lower().encode(), value.encode("latin-1")) for name, value in headers),
            *self.identity_headers,
            (b"connection", b"close"),
        ]
        events = [
            h11.Response(
                status_code=status,
                headers=response_headers,
                reason=http.HTTPStatus(status).phrase.encode(),
            ),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ]
        try:
            output = b"".join(self.conn.send(event) or b"" for event in events)
        except h11.LocalProtocolError:
            output = b""  # a response had already started: nothing more can be said
        if output and not self.transport.is_closing():
            self.transport.write(output)
        self.transport.close()


def protocol_class(*, header_timeout: float, identity_headers: Headers) -> type[InfluxH11Protocol]:
    """An `InfluxH11Protocol` with these settings, for uvicorn's `http` option."""

    class Configured(InfluxH11Protocol):
        pass

    Configured.header_timeout = header_timeout
    Configured.identity_headers = tuple(identity_headers)
    return Configured


__all__ = ["OPEN_CONNECTIONS", "InfluxH11Protocol", "protocol_class"]
