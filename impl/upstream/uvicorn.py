"""What the service relies on inside uvicorn, uvicorn-worker and h11, beyond their
documented APIs, each use grouped under the code that relies on it.
tests/upstream/test_uvicorn.py states every assumption against the installed versions:
an upgrade that breaks one turns its test red."""

from __future__ import annotations

import asyncio
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
