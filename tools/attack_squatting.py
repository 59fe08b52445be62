"""Series squatting: requests that take every place of `--max-http-series` before the
clients that need one arrive.

The attacker sends the adversary's shots (tools/adversary.py: every user-agent name,
method, path and status it can provoke, the well-known clients' names included) over
and over, without a token, `requests` in all; the first hundred or so new label sets
take every place. Then come a Prometheus scrape (GET /metrics with Prometheus'
User-Agent and Accept) and a Telegraf-like client (GET /metrics and GET /health with
Telegraf's User-Agent). Each is counted under its own name when the series of its own
label set rose by exactly its requests and the overflow counter did not move.

    python -m tools.attack_squatting [--workers N] [--requests N] [--token T]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.metrics_core import Metric

from impl.client.rawhttp import RawClient
from tools.adversary import all_shots
from tools.live import LiveServer
from tools.metrics_text import families

# The service's documented variable for accepted tokens (README: Configuration); tools
# drive the service from outside, as an operator would.
TOKENS_ENV = "INFLUXDB_SYSINFO_TOKENS"
PROMETHEUS_AGENT = "Prometheus/2.53.0"
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
TELEGRAF_AGENT = "Telegraf/1.30.0 Go/1.22.1"
# The one who reads the figures names itself as this service's own client, a reserved
# name, so that its own scrapes never land in the overflow series it is watching.
CHECKER_AGENT = "influxdb-sysinfo/attack-squatting"
CHECKER_NAME = "influxdb-sysinfo"
# Counts of several workers: a request is recorded as its answer leaves, so the next
# scrape, answered by another worker, may come a moment too early to see it.
SETTLE_SECONDS = 5.0

# (name, User-Agent, path, headers): the well-behaved clients' requests, GETs answered 2xx.
CLIENT_REQUESTS = (
    ("Prometheus", PROMETHEUS_AGENT, "/metrics", (("Accept", PROMETHEUS_ACCEPT),)),
    ("Telegraf", TELEGRAF_AGENT, "/metrics", ()),
    ("Telegraf", TELEGRAF_AGENT, "/health", ()),
)


@dataclass(frozen=True)
class Squatting:
    sent: int  # the attacker's requests
    label_sets: int  # of http_api_requests_total, overflow ones included, after them
    text_bytes: int  # /metrics after the attack, text format
    counted: dict[str, tuple[float, float]]  # client -> (requests made, counted under its name)
    overflow_moved: float  # what the overflow counter took of the clients' requests

    @property
    def clients_counted_as_themselves(self) -> bool:
        return self.overflow_moved == 0 and all(
            made == counted for made, counted in self.counted.values()
        )


def _own_counts(parsed: dict[str, Metric]) -> dict[tuple[str, str], float]:
    """http_api_requests_total of each (user agent, path) among GETs answered 2xx."""
    counts: dict[tuple[str, str], float] = {}
    for sample in parsed["http_api_requests"].samples:
        labels = sample.labels
        if labels["method"] == "GET" and labels["status"] == "2XX":
            key = (labels["user_agent"], labels["path"])
            counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def _scrape(client: RawClient, auth: tuple[tuple[str, str], ...]) -> str:
    response = client.request("GET", "/metrics", (("User-Agent", CHECKER_AGENT), *auth))
    if response.status != 200:
        raise RuntimeError(f"GET /metrics: {response.status}")
    return response.body.decode()


def squat(port: int, requests: int, token: str | None = None) -> Squatting:
    """`requests` adversarial requests, then the well-behaved clients (with `token`, when
    the service wants one; the attacker has none)."""
    auth = (("Authorization", f"Token {token}"),) if token else ()
    with RawClient(port) as attacker:
        for shot in itertools.islice(itertools.cycle(all_shots()), requests):
            attacker.request(shot.method, shot.target, shot.headers)
    # Each client's own label sets, by (user_agent label, path), and its requests.
    own = {(name, path) for name, _, path, _ in CLIENT_REQUESTS}
    made = {name: float(sum(1 for n, *_ in CLIENT_REQUESTS if n == name)) for name, _ in own}
    checker_key = (CHECKER_NAME, "/metrics")
    with RawClient(port) as checker:
        body = _scrape(checker, auth)
        before = families(body)
        for name, agent, path, headers in CLIENT_REQUESTS:
            response = checker.request("GET", path, (("User-Agent", agent), *headers, *auth))
            if response.status // 100 != 2:
                raise RuntimeError(f"{name} GET {path}: {response.status}")
        counts_before = _own_counts(before)
        deadline = time.monotonic() + SETTLE_SECONDS
        scrapes = 1  # the checker's own, each counted in the scrapes after it
        while True:
            after = families(_scrape(checker, auth))
            counts_after = _own_counts(after)
            rise = {name: 0.0 for name in made}
            for key in own:
                rise[key[0]] += counts_after.get(key, 0.0) - counts_before.get(key, 0.0)
            if rise == made or time.monotonic() > deadline:
                break
            scrapes += 1
            time.sleep(0.05)
    # The checker's scrapes that were not counted under its own name went to overflow.
    checker_own = counts_after.get(checker_key, 0.0) - counts_before.get(checker_key, 0.0)
    checker_folded = scrapes - checker_own
    overflow = "http_api_overflow_requests"
    return Squatting(
        sent=requests,
        label_sets=len(before["http_api_requests"].samples),
        text_bytes=len(body.encode()),
        counted={name: (made[name], rise[name]) for name in made},
        overflow_moved=after[overflow].samples[0].value
        - before[overflow].samples[0].value
        - checker_folded,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--token", help="start the service with this token (token mode)")
    args = parser.parse_args(argv)
    flags = ["--workers", str(args.workers)] if args.workers > 1 else []
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        env = {TOKENS_ENV: args.token} if args.token else None
        with LiveServer(workdir, flags, env) as live:
            result = squat(live.port, args.requests, args.token)
    print(f"flags: {' '.join(flags) or '(defaults)'}{', token mode' if args.token else ''}")
    print(f"attacker's requests: {result.sent}")
    print(f"label sets of http_api_requests_total after them: {result.label_sets}")
    print(f"/metrics text after them: {result.text_bytes:,} bytes")
    for name, (made, counted) in result.counted.items():
        print(f"{name}: {made:.0f} requests, {counted:.0f} counted under its own name")
    print(f"of theirs counted under overflow: {result.overflow_moved:.0f}")
    return 0 if result.clients_counted_as_themselves else 1


if __name__ == "__main__":
    sys.exit(main())
