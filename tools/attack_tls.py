"""Unfinished TLS handshakes: connections that send half a ClientHello, or all of it
and then never the client's Finished, held open and reopened whenever the service
closes them; meanwhile a well-behaved client pings over TLS, one new connection each.
Where handshakes are left to the event loop (uvicorn's `ssl` option), each waits up to
60 s unseen by the connection limit; here each counts, is shed as a silent connection
at --max-connections, and has --header-timeout to finish. The figure: pings answered,
and the most sockets the service held meanwhile, against uvicorn's `ssl` option serving
a bare 204 with the same limit (`--limit-concurrency`); both run with the usual soft
limit of 1024 open files (`prlimit`), where the sockets a server holds run out.

    python -m tools.attack_tls [--connections 2000] [--seconds 20] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impl.client.rawhttp import HOST, read_response
from impl.metrics.multiprocess.collectors import service_pids
from tools.attacks import PING_TIMEOUT, Pinger
from tools.certificates import Authority, CertificatePair, TlsLiveServer
from tools.processes import ServerProcess

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
    most_sockets: int = 0  # held by the service's processes at once, listener included

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
                closed.exception()  # a reset is a close too
                tally.closed_by_service += 1
            else:
                closed.cancel()
        except OSError:
            tally.closed_by_service += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def sockets_of(pid: int) -> int:
    """The sockets open in process `pid` and its children (gunicorn's workers)."""
    count = 0
    for each in service_pids(pid):
        with contextlib.suppress(OSError):
            for descriptor in os.scandir(f"/proc/{each}/fd"):
                with contextlib.suppress(OSError):
                    count += os.readlink(descriptor.path).startswith("socket:")
    return count


def unfinished_handshakes(
    port: int,
    client: ssl.SSLContext,
    connections: int,
    seconds: float,
    ping_interval: float = 0.05,
    service_pid: int | None = None,
) -> Handshakes:
    """`connections` held handshakes against the TLS service on `port` for `seconds`
    (half of them with half a ClientHello, half with a whole one), a ping over TLS with
    `client` every `ping_interval` meanwhile; with `service_pid`, the sockets that
    process tree holds are sampled."""
    hello = client_hello()
    halves = (hello[: len(hello) // 2], hello)
    tally = Handshakes()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def attack() -> None:
        await asyncio.gather(
            *(_holder(port, halves[i % 2], stop, tally) for i in range(connections))
        )

    sampling = threading.Event()

    def sample() -> None:
        while service_pid is not None and not sampling.wait(0.25):
            tally.most_sockets = max(tally.most_sockets, sockets_of(service_pid))

    runner = threading.Thread(target=loop.run_until_complete, args=(attack(),), daemon=True)
    sampler = threading.Thread(target=sample, daemon=True)
    runner.start()
    sampler.start()
    try:
        time.sleep(min(3.0, seconds / 4))  # the holders connect
        tally.pinger = TlsPinger(port, context=client)
        tally.pinger.during(seconds, ping_interval)
    finally:
        sampling.set()
        loop.call_soon_threadsafe(stop.set)
        runner.join(10)
        sampler.join(10)
        if not runner.is_alive():
            loop.close()
    return tally


# --- what uvicorn's own ssl option does, for the figure ------------------------------------


async def no_content(scope: dict[str, Any], receive: Callable[..., Any], send: Any) -> None:
    """A bare ASGI app: 204 to every request."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def uvicorn_with_ssl(workdir: Path, pair: CertificatePair, limit: int) -> ServerProcess:
    """uvicorn serving `no_content` with its own `ssl` options and `limit` connections."""
    command = [
        sys.executable, "-m", "uvicorn", "tools.attack_tls:no_content",
        "--host", HOST, "--port", "0", "--log-level", "warning",
        "--ssl-certfile", str(pair.cert), "--ssl-keyfile", str(pair.key),
        "--limit-concurrency", str(limit),
    ]  # fmt: skip
    return ServerProcess(command, workdir / "uvicorn.log")


def _print(name: str, result: Handshakes) -> None:
    assert result.pinger is not None
    print(
        f"{name}: {result.opened} handshakes opened, {result.closed_by_service} closed by "
        f"the server; at most {result.most_sockets} sockets held; pings over TLS: "
        f"{result.pings_answered_2xx} of {result.pings_sent} answered 2xx "
        f"({result.pinger.failures} failed), median {result.pinger.median * 1000:.1f} ms, "
        f"worst {result.pinger.worst * 1000:.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-connections", type=int, default=512)
    parser.add_argument("--open-files", type=int, default=1024)
    args = parser.parse_args(argv)
    limited = ["prlimit", f"--nofile={args.open_files}", "--"]
    print(
        f"{args.connections} unfinished handshakes held for {args.seconds:g} s, reopened when "
        f"closed; servers limited to {args.open_files} open files:"
    )
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        authority = Authority(workdir / "certificates")
        pair = authority.issue("server")
        flags = ["--max-connections", str(args.max_connections)]
        if args.workers > 1:
            flags += ["--workers", str(args.workers)]
        client = authority.client_context()
        service = TlsLiveServer(workdir, pair, authority.cert, flags)
        service.command = limited + service.command
        with service as live:
            result = unfinished_handshakes(
                live.port, client, args.connections, args.seconds, service_pid=live.pid
            )
        _print(f"influxdb-sysinfo {' '.join(flags)}", result)
        baseline_server = uvicorn_with_ssl(workdir, pair, args.max_connections)
        baseline_server.command = limited + baseline_server.command
        with baseline_server as baseline:
            result = unfinished_handshakes(
                baseline.port, client, args.connections, args.seconds, service_pid=baseline.pid
            )
        _print(f"uvicorn --ssl-certfile --limit-concurrency {args.max_connections}", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
