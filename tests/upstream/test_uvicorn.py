"""What impl/upstream/uvicorn.py assumes of uvicorn's h11 protocol and of gunicorn's
uvicorn worker, each tried on the real thing: a red test here names the assumption an
upgrade broke."""

from __future__ import annotations

import asyncio
import inspect
import signal
import ssl
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import pytest
import trustme
import uvloop
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.server import ServerState
from uvicorn_worker import UvicornWorker

from impl.upstream.uvicorn import (
    FlowControl,
    UvicornH11,
    protocol_error,
    reading_paused,
    start_server_tls,
    writing_paused,
)

PING = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def no_content(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def serve(
    protocol: type[UvicornH11],
    app: Callable[[Scope, Receive, Send], Awaitable[None]],
    exercise: Callable[[Callable[[], Awaitable[Client]], ServerState], Awaitable[None]],
) -> None:
    """Serve `app` with `protocol` on loopback while `exercise(connect, state)` runs."""

    async def main() -> None:
        config = Config(app=app, lifespan="off", log_config=None)
        state = ServerState()
        state.default_headers = [(b"date", b"Thu, 01 Jan 2026 00:00:00 GMT")]
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: protocol(config=config, server_state=state, app_state={}), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        try:
            await asyncio.wait_for(
                exercise(lambda: asyncio.open_connection("127.0.0.1", port), state), 10
            )
        finally:
            for connection in list(state.connections):
                connection.transport.close()
            server.close()
            await server.wait_closed()

    asyncio.run(main())


async def status_of(reader: asyncio.StreamReader) -> int:
    line = await reader.readline()
    await reader.readuntil(b"\r\n\r\n")
    return int(line.split()[1])


def test_the_parser_given_is_the_one_uvicorn_parses_and_answers_through() -> None:
    class Recorded(h11.Connection):
        events: list[type[object]] = []

        def next_event(self) -> Any:
            event = super().next_event()
            self.events.append(type(event))
            return event

    class Protocol(UvicornH11):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.use_parser(Recorded(h11.SERVER))

    async def exercise(connect: Callable[[], Awaitable[Client]], state: ServerState) -> None:
        reader, writer = await connect()
        writer.write(PING)
        assert await status_of(reader) == 204
        writer.close()
        await writer.wait_closed()

    serve(Protocol, no_content, exercise)
    assert h11.Request in Recorded.events and h11.EndOfMessage in Recorded.events


def test_the_wrapped_app_runs_every_request_and_the_loop_is_the_servers() -> None:
    seen: list[tuple[str, bool]] = []

    class Protocol(UvicornH11):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.wrap_app(self.recording)

        def recording(self, app: Any) -> Any:
            async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
                seen.append((scope["path"], self.event_loop() is asyncio.get_running_loop()))
                await app(scope, receive, send)

            return wrapped

    async def exercise(connect: Callable[[], Awaitable[Client]], state: ServerState) -> None:
        reader, writer = await connect()
        writer.write(PING + PING)
        assert [await status_of(reader), await status_of(reader)] == [204, 204]
        writer.close()
        await writer.wait_closed()

    serve(Protocol, no_content, exercise)
    assert seen == [("/ping", True), ("/ping", True)]


def test_the_flow_given_after_connection_made_is_the_one_requests_use() -> None:
    resumed: list[bool] = []

    class Flow(FlowControl):
        def resume_reading(self) -> None:
            resumed.append(reading_paused(self))
            super().resume_reading()

    class Protocol(UvicornH11):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.use_flow(Flow(transport))
            assert isinstance(self.flow_control(), Flow)

    async def reads_body(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # uvicorn resumes reading through the flow when the app reads
        await no_content(scope, receive, send)

    async def exercise(connect: Callable[[], Awaitable[Client]], state: ServerState) -> None:
        reader, writer = await connect()
        writer.write(b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
        assert await status_of(reader) == 204
        writer.close()
        await writer.wait_closed()

    serve(Protocol, reads_body, exercise)
    assert resumed


def test_flow_control_says_when_reading_and_writing_are_paused() -> None:
    class Transport(asyncio.Transport):
        def pause_reading(self) -> None:
            pass

        def resume_reading(self) -> None:
            pass

    flow = FlowControl(Transport())
    assert not reading_paused(flow) and not writing_paused(flow)
    flow.pause_reading()
    flow.pause_writing()
    assert reading_paused(flow) and writing_paused(flow)
    flow.resume_reading()
    flow.resume_writing()
    assert not reading_paused(flow) and not writing_paused(flow)


def test_server_protocols_are_every_open_connection_and_default_headers_uvicorns() -> None:
    seen: list[tuple[int, list[tuple[bytes, bytes]]]] = []

    class Protocol(UvicornH11):
        def on_response_complete(self) -> None:
            seen.append((len(self.server_protocols()), self.default_headers()))
            super().on_response_complete()

    async def exercise(connect: Callable[[], Awaitable[Client]], state: ServerState) -> None:
        (reader, writer), (_, idle) = await connect(), await connect()
        while len(state.connections) < 2:  # the idle one is accepted too
            await asyncio.sleep(0.01)
        writer.write(PING)
        assert await status_of(reader) == 204
        for each in (writer, idle):
            each.close()
            await each.wait_closed()

    serve(Protocol, no_content, exercise)
    assert seen == [(2, [(b"date", b"Thu, 01 Jan 2026 00:00:00 GMT")])]


def test_a_request_in_the_app_is_seen_and_its_receive_can_be_woken() -> None:
    """While an app waits for a body that does not come, the request is in the app, its
    response not started; woken, receive() returns with more body to come."""
    received: list[dict[str, Any]] = []
    protocols: list[UvicornH11] = []

    class Protocol(UvicornH11):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            protocols.append(self)

    async def waits_for_body(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(dict(await receive()))
        await no_content(scope, receive, send)

    async def exercise(connect: Callable[[], Awaitable[Client]], state: ServerState) -> None:
        reader, writer = await connect()
        writer.write(b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        while not (protocols and protocols[0].request_in_app()):
            await asyncio.sleep(0.01)
        (protocol,) = protocols
        assert not protocol.response_started()
        assert not received
        protocol.wake_receive()
        assert await status_of(reader) == 204
        assert not protocol.request_in_app() and protocol.response_started()
        writer.close()
        await writer.wait_closed()

    serve(Protocol, waits_for_body, exercise)
    assert received == [{"type": "http.request", "body": b"", "more_body": True}]


def test_send_400_response_is_called_while_the_parse_error_is_handled() -> None:
    errors: list[h11.RemoteProtocolError | None] = []

    class Protocol(UvicornH11):
        def send_400_response(self, msg: str) -> None:
            errors.append(protocol_error())
            super().send_400_response(msg)

    async def exercise(connect: Callable[[], Awaitable[Client]], state: ServerState) -> None:
        reader, writer = await connect()
        writer.write(b"GET /ping HTTP/1.1\r\n\r\n")  # no Host
        assert await status_of(reader) == 400
        writer.close()
        await writer.wait_closed()

    serve(Protocol, no_content, exercise)
    assert len(errors) == 1 and isinstance(errors[0], h11.RemoteProtocolError)
    assert protocol_error() is None  # outside it, there is none


# ---- gunicorn's uvicorn worker ----------------------------------------------------------

# UvicornWorker._serve as copied into worker_serving_with, with `Server` where the copy
# takes the server class: an upgrade that changes it must be copied again.
SERVE_COPIED = """
async def _serve(self) -> None:
    self.config.app = self.wsgi
    server = Server(config=self.config)
    self._install_sigquit_handler()
    await server.serve(sockets=self.sockets)
    if not server.started:
        sys.exit(Arbiter.WORKER_BOOT_ERROR)
"""


def test_the_copied_serve_is_uvicorn_workers_own() -> None:
    source = textwrap.dedent(inspect.getsource(UvicornWorker._serve))
    assert source.strip() == SERVE_COPIED.strip()


def test_install_sigquit_handler_sets_one_on_the_running_loop() -> None:
    class Worker:
        def __init__(self) -> None:
            self.exits: list[Any] = []

        def handle_exit(self, *args: Any) -> None:
            self.exits.append(args)

    async def install() -> bool:
        UvicornWorker._install_sigquit_handler(worker)
        return asyncio.get_running_loop().remove_signal_handler(signal.SIGQUIT)

    worker = Worker()
    assert asyncio.run(install()) is True


def test_a_connection_counted_before_connection_made_is_closed_by_uvicorns_shutdown() -> None:
    """A connection counted from the moment it is accepted (a TLS handshake first) is one
    uvicorn's shutdown closes, through `shutdown` and `self.transport`, as it does others."""
    counted: list[UvicornH11] = []

    class Protocol(UvicornH11):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self.count_connection(transport)  # uvicorn's connection_made not (yet) run
            counted.append(self)

    async def exercise(connect: Callable[[], Awaitable[Client]], state: ServerState) -> None:
        reader, writer = await connect()
        while not counted:
            await asyncio.sleep(0.01)
        assert state.connections == {counted[0]}
        for connection in list(state.connections):
            connection.shutdown()  # what uvicorn's Server.shutdown calls on each
        assert await reader.read() == b""  # closed
        counted[0].forget_connection()
        assert not state.connections
        writer.close()

    serve(Protocol, no_content, exercise)


class _Certificates:
    def __init__(self) -> None:
        authority = trustme.CA()
        issued = authority.issue_cert("127.0.0.1")
        self.server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        issued.configure_cert(self.server)
        self.client = ssl.create_default_context()
        authority.configure_trust(self.client)


@pytest.mark.parametrize(
    "new_loop", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"]
)
def test_start_server_tls_takes_the_bytes_read_before_it(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """The bytes of the client's first flight a protocol was given before it called
    start_server_tls are handed to the TLS layer: the handshake completes, and what the
    client sends then reaches the protocol decrypted (perhaps before start_server_tls
    returns: the protocol must keep it)."""
    certificates = _Certificates()
    decrypted: list[bytes] = []
    handed_over: list[bytes] = []

    class Protocol(asyncio.Protocol):
        def __init__(self) -> None:
            self.before: list[bytes] | None = []
            self.started = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self.transport = transport  # uvloop's transports are no asyncio.Transport

        def data_received(self, data: bytes) -> None:
            if self.before is None:
                decrypted.append(data)
                return
            self.before.append(data)
            if not self.started:  # start TLS only once the client's bytes were read
                self.started = True
                asyncio.get_running_loop().call_later(0.05, self.start)

        def start(self) -> None:
            asyncio.get_running_loop().create_task(self.secure())

        async def secure(self) -> None:
            already_read, self.before = b"".join(self.before or ()), None
            handed_over.append(already_read)
            secured = await start_server_tls(
                self.transport,
                self,
                certificates.server,
                already_read,
                handshake_timeout=10,
                shutdown_timeout=1,
            )
            assert secured is not None
            secured.write(b"welcome")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=certificates.client, server_hostname="127.0.0.1"
        )
        writer.write(b"hello")
        assert await asyncio.wait_for(reader.readexactly(7), 10) == b"welcome"
        while b"".join(decrypted) != b"hello":
            await asyncio.sleep(0.01)
        writer.close()
        server.close()  # not wait_closed: uvloop's waits for the server side's connections

    with asyncio.Runner(loop_factory=new_loop) as runner:
        runner.run(asyncio.wait_for(main(), 20))
    assert handed_over and handed_over[0].startswith(b"\x16\x03")  # a TLS handshake record
