"""Unfinished TLS handshakes: connections that send half a ClientHello, or all of it
and then never the client's Finished, held open and reopened whenever the service
closes them; meanwhile a well-behaved client pings over TLS, one new connection each.
Where handshakes are left to the event loop (uvicorn's `ssl` option), each waits up to
60 s unseen by the connection limit; here each counts, is shed as a silent connection
at --max-connections, and has --header-timeout to finish.

    python -m tools.attack_tls [--connections 600] [--seconds 20]   # prints the figure
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import ssl
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from impl.client.rawhttp import HOST, read_response
from tools.attacks import PING_TIMEOUT, Pinger
from tools.tls import Authority, TlsLiveServer

PING = b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def client_hello(server_name: str = HOST) -> bytes:
    """The first flight of a real TLS client: its ClientHello record."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    handshake = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with contextlib.suppress(ssl.SSLWantReadError):
        handshake.do_handshake()
    return outgoing.read()


@dataclass
class TlsPinger(Pinger):
    """`Pinger` over TLS: each ping a new connection and a full handshake."""

    context: ssl.SSLContext = field(default_factory=ssl.create_default_context)

    def ping(self) -> None:
        started = time.perf_counter()
        try:
            with (
                socket.create_connection((HOST, self.port), timeout=PING_TIMEOUT) as raw,
                self.context.wrap_socket(raw, server_hostname=HOST) as sock,
            ):
                sock.sendall(PING)
                status = read_response(sock).status
        except OSError:  # refused, reset, or a failed handshake (ssl.SSLError)
            self.failures += 1
            return
        self.seconds.append(time.perf_counter() - started)
        self.statuses[status] = self.statuses.get(status, 0) + 1


@dataclass
class Handshakes:
    """What an attack did: connections opened, how many the service closed, and the
    pinger's results."""

    opened: int = 0
    closed_by_service: int = 0
    pinger: TlsPinger | None = None

    @property
    def pings_answered_2xx(self) -> int:
        assert self.pinger is not None
        return sum(n for status, n in self.pinger.statuses.items() if 200 <= status < 300)

    @property
    def pings_sent(self) -> int:
        assert self.pinger is not None
        return sum(self.pinger.statuses.values()) + self.pinger.failures


async def _holder(port: int, first_bytes: bytes, stop: asyncio.Event, tally: Handshakes) -> None:
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        tally.opened += 1
        try:
            writer.write(first_bytes)
            closed = asyncio.ensure_future(reader.read())  # whatever the service says, to EOF
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait((closed, stopped), return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if closed.done():
                tally.closed_by_service += 1
            else:
                closed.cancel()
        except OSError:
            tally.closed_by_service += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def unfinished_handshakes(
    port: int,
    client: ssl.SSLContext,
    connections: int,
    seconds: float,
    ping_interval: float = 0.05,
) -> Handshakes:
    """`connections` held handshakes against the TLS service on `port` for `seconds`
    (half of them with half a ClientHello, half with a whole one), a ping over TLS with
    `client` every `ping_interval` meanwhile."""
    hello = client_hello()
    halves = (hello[: len(hello) // 2], hello)
    tally = Handshakes()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def attack() -> None:
        await asyncio.gather(
            *(_holder(port, halves[i % 2], stop, tally) for i in range(connections))
        )

    runner = threading.Thread(target=loop.run_until_complete, args=(attack(),), daemon=True)
    runner.start()
    try:
        time.sleep(min(3.0, seconds / 4))  # the holders connect
        tally.pinger = TlsPinger(port, context=client)
        tally.pinger.during(seconds, ping_interval)
    finally:
        loop.call_soon_threadsafe(stop.set)
        runner.join(10)
        if not runner.is_alive():
            loop.close()
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        authority = Authority(workdir / "certificates")
        pair = authority.issue("server")
        flags = ["--workers", str(args.workers)] if args.workers > 1 else []
        with TlsLiveServer(workdir, pair, authority.cert, flags) as live:
            result = unfinished_handshakes(
                live.port, authority.client_context(), args.connections, args.seconds
            )
    assert result.pinger is not None
    print(f"unfinished handshakes: {args.connections} at a time, {result.opened} opened, ")
    print(f"  {result.closed_by_service} closed by the service")
    print(
        f"pings over TLS: {result.pings_answered_2xx} of {result.pings_sent} answered 2xx "
        f"({dict(result.pinger.statuses)}, {result.pinger.failures} failed); "
        f"median {result.pinger.median * 1000:.1f} ms, worst {result.pinger.worst * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
