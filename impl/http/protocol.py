"""uvicorn's h11 protocol with the limits the app cannot enforce itself.

Before a request exists, or after its response has left the app, uvicorn answers in plain
text or not at all. This subclass keeps its parsing and adds:

- a header timeout against slowloris (uvicorn has none: a client could hold a connection
  for ever by sending nothing, or its head a byte at a time): `header_timeout` seconds
  from opening, and for a head from its first byte. Then a part-sent head gets a 408; a
  silent connection is just closed (on an idle keep-alive one, a 408 would race the
  client's next request and pass for its answer).
- a send timeout (uvicorn awaits `drain` for ever for a client that does not read,
  holding the response): once the unsent part passes the transport's high-water mark, the
  client has `send_timeout` seconds to take it to the low-water mark, else the connection
  is aborted and its buffer dropped.
- one response in memory per connection: uvicorn starts the next pipelined request once a
  response is handed to the transport, so a client that pipelines and never reads has
  responses pile up in one buffer; here the next request waits until the last has left.
- bounded read-ahead: uvicorn resumes reading whenever the app asks for the body or a
  response completes, so pipelined requests pile up in h11's buffer; reading stays paused
  while more than `read_ahead` bytes wait there (impl/http/framing.py checks them).
- a minimum body rate (uvicorn waits for a body for ever): a body still arriving
  `BODY_GRACE_SECONDS` after its head must have come at `MIN_BODY_BYTES_PER_SECOND` on
  average, and in full within `header_timeout`; else the app answers 408.
- room for requests that have arrived: at `max_connections`, connections silent since
  they opened or their last response are closed, oldest first, then those with an
  unfinished head (503), then those whose body arrives slowest (the app answers 503),
  before a new request is refused; none of these lock anybody out.
- InfluxDB errors where uvicorn writes a plain-text 400: 400 `invalid` for a malformed
  head or refused framing, 431 `request too large` when h11 has buffered more than
  `max_header_size` bytes without finding the end of the head. A request refused while
  its body arrives (malformed chunked framing) has reached the app: the app answers it,
  as it answers its own refusals (`receive` raises the InfluxError), counted and logged;
  nothing that arrives after it is parsed. Bytes after a whole request that closes the
  connection are dropped unread, not answered in place of that request.
- TLS (with `certificates`): the handshake is run here, not by uvicorn (whose `ssl`
  option lets asyncio handshake for up to 60 s before the protocol even exists). From
  the moment it connects, a connection is counted towards `max_connections` and, while
  handshaking, is shed as a silent one; the handshake has `header_timeout` to finish,
  then the head its own `header_timeout`, as Go's server (influxd) times them. Each
  handshake takes the certificate as its files are then (rotation without restart).
  Everything above then holds over TLS as over plain TCP.
- one write for a response's head and its first body bytes (impl/http/coalesce.py):
  uvicorn writes each h11 event as it comes, two `send` calls per response.
- what only it knows of a request, told to the app (an `Arrival` in the scope): the exact
  size of the head, and the open-connection count; impl/http/limits.py answers beyond
  their limits with InfluxDB errors (uvicorn's `limit_concurrency` answers in plain text).

h11, not httptools: h11 passes any well-formed request, extension methods included, to
the app, to be answered with an InfluxDB error and counted; httptools (llhttp, whose
method table is fixed in C) answers unknown methods with a 400 the app never sees. And it
would not pay: measured side by side (CPU per request, trivial app, 5 rounds), this
protocol costs 99 us, httptools 24 us, while a /ping through the app costs 1,282 us, of
which the protocol is about 9% (py-spy): at most 1.06x. Worth measuring again once the
app's own cost has fallen. Refusals here never reach the app: logged
(impl.http.protocol), not in http_api_requests_total (no method or path to label).
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import http
import logging
import ssl
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import h11
from starlette.types import Message, Receive, Scope, Send

from impl.errors import InfluxError, render
from impl.http.asgi import Layer
from impl.http.coalesce import CoalescingConnection
from impl.http.framing import FramingError
from impl.http.limits import ARRIVAL, TOO_MANY_CONNECTIONS, Arrival, Limits
from impl.upstream.uvicorn import (
    FlowControl,
    UvicornH11,
    protocol_error,
    reading_paused,
    start_server_tls,
    writing_paused,
)

log = logging.getLogger(__name__)

# A body still arriving this long after its head must keep coming at this rate on average
# (as Apache's mod_reqtimeout MinRate): a legitimate one, at most 1 KiB here, comes with its
# head or a round trip later, and a lost segment is resent within the grace; a body sent a
# byte a second would hold a connection for nothing.
BODY_GRACE_SECONDS = 2.0
MIN_BODY_BYTES_PER_SECOND = 128
# Pipelined bytes that may wait, beyond the request served, before reading pauses; at least
# twice the head limit, so an unfinished head (h11 refuses it beyond) can be read to its end.
READ_AHEAD_BYTES = 64 * 1024
# How long a refused connection is read (and what arrives dropped) before it is closed.
LINGER_SECONDS = 2.0

Headers = Sequence[tuple[bytes, bytes]]


class ServerCertificates(Protocol):
    """Where each TLS handshake gets its context (impl/server/tls.py: CertificateFiles)."""

    def context(self) -> ssl.SSLContext: ...


@dataclass
class _Arrivals(Layer):
    """Makes room, then tells the app what the protocol saw of the request."""

    protocol: InfluxH11Protocol

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        protocol = self.protocol
        arrival = Arrival(protocol.parser.head_bytes, protocol.make_room())
        scope.setdefault("extensions", {})[ARRIVAL] = arrival
        if protocol.refusal is not None or protocol.parser.their_state is h11.SEND_BODY:
            receive = protocol.receive_or_refusal(receive)  # a body is still to come
        await self.app(scope, receive, send)


class _BoundedFlow(FlowControl):
    """uvicorn's flow control, but reading stays paused while over `read_ahead` bytes wait."""

    def __init__(self, protocol: InfluxH11Protocol) -> None:
        super().__init__(protocol.transport)
        self.protocol = protocol

    def resume_reading(self) -> None:
        if not reading_paused(self) or self.protocol._waiting_input() <= self.protocol.read_ahead:
            super().resume_reading()


class InfluxH11Protocol(UvicornH11):
    """One HTTP/1.1 connection; see the module docstring. Configure with `protocol_class`."""

    limits: Limits
    identity_headers: Headers = ()
    certificates: ServerCertificates | None = None  # set: every connection is TLS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parser = CoalescingConnection(self.limits.max_header_size)
        self.use_parser(self.parser)
        self.read_ahead = max(READ_AHEAD_BYTES, 2 * self.limits.max_header_size)
        self.wrap_app(lambda app: _Arrivals(app, self))
        self._timers: dict[str, asyncio.TimerHandle] = {}  # "header", "body" and "send"
        self._body_started: float | None = None  # when the body arriving began to
        self._body_bytes = 0  # bytes received since
        self._next_request_waits = False
        self._lingering = False
        # The refusal of a request whose body was arriving, for the app to answer.
        self.refusal: InfluxError | None = None
        # Bytes that cannot start a request came after one still in the app: it is
        # answered, then the connection closes, what follows unread.
        self._rest_dropped = False
        self.idle_since = time.monotonic()
        self._handshake: asyncio.Task[None] | None = None
        # With TLS, what arrives before the connection opens: the client's first bytes,
        # read before start_tls took the transport over, for the handshake; then what
        # the TLS layer decrypted before start_tls returned, for this protocol.
        self._before_tls: list[bytes] | None = None
        self._before_open: list[bytes] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if self.certificates is None:
            self._open(transport)
            return
        # Counted now, and shed as a silent connection until the handshake is done.
        self.count_connection(transport)
        self._before_tls, self._before_open = [], []
        transport.pause_reading()  # asyncio's transports wait; uvloop's read all the same
        context = self.certificates.context()
        self._handshake = self.event_loop().create_task(self._secure(transport, context))
        self.make_room()

    async def _secure(self, transport: asyncio.Transport, context: ssl.SSLContext) -> None:
        """The TLS handshake, within `header_timeout`; then the connection opens on it."""
        already_read, self._before_tls = b"".join(self._before_tls or ()), None
        secured: asyncio.Transport | None = None
        if not transport.is_closing():  # not shed before this task began
            try:
                secured = await start_server_tls(
                    transport,
                    self,
                    context,
                    already_read,
                    handshake_timeout=self.limits.header_timeout,
                    # A closing connection waits this long for the client's close_notify.
                    shutdown_timeout=LINGER_SECONDS,
                )
            except OSError as err:  # refused, timed out, reset (ssl.SSLError is an OSError)
                log.debug("TLS handshake failed", extra={"fields": {"reason": str(err)}})
        if secured is None:  # failed, or closed meanwhile (shed, shut down)
            self.forget_connection()
            transport.close()
            return
        self._open(secured)

    def _open(self, transport: asyncio.Transport) -> None:
        tls = self._before_open is not None  # counted, and room made, at accept already
        super().connection_made(transport)
        self.use_flow(_BoundedFlow(self))
        self._start_timer("header", self.limits.header_timeout, self._on_header_timeout)
        if not tls:
            self.make_room()
        arrived, self._before_open = self._before_open, None
        for data in arrived or ():
            self.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timers("header", "body", "send")
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._before_tls is not None:
            self._before_tls.append(data)
            return
        if self._before_open is not None:
            self._before_open.append(data)
            return
        if self._lingering or self.refusal is not None or self._rest_dropped:
            return  # after a refusal: read only to be dropped
        if "header" not in self._timers and self.parser.their_state is h11.IDLE:
            self._start_timer("header", self.limits.header_timeout, self._on_header_timeout)
        if self._body_started is not None:
            self._body_bytes += len(data)
        super().data_received(data)
        if self.parser.their_state is not h11.IDLE:
            self._stop_timers("header")  # the head is complete, or the connection failed
        self._time_body()
        if not self._lingering and self._waiting_input() > self.read_ahead:
            self.flow_control().pause_reading()

    def _waiting_input(self) -> int:
        return len(self.parser.trailing_data[0])

    def _unread_input(self) -> int:
        """Bytes the kernel holds for this connection that have not been read yet: uvicorn
        reads no further while a request is in progress, so a client that pipelines may
        look silent between two requests while its next one waits here."""
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return 0
        pending = array.array("i", [0])
        try:
            fcntl.ioctl(sock.fileno(), termios.FIONREAD, pending)
        except OSError:
            return 0
        return pending[0]

    def pause_writing(self) -> None:
        super().pause_writing()
        if "send" not in self._timers:
            self._start_timer("send", self.limits.send_timeout, self._on_send_timeout)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stop_timers("send")
        if self._next_request_waits:
            self._next_request_waits = False
            self.on_response_complete()

    def on_response_complete(self) -> None:
        if self._rest_dropped:
            self._linger()
            return
        if writing_paused(self.flow_control()) and not self.transport.is_closing():
            # The response is still in this process: the next one waits for it to leave.
            self._next_request_waits = True
            return
        self.idle_since = time.monotonic()
        super().on_response_complete()
        self._time_body()  # a pipelined request may have begun

    def _on_send_timeout(self) -> None:
        self._timers.pop("send", None)
        if self.transport.is_closing() or not writing_paused(self.flow_control()):
            return
        unsent = self.transport.get_write_buffer_size()
        fields = {"send_timeout": self.limits.send_timeout, "unsent_bytes": unsent}
        log.warning("response not read in time: connection closed", extra={"fields": fields})
        self.transport.abort()  # drops what is buffered; close() would wait for the client

    def _time_body(self) -> None:
        """Time the body while h11 says one is arriving."""
        arriving = self.parser.their_state is h11.SEND_BODY and self.refusal is None
        if arriving and self._body_started is None:
            self._body_started = time.monotonic()
            self._body_bytes = 0
            self._on_body_timer()
        elif not arriving and self._body_started is not None:
            self._body_started = None
            self._stop_timers("body")

    def body_deadline(self) -> float:
        """When the body arriving is too slow, at the bytes it has brought so far."""
        started = self._body_started if self._body_started is not None else time.monotonic()
        allowed = BODY_GRACE_SECONDS + self._body_bytes / MIN_BODY_BYTES_PER_SECOND
        return started + min(allowed, self.limits.header_timeout)

    def _on_body_timer(self) -> None:
        self._timers.pop("body", None)
        if self._body_started is None or not self._receiving_body():
            return
        left = self.body_deadline() - time.monotonic()
        if left > 0:
            self._start_timer("body", left, self._on_body_timer)
        else:
            self._refuse_in_app(InfluxError("invalid", "request body timeout", 408))

    def _start_timer(self, name: str, seconds: float, callback: Callable[[], None]) -> None:
        self._stop_timers(name)
        self._timers[name] = self.event_loop().call_later(seconds, callback)

    def _stop_timers(self, *names: str) -> None:
        for name in names:
            if (timer := self._timers.pop(name, None)) is not None:
                timer.cancel()

    def _between_requests(self) -> bool:
        """Open, with no request in progress (part of the next head may have arrived)."""
        if _closing(self) or self.parser.their_state is not h11.IDLE:
            return False
        return not self.request_in_app()

    def make_room(self) -> int:
        """Over `max_connections`: close connections that have sent nothing (longest
        idle first), then those with an unfinished head (oldest first), then refuse the
        requests whose bodies arrive slowest (nearest their deadline), never this one's.
        Returns the connections open then, not counting those closing already (counted
        only past the limit, in the same one pass over them: under attack, this runs for
        every connection and request)."""
        connections = self.server_protocols()
        if len(connections) <= self.limits.max_connections:
            return len(connections)
        silent: list[InfluxH11Protocol] = []
        unfinished: list[InfluxH11Protocol] = []
        slow: list[InfluxH11Protocol] = []
        count = 0
        for c in connections:
            if _closing(c):
                continue
            count += 1
            if c is self or not isinstance(c, InfluxH11Protocol):
                continue
            if c._between_requests():
                if c._waiting_input():
                    unfinished.append(c)
                elif not (c._next_request_waits or c._unread_input()):
                    silent.append(c)
            elif c._body_started is not None and c._receiving_body():
                slow.append(c)
        excess = count - self.limits.max_connections
        if excess <= 0:
            return count
        silent = sorted(silent, key=lambda c: c.idle_since)[:excess]
        for connection in silent:
            connection.transport.close()
        unfinished = sorted(unfinished, key=lambda c: c.idle_since)[: excess - len(silent)]
        for connection in unfinished:
            connection._refuse(InfluxError("unavailable", TOO_MANY_CONNECTIONS), quiet=True)
        slow = sorted(slow, key=lambda c: c.body_deadline())[
            : excess - len(silent) - len(unfinished)
        ]
        for connection in slow:
            connection._refuse_in_app(InfluxError("unavailable", TOO_MANY_CONNECTIONS))
        closed = len(silent) + len(unfinished) + len(slow)
        if closed:
            fields = {"closed": closed, "open": count - closed}
            log.info("connections closed to make room", extra={"fields": fields})
        return count - closed

    def send_400_response(self, msg: str) -> None:
        # The error says what went wrong (431 hinted: a head outgrew h11's buffer). Its text
        # may quote header bytes (a token), so client and log get only the framing checks'
        # own reasons.
        error = protocol_error()
        if isinstance(error, FramingError):
            refusal = InfluxError("invalid", f"malformed HTTP request: {error.reason}")
        elif error is not None and error.error_status_hint == 431:
            refusal = InfluxError("request too large", "request header fields too large", 431)
        else:
            refusal = InfluxError("invalid", "malformed HTTP request")
        if self._receiving_body():
            self._refuse_in_app(refusal)
        elif self.request_in_app():
            # The request before these bytes is whole (one that closes the connection:
            # h11 expects nothing after it), and its answer is the app's to give.
            self._rest_dropped = True
        else:
            self._refuse(refusal)

    def _receiving_body(self) -> bool:
        """A request is in the app, unanswered, and its body is arriving."""
        if self.parser.their_state is not h11.SEND_BODY or self.refusal is not None:
            return False
        return self.request_in_app() and not self.response_started()

    def _refuse_in_app(self, error: InfluxError) -> None:
        """Have the app answer `error` to the request whose body is arriving, as it answers
        its own refusals (counted, logged, with Connection: close); meanwhile what arrives
        is dropped, so nothing after the refused body is ever parsed."""
        self.refusal = error
        self._stop_timers("header")
        self._time_body()
        self.wake_receive()

    def receive_or_refusal(self, receive: Receive) -> Receive:
        """`receive`, raising the refusal once there is one."""

        async def guarded() -> Message:
            if self.refusal is None:
                message = await receive()
                if self.refusal is None:
                    return message
            raise self.refusal

        return guarded

    def _on_header_timeout(self) -> None:
        self._timers.pop("header", None)
        if self.transport.is_closing() or self.parser.their_state is not h11.IDLE:
            return
        if self.parser.trailing_data[0]:
            self._refuse(InfluxError("invalid", "request header timeout", 408))
        else:
            self.transport.close()

    def _refuse(self, error: InfluxError, quiet: bool = False) -> None:
        """Answer `error` without the app, as influxd would, then close the connection."""
        if not quiet:
            fields = {"status": error.status, "reason": error.message}
            log.warning("request refused", extra={"fields": fields})
        status, headers, body = render(error)
        events = [
            h11.Response(
                status_code=status,
                headers=[
                    *self.default_headers(),
                    *((name.lower().encode(), value.encode("latin-1")) for name, value in headers),
                    *self.identity_headers,
                    (b"connection", b"close"),
                ],
                reason=http.HTTPStatus(status).phrase.encode(),
            ),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ]
        try:
            output = b"".join(self.parser.send(event) or b"" for event in events)
        except h11.LocalProtocolError:
            output = b""  # a response had already started: nothing more can be said
        if output and not self.transport.is_closing():
            self.transport.write(output)
        self._linger()

    def _linger(self) -> None:
        """Close after a refusal without losing it: a socket closed with unread input sends a
        reset, which may destroy the answer unread. So the write side is shut once the answer
        is out, and what arrives is dropped until the client closes, at most LINGER_SECONDS."""
        if self.transport.is_closing() or self._lingering:
            return
        self._lingering = True
        self._stop_timers("header")
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.transport.resume_reading()
        self.event_loop().call_later(LINGER_SECONDS, self.transport.close)


def _closing(connection: Any) -> bool:
    refused = isinstance(connection, InfluxH11Protocol) and (
        connection._lingering or connection.refusal is not None
    )
    return refused or bool(connection.transport.is_closing())


class ProtocolSettings(NamedTuple):
    """What every connection of a server process is held to, and says."""

    limits: Limits
    identity_headers: Headers
    certificates: ServerCertificates | None = None  # set: every connection speaks TLS


def protocol_class(settings: ProtocolSettings) -> type[InfluxH11Protocol]:
    """An `InfluxH11Protocol` with these settings, for uvicorn's `http` option."""
    attributes = {
        "limits": settings.limits,
        "identity_headers": tuple(settings.identity_headers),
        "certificates": settings.certificates,
    }
    return type("Configured", (InfluxH11Protocol,), attributes)
