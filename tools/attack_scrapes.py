"""Scrape fairness: clients hammering /metrics while a Prometheus-like scraper asks once
per interval (impl/http/scrapes.py). For a test (bounded sizes) and for README's figures.

- Hammering clients: keep-alive connections that ask for /metrics again as soon as they
  have read the last answer, in one of three ways: `same` (OpenMetrics and gzip, as
  Prometheus asks), `names` (a `name[]` of their own every time), `accept` (an Accept
  header of their own every time): the last two need a render each.
- The scraper: one keep-alive connection, Prometheus' Accept and gzip, one scrape per
  interval; its latency is from sending the request to having read the whole answer.

    python -m tools.attack_scrapes [--clients 50] [--seconds 20] [--interval 1] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tools.live import LiveServer
from tools.processes import LOOPBACK

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
WAYS = ("same", "names", "accept")
FAMILIES = ("http_api_requests", "process_cpu_seconds", "python_info", "influxdb_info")
READ_TIMEOUT = 30.0


def scrape_request(way: str, rng: random.Random) -> bytes:
    target, accept = "/metrics", PROMETHEUS_ACCEPT
    if way == "names":
        target += f"?name[]={rng.choice(FAMILIES)}&name[]=x{rng.randrange(10**9)}"
    elif way == "accept":
        weight, text = rng.randrange(1, 999), rng.randrange(1, 9)
        accept = f"application/openmetrics-text;q=0.{weight:03d}, text/plain;q=0.0{text}"
    head = f"GET {target} HTTP/1.1\r\nHost: {LOOPBACK}\r\nAccept: {accept}\r\n"
    return head.encode() + b"Accept-Encoding: gzip\r\n\r\n"


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """Send one request, read its whole answer (framed by Content-Length); its status."""
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT)
    return int(lines[0].split()[1])


@dataclass
class Figures:
    """What the scraper saw, idle and under attack, and what the attackers got."""

    idle_seconds: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    hammer_statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0

    @property
    def ok_share(self) -> float:
        total = sum(self.statuses.values()) + self.failures
        return self.statuses[200] / total if total else 0.0

    def p99(self, values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[max(0, -(-len(ordered) * 99 // 100) - 1)] if ordered else float("inf")

    def summary(self) -> dict[str, object]:
        idle_median = statistics.median(self.idle_seconds)
        return {
            "scrapes": sum(self.statuses.values()) + self.failures,
            "scraper 200 share": round(self.ok_share, 4),
            "scraper statuses": dict(self.statuses),
            "scraper failures": self.failures,
            "idle median ms": round(idle_median * 1000, 2),
            "idle p99 ms": round(self.p99(self.idle_seconds) * 1000, 2),
            "under attack median ms": round(statistics.median(self.seconds) * 1000, 2),
            "under attack p99 ms": round(self.p99(self.seconds) * 1000, 2),
            "p99 / idle median": round(self.p99(self.seconds) / idle_median, 2),
            "hammering answers": dict(self.hammer_statuses),
        }


def _scrape(port: int, figures: Figures, count: int, interval: float, idle: bool) -> None:
    """The scraper: blocking, in a process of its own, as Prometheus is."""
    request = scrape_request("same", random.Random(0)).replace(
        b"\r\n\r\n", b"\r\nUser-Agent: Prometheus/3.1.0\r\n\r\n"
    )
    sock: socket.socket | None = None
    for _ in range(count):
        started = time.perf_counter()
        try:
            if sock is None:
                sock = socket.create_connection((LOOPBACK, port), timeout=READ_TIMEOUT)
                stream = sock.makefile("rb")
            sock.sendall(request)
            status = read_answer(stream)
        except OSError:
            figures.failures += 1
            if sock is not None:
                sock.close()
            sock = None
            continue
        elapsed = time.perf_counter() - started
        if idle:
            figures.idle_seconds.append(elapsed)
        else:
            figures.seconds.append(elapsed)
            figures.statuses[status] += 1
        time.sleep(max(0.0, interval - elapsed))
    if sock is not None:
        sock.close()


def read_answer(stream: BinaryIO) -> int:
    """Read one whole answer (framed by Content-Length) from `stream`; its status."""
    status = int(stream.readline().split()[1])
    length = 0
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    stream.read(length)
    return status


async def _hammer(
    port: int, way: str, seed: int, answers: Counter[int], stop: asyncio.Event
) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(LOOPBACK, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        try:
            while not stop.is_set():
                status = await exchange(reader, writer, scrape_request(way, rng))
                answers[status] += 1
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()


async def _crowd(port: int, clients: int, way: str, seconds: float) -> Counter[int]:
    answers: Counter[int] = Counter()
    stop = asyncio.Event()
    crowd = [asyncio.create_task(_hammer(port, way, n, answers, stop)) for n in range(clients)]
    await asyncio.sleep(seconds)
    stop.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*crowd, return_exceptions=True), READ_TIMEOUT)
    return answers


def attack(
    port: int,
    *,
    clients: int = 50,
    way: str = "same",
    scrapes: int = 20,
    interval: float = 1.0,
    idle_scrapes: int = 30,
) -> Figures:
    """`clients` hammering /metrics in `way` (from a process of their own) while the
    scraper scrapes `scrapes` times, one per `interval` seconds, after `idle_scrapes`
    scrapes with nobody else about."""
    figures = Figures()
    _scrape(port, figures, idle_scrapes, interval / 10, idle=True)
    warm_up = min(1.0, interval)
    seconds = warm_up + scrapes * interval
    command = [sys.executable, "-m", "tools.attack_scrapes", "--crowd", str(port)]
    command += ["--clients", str(clients), "--way", way, "--seconds", str(seconds)]
    root = Path(__file__).resolve().parents[1]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as crowd:
        try:
            time.sleep(warm_up)  # the crowd is at full speed
            _scrape(port, figures, scrapes, interval, idle=False)
            output, _ = crowd.communicate(timeout=READ_TIMEOUT + seconds)
        finally:
            crowd.kill()
    figures.hammer_statuses.update({int(k): v for k, v in json.loads(output).items()})
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20, help="under attack, per way")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--crowd", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--way", choices=WAYS, default="same", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.crowd:  # the hammering clients, in a process of their own (see attack())
        answers = asyncio.run(_crowd(args.crowd, args.clients, args.way, args.seconds))
        print(json.dumps(answers))
        return 0
    flags = ["--workers", str(args.workers)] if args.workers > 1 else []
    scrapes = max(1, round(args.seconds / args.interval))
    with tempfile.TemporaryDirectory() as directory:
        for way in WAYS:
            workdir = Path(directory) / way
            workdir.mkdir()
            with LiveServer(workdir, flags) as live:
                figures = attack(
                    live.port,
                    clients=args.clients,
                    way=way,
                    scrapes=scrapes,
                    interval=args.interval,
                )
            print(f"{args.clients} clients hammering ({way}), one scrape every {args.interval}s:")
            for name, value in figures.summary().items():
                print(f"  {name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
