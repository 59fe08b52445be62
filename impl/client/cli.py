"""`influx-metrics`: scrape, health, ready and ping an InfluxDB v2 instance from a shell.

Exit status 0 (reachable / healthy / ready, a scrape worked), 1 (not, or the request
failed) or 2 (a usage error, a bad URL included), for container probes and scripts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any, TextIO

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from impl.client.api import DEFAULT_TIMEOUT_SECONDS, ClientError, ServerError, SysinfoClient
from impl.client.conform.cli import add_conform_command
from impl.client.lineprotocol import Version, go_float, to_line_protocol

PROG = "influx-metrics"
DISTRIBUTION = "influx-metrics"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # argparse's own status for bad arguments
TOKEN_ENV = "INFLUX_TOKEN"  # the variable InfluxDB's own `influx` CLI reads
LINE_PROTOCOL_VERSIONS: dict[str, Version] = {"lp1": 1, "lp2": 2}
FORMATS = ("text", "json", *LINE_PROTOCOL_VERSIONS)


def _sample_json(sample: Sample) -> dict[str, Any]:
    # JSON has no NaN or infinities: those are written as Go and Prometheus print them.
    value = sample.value if math.isfinite(sample.value) else go_float(sample.value)
    entry: dict[str, Any] = {"name": sample.name, "labels": dict(sample.labels), "value": value}
    if sample.timestamp is not None:
        entry["timestamp"] = float(sample.timestamp)
    return entry


def families_json(families: Sequence[Metric]) -> list[dict[str, Any]]:
    """Families, samples and labels as plain JSON-ready data."""
    return [
        {
            "name": family.name,
            "type": family.type,
            "help": family.documentation,
            "unit": family.unit,
            "samples": [_sample_json(sample) for sample in family.samples],
        }
        for family in families
    ]


def _client(args: argparse.Namespace) -> SysinfoClient:
    return SysinfoClient(args.url, token=args.token or None, timeout=args.timeout)


def run_scrape(args: argparse.Namespace, out: TextIO) -> int:
    with _client(args) as client:
        exposition = client.scrape(args.name, gzip=args.gzip, openmetrics=args.openmetrics)
        # Parse whatever the format, so a body that is not an exposition is an error.
        families = exposition.families(args.name)
        scrape_url = client.url + "/metrics"
    if args.format == "text":
        out.write(exposition.text)
    elif args.format == "json":
        document = {
            "url": scrape_url,
            "content_type": exposition.content_type,
            "families": families_json(families),
        }
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        version = LINE_PROTOCOL_VERSIONS[args.format]
        out.write(to_line_protocol(families, version, timestamp_ns=time.time_ns(), url=scrape_url))
    return EXIT_OK


def run_health(args: argparse.Namespace, out: TextIO) -> int:
    with _client(args) as client:
        health = client.health()
    identity = " ".join(part for part in (health.name, health.version) if part)
    commit = f" (commit {health.commit})" if health.commit else ""
    out.write(f"{health.status}: {identity}{commit}: {health.message or ''}\n")
    for check in health.checks or []:
        out.write(f"  {check.status:<4}  {check.name}: {check.message or ''}\n")
    return EXIT_OK if health.status == "pass" else EXIT_FAILED


def run_ready(args: argparse.Namespace, out: TextIO) -> int:
    with _client(args) as client:
        ready = client.ready()
    started = ready.started.isoformat() if ready.started else "unknown"
    out.write(f"{ready.status}: started {started}, up {ready.up or 'unknown'}\n")
    return EXIT_OK if ready.status == "ready" else EXIT_FAILED


def run_ping(args: argparse.Namespace, out: TextIO) -> int:
    with _client(args) as client:
        ping = client.ping()
    identity = " ".join(part for part in ("InfluxDB", ping.build, ping.version) if part)
    out.write(f"reachable: {client.url} ({identity})\n")
    return EXIT_OK


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def program_version() -> str:
    """The installed distribution's version."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("url", help="base URL of the instance, e.g. http://127.0.0.1:8086")
    common.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"API token, sent as 'Authorization: Token <token>' (default: ${TOKEN_ENV})",
    )
    common.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"give up after this long (default {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Query the system-information endpoints of an InfluxDB v2 instance "
        "(this service or influxd). Exit status: 0 ok, 1 not ok or unreachable, 2 usage.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {program_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scrape = commands.add_parser(
        "scrape",
        parents=[common],
        help="fetch /metrics and print it",
        description="Fetch /metrics and print it as exposition text, JSON, or InfluxDB line "
        "protocol in InfluxDB's Prometheus parsing format version 1 (lp1) or 2 (lp2).",
    )
    scrape.add_argument(
        "--name",
        action="append",
        metavar="NAME",
        help="only this metric family (repeatable; the name[] query parameter)",
    )
    scrape.add_argument("--format", choices=FORMATS, default="text", help="output (default text)")
    scrape.add_argument("--gzip", action="store_true", help="ask for a gzip-compressed transfer")
    scrape.add_argument(
        "--openmetrics",
        action="store_true",
        help="prefer OpenMetrics 1.0.0 (influxd always answers with text 0.0.4)",
    )
    scrape.set_defaults(run=run_scrape)

    for name, run, summary in (
        ("health", run_health, "print /health; exit 0 when the status is pass"),
        ("ready", run_ready, "print /ready; exit 0 when the instance is ready"),
        ("ping", run_ping, "GET /ping; exit 0 when the instance answers"),
    ):
        command = commands.add_parser(name, parents=[common], help=summary, description=summary)
        command.set_defaults(run=run)
    add_conform_command(commands, common, _positive_seconds)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace, TextIO], int] = args.run
    try:
        return run(args, sys.stdout)
    except (ClientError, ValueError) as err:
        # A ValueError is a usage error: a bad URL (InvalidURL) or a token the client rejects.
        unauthorised = isinstance(err, ServerError) and err.status == 401
        hint = f" (check --token or ${TOKEN_ENV})" if unauthorised else ""
        print(f"{PROG}: {err}{hint}", file=sys.stderr)
        return EXIT_USAGE if isinstance(err, ValueError) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
