"""The `conform` subcommand of influx-metrics."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from typing import Any, TextIO

from impl.client.api import normalise_url
from impl.client.conform.report import render_json, render_junit, render_table, wants_colour
from impl.client.conform.runner import (
    DEFAULT_MAX_TIME_SECONDS,
    EXIT_CONFORMANT,
    EXIT_NOT_CONFORMANT,
    EXIT_UNREACHABLE,
    MAX_REQUESTS,
    Options,
    run,
)

FORMATS = ("table", "json", "junit")
DESCRIPTION = f"""\
Check a server that claims the InfluxDB v2 system API (/metrics, /health, /ready,
/ping): influxd, a compatible database, a proxy, or this service behind an ingress.
Checks are derived from the OpenAPI spec carried by this package (MUST), from how
influxd 2.x behaves (SHOULD), and from optional extensions (MAY). Only GET and HEAD
are sent, plus one POST with an empty body to paths that declare only GET and HEAD
(they have no handler that could write); at most {MAX_REQUESTS} requests.

exit status: {EXIT_CONFORMANT} every MUST check passes; {EXIT_NOT_CONFORMANT} a MUST check \
fails (with --strict, a SHOULD check too); 2 usage error; {EXIT_UNREACHABLE} the URL cannot \
be reached, does not speak HTTP, or the run ran out of time."""


def add_conform_command(
    commands: Any, common: argparse.ArgumentParser, seconds: Callable[[str], float]
) -> None:
    """Adds `conform` to influx-metrics' subcommands (`common`: URL, --token, --timeout)."""
    parser = commands.add_parser(
        "conform",
        parents=[common],
        help="check that a server behaves as the spec and influxd do",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output (default table)")
    parser.add_argument(
        "--strict", action="store_true", help="a failed SHOULD check fails the run too"
    )
    parser.add_argument(
        "--max-time",
        type=seconds,
        default=DEFAULT_MAX_TIME_SECONDS,
        metavar="SECONDS",
        help=f"stop sending after this long overall (default {DEFAULT_MAX_TIME_SECONDS:g}); "
        "--timeout bounds each request",
    )
    parser.set_defaults(run=run_conform)


def run_conform(args: argparse.Namespace, out: TextIO) -> int:
    url = normalise_url(args.url)  # InvalidURL: a usage error for influx-metrics
    # A control character or a space in the token would split or forge request headers;
    # the ValueError is a usage error too.
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in args.token or ""):
        raise ValueError("a token must not contain whitespace or control characters")
    options = Options(url, args.token or None, args.timeout, args.max_time, args.strict)
    report = run(options)
    renderers = {"json": render_json, "junit": render_junit}
    out.write(renderers.get(args.format, partial(render_table, colour=wants_colour(out)))(report))
    if not report.reachable and args.format != "table":
        print(f"influx-metrics: {report.verdict}", file=sys.stderr)
    return report.exit_status
