"""What the service relies on inside uvicorn, uvicorn-worker and h11, and of how asyncio's
and uvloop's start_tls behave, beyond their documented APIs, each use grouped under the
code that relies on it.
tests/upstream/test_uvicorn.py states every assumption against the installed versions:
an upgrade that breaks one turns its test red."""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import Callable, Collection

import h11
import uvicorn
from gunicorn.arbiter import Arbiter
from starlette.types import ASGIApp
from uvicorn.protocols.http.flow_control import FlowControl as FlowControl
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn_worker import UvicornWorker

# --- uvicorn's h11 protocol and its flow control, for impl/http/protocol.py ---------------


class UvicornH11(H11Protocol):
    """uvicorn's h11 protocol, with what a subclass needs of its inside named once here.

    uvicorn calls, on itself: `send_400_response` inside `except h11.RemoteProtocolError`
    (see `protocol_error`), `on_response_complete` when a response has been handed to the
    transport, `pause_writing`/`resume_writing` from the transport, and parses, answers
    and runs requests through `self.conn`, `self.flow` and `self.app`, each replaceable
    after it set them."""

    def wrap_app(self, wrap: Callable[[ASGIApp], ASGIApp]) -> None:
        """Run every request of this connection through `wrap(app)` instead of the app."""
        self.app = wrap(self.app)

    def event_loop(self) -> asyncio.AbstractEventLoop:
        return self.loop

    def flow_control(self) -> FlowControl:
        return self.flow

    def use_parser(self, parser: h11.Connection) -> None:
        """Parse and answer through `parser` instead of the h11 connection uvicorn made."""
        self.conn = parser

    def use_flow(self, flow: FlowControl) -> None:
        """Pause and resume through `flow` (after `connection_made`, before any request)."""
        self.flow = flow

    def count_connection(self, transport: asyncio.Transport) -> None:
        """Count this connection among the server's, on `transport`, before uvicorn's
        `connection_made` has run (a TLS handshake first): uvicorn closes `self.transport`
        of each counted connection at shutdown, and its `connection_made` adds the
        connection again (a set) and takes the transport it is given."""
        self.connections.add(self)
        self.transport = transport

    def forget_connection(self) -> None:
        """Count this connection no more: it ended before `connection_made` ran."""
        self.connections.discard(self)

    def server_protocols(self) -> Collection[asyncio.Protocol]:
        """Every open connection of this server, this one included."""
        return self.connections

    def default_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers uvicorn puts on every response it writes (Date)."""
        return self.server_state.default_headers

    def request_in_app(self) -> bool:
        """A request has reached the app, and its response is not complete."""
        return self.cycle is not None and not self.cycle.response_complete

    def response_started(self) -> bool:
        """The app has started the response to the request in progress."""
        return self.cycle is not None and self.cycle.response_started

    def wake_receive(self) -> None:
        """Let an app waiting in receive() return now (with what body has arrived so far,
        `more_body` true), as a new piece of body would."""
        if self.cycle is not None:
            self.cycle.message_event.set()


def protocol_error() -> h11.RemoteProtocolError | None:
    """Inside `send_400_response`: the error that made uvicorn call it."""
    error = sys.exception()
    return error if isinstance(error, h11.RemoteProtocolError) else None


def reading_paused(flow: FlowControl) -> bool:
    return flow.read_paused


def writing_paused(flow: FlowControl) -> bool:
    return flow.write_paused


# ---- gunicorn's uvicorn worker (impl/server/workers.py) ---------------------------------
#
# UvicornWorker builds its uvicorn.Server in `_serve`, with no way to pass another server
# class; its SIGQUIT handler is installed by `_install_sigquit_handler`, which `_serve`
# calls once the event loop runs.


def worker_serving_with(server_class: type[uvicorn.Server]) -> type[UvicornWorker]:
    """UvicornWorker serving with `server_class`: uvicorn-worker 0.4.0's `_serve`, but for
    the server class."""

    class ServingWorker(UvicornWorker):  # type: ignore[misc]  # gunicorn is untyped
        async def _serve(self) -> None:
            self.config.app = self.wsgi
            server = server_class(config=self.config)
            self._install_sigquit_handler()
            await server.serve(sockets=self.sockets)
            if not server.started:
                sys.exit(Arbiter.WORKER_BOOT_ERROR)

    return ServingWorker


# --- asyncio's and uvloop's start_tls, for the TLS handshakes of impl/http/protocol.py ----


async def start_server_tls(
    transport: asyncio.Transport,
    protocol: asyncio.Protocol,
    context: ssl.SSLContext,
    already_read: bytes,
    *,
    handshake_timeout: float,
    shutdown_timeout: float,
) -> asyncio.Transport | None:
    """`loop.start_tls` on the server side of an accepted connection, `already_read` being
    the bytes its transport gave `protocol` before this was called (the start of the
    client's handshake): uvloop's transports start reading once `connection_made` has
    returned, paused or not, and a task started there runs after a read may have happened.
    Returns the TLS transport, or None when the connection closed during the handshake
    (asyncio then returns None, uvloop a closed transport).

    Assumed: start_tls puts its TLS protocol on the transport at once, and calls that
    protocol's `connection_made` (which starts the handshake) through `call_soon`; that
    protocol is a BufferedProtocol which keeps what `buffer_updated` gives it before then
    for the handshake. Also: the first bytes it decrypts are passed to
    `protocol.data_received` as the handshake ends, before start_tls returns."""
    loop = asyncio.get_running_loop()
    if already_read:
        # Runs before the TLS protocol's connection_made, queued after this by start_tls.
        loop.call_soon(_hand_over, transport, protocol, already_read)
    secured = await loop.start_tls(
        transport,
        protocol,
        context,
        server_side=True,
        ssl_handshake_timeout=handshake_timeout,
        ssl_shutdown_timeout=shutdown_timeout,
    )
    return None if secured is None or secured.is_closing() else secured


def _hand_over(transport: asyncio.Transport, protocol: asyncio.Protocol, data: bytes) -> None:
    """Give `data` to the TLS protocol now on `transport`, as if it had read them."""
    tls = transport.get_protocol()
    if tls is protocol or transport.is_closing():
        return
    view = memoryview(data)
    while view:
        buffer = tls.get_buffer(len(view))  # type: ignore[attr-defined]
        size = min(len(buffer), len(view))
        buffer[:size] = view[:size]
        tls.buffer_updated(size)  # type: ignore[attr-defined]
        view = view[size:]
