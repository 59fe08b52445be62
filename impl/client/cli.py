"""`influx-metrics`: scrape, health, ready and ping an InfluxDB v2 instance from a shell.

Exit status 0 (reachable / healthy / ready, a scrape worked), 1 (not, or the request
failed) or 2 (a usage error, a bad URL included), for container probes and scripts.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any, TextIO

import urllib3
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from impl.client.api import (
    DEFAULT_TIMEOUT_SECONDS,
    ClientError,
    ServerError,
    SysinfoClient,
    TlsFailed,
)
from impl.client.conform.command import add_conform_command
from impl.client.lineprotocol import Version, go_float, to_line_protocol
from impl.client.write import (
    DEFAULT_BATCH_LINES,
    DEFAULT_BUFFER_LINES,
    Destination,
    PointWriter,
    run_writer,
)

PROG = "influx-metrics"
DISTRIBUTION = "influx-metrics"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # argparse's own status for bad arguments
TOKEN_ENV = "INFLUX_TOKEN"  # the variable InfluxDB's own `influx` CLI reads
WRITE_TOKEN_ENV = "INFLUX_WRITE_TOKEN"
DEFAULT_FLUSH_TIMEOUT_SECONDS = 10.0
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
    return SysinfoClient(
        args.url,
        token=args.token or None,
        timeout=args.timeout,
        ca_cert=args.ca_cert,
        skip_verify=args.skip_verify,
    )


def run_scrape(args: argparse.Namespace, out: TextIO) -> int:
    if args.write:
        return run_scrape_and_write(args)
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


def _destination(args: argparse.Namespace) -> Destination:
    token = args.write_token or None
    if args.bucket is not None:
        if args.db is not None or args.rp is not None:
            raise ValueError("--bucket (v2 write API) and --db/--rp (v1) exclude each other")
        if not args.org:
            raise ValueError("--bucket needs --org (the v2 write API names both)")
        return Destination.v2(args.write, org=args.org, bucket=args.bucket, token=token)
    if args.db is None:
        raise ValueError("--write needs --bucket and --org (v2 write API) or --db (v1)")
    return Destination.v1(args.write, database=args.db, retention_policy=args.rp, token=token)


def run_scrape_and_write(args: argparse.Namespace) -> int:
    """Scrape once, or every --every, and write the points into an InfluxDB."""
    if args.format not in LINE_PROTOCOL_VERSIONS:
        raise ValueError("--write writes line protocol: --format lp1 or lp2")
    destination = _destination(args)
    writer = PointWriter(
        destination,
        batch_lines=args.batch_size,
        buffer_lines=args.buffer_size,
        compress=not args.no_gzip,
        timeout=args.timeout,
        ca_cert=args.ca_cert,
        skip_verify=args.skip_verify,
    )
    logging.basicConfig(level=logging.INFO, format=f"{PROG}: %(message)s", force=True)
    version = LINE_PROTOCOL_VERSIONS[args.format]
    stop = threading.Event()
    scrapes = 0

    def scrape() -> list[str]:
        nonlocal scrapes
        with _client(args) as client:
            exposition = client.scrape(args.name, gzip=args.gzip, openmetrics=args.openmetrics)
            families = exposition.families(args.name)
            url = client.url + "/metrics"
        scrapes += 1
        text = to_line_protocol(families, version, timestamp_ns=time.time_ns(), url=url)
        return text.splitlines()

    # SIGTERM and Ctrl-C end the loop; what is buffered is then written (--flush-timeout).
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    run_writer(scrape, writer, every=args.every, stop=stop, flush_timeout=args.flush_timeout)
    stats = writer.stats
    unsent = writer.buffered
    print(
        f"{PROG}: {scrapes} scrapes; points written {stats.written}, dropped {stats.dropped}, "
        f"rejected {stats.rejected}, unsent {unsent}; into {destination.describe()}",
        file=sys.stderr,
    )
    complete = scrapes > 0 and not (stats.dropped or stats.rejected or unsent)
    return EXIT_OK if complete else EXIT_FAILED


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


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _interval(text: str) -> float:
    """Seconds, as a number (`15`) or a Go duration (`15s`, `1m30s`, `500ms`)."""
    try:
        return _positive_seconds(text)
    except argparse.ArgumentTypeError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise argparse.ArgumentTypeError(f"not a duration (15, 15s, 1m30s): {text!r}")
    seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive duration: {text!r}")
    return seconds


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def _add_write_arguments(scrape: argparse.ArgumentParser) -> None:
    group = scrape.add_argument_group(
        "writing into InfluxDB",
        "With --write, the points (--format lp1, the default here, or lp2) go into an "
        "InfluxDB instead of standard output: the v2 write API with --org and --bucket, "
        "or the v1 one with --db. Batched, gzip-compressed, retried with backoff "
        "(honouring Retry-After on 429 and 503), buffered while the destination is down "
        "(the oldest dropped past --buffer-size, and said); SIGTERM stops after writing "
        "what is buffered. Exit status 0 when every point was written.",
    )
    group.add_argument("--write", metavar="URL", help="base URL of the InfluxDB to write into")
    group.add_argument("--org", help="v2: organization name")
    group.add_argument("--bucket", help="v2: bucket name")
    group.add_argument("--db", help="v1: database name")
    group.add_argument("--rp", help="v1: retention policy (default: the database's default)")
    group.add_argument(
        "--write-token",
        default=os.environ.get(WRITE_TOKEN_ENV),
        help=f"token for the destination, sent as 'Authorization: Token <token>' "
        f"(default: ${WRITE_TOKEN_ENV})",
    )
    group.add_argument(
        "--every",
        type=_interval,
        metavar="DURATION",
        help="scrape and write on this interval (15s, 1m) until SIGTERM; default: once",
    )
    group.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH_LINES,
        metavar="POINTS",
        help=f"points per write request (default {DEFAULT_BATCH_LINES})",
    )
    group.add_argument(
        "--buffer-size",
        type=_positive_int,
        default=DEFAULT_BUFFER_LINES,
        metavar="POINTS",
        help=f"points kept while the destination is down (default {DEFAULT_BUFFER_LINES})",
    )
    group.add_argument("--no-gzip", action="store_true", help="send write requests uncompressed")
    group.add_argument(
        "--flush-timeout",
        type=_positive_seconds,
        default=DEFAULT_FLUSH_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="at the end, how long to keep trying to write what is buffered "
        f"(default {DEFAULT_FLUSH_TIMEOUT_SECONDS:g})",
    )


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
    # TLS, for the instance and, with scrape --write, the destination alike.
    tls = argparse.ArgumentParser(add_help=False)
    tls.add_argument(
        "--ca-cert",
        metavar="FILE",
        help="PEM file of the CA certificates to trust over https, instead of the system's "
        "(several CAs: concatenate them; with --write, the destination's too)",
    )
    tls.add_argument(
        "--skip-verify",
        action="store_true",
        help="over https, do not check the server's certificate (influx CLI's flag; for "
        "tests only: anyone in between can read and change what is sent)",
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
        parents=[common, tls],
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
    scrape.add_argument("--format", choices=FORMATS, help="output (default text; lp1 with --write)")
    scrape.add_argument("--gzip", action="store_true", help="ask for a gzip-compressed transfer")
    scrape.add_argument(
        "--openmetrics",
        action="store_true",
        help="prefer OpenMetrics 1.0.0 (influxd always answers with text 0.0.4)",
    )
    _add_write_arguments(scrape)
    scrape.set_defaults(run=run_scrape)

    for name, run, summary in (
        ("health", run_health, "print /health; exit 0 when the status is pass"),
        ("ready", run_ready, "print /ready; exit 0 when the instance is ready"),
        ("ping", run_ping, "GET /ping; exit 0 when the instance answers"),
    ):
        command = commands.add_parser(
            name, parents=[common, tls], help=summary, description=summary
        )
        command.set_defaults(run=run)
    add_conform_command(commands, common, _positive_seconds, tls)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "command", None) == "scrape" and args.format is None:
        args.format = "lp1" if args.write else "text"
    run: Callable[[argparse.Namespace, TextIO], int] = args.run
    if getattr(args, "skip_verify", False):
        # Asked for on the command line: urllib3's warning on every request says no more.
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
    try:
        return run(args, sys.stdout)
    except (ClientError, ValueError) as err:
        # A ValueError is a usage error: a bad URL (InvalidURL), a token the client
        # rejects, a CA file that cannot be used.
        hint = ""
        if isinstance(err, ServerError) and err.status == 401:
            hint = f" (check --token or ${TOKEN_ENV})"
        elif isinstance(err, TlsFailed) and err.unknown_authority:
            hint = " (give its CA with --ca-cert FILE)"
        print(f"{PROG}: {err}{hint}", file=sys.stderr)
        return EXIT_USAGE if isinstance(err, ValueError) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
