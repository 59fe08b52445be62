"""The `conform` subcommand of influx-metrics."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TextIO

from impl.client.conform.renderers import render_json, render_junit, render_table, wants_colour
from impl.client.conform.results import (
    EXIT_CONFORMANT,
    EXIT_INCOMPLETE,
    EXIT_NOT_CONFORMANT,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Report,
)
from impl.client.conform.runner import DEFAULT_MAX_TIME_SECONDS, MAX_REQUESTS, run_conform

FORMATS = ("table", "json", "junit")
DESCRIPTION = f"""\
Check a server that claims the InfluxDB v2 system API (/metrics, /health, /ready,
/ping): influxd, a compatible database, a proxy, or this service behind an ingress.
Checks are derived from the OpenAPI spec carried by this package (MUST), from how
influxd 2.x behaves (SHOULD), and from optional extensions (MAY). Only GET and HEAD
are sent, plus one POST with an empty body to paths that declare only GET and HEAD
(they have no handler that could write); at most {MAX_REQUESTS} requests.

exit status:
  {EXIT_CONFORMANT}  CONFORMANT: every MUST check ran and passed (with --strict, every SHOULD
     check too)
  {EXIT_NOT_CONFORMANT}  NOT CONFORMANT: a MUST check fails (with --strict, a SHOULD check too)
  {EXIT_USAGE}  usage error: unknown flag, invalid URL or token, an --only/--skip that matches
     no check
  {EXIT_UNREACHABLE}  UNREACHABLE: the first request got no answer (nothing listens, no HTTP,
     out of time)
  {EXIT_INCOMPLETE}  INCOMPLETE: nothing failed, but a MUST check could not run (a token needed
     or refused, metrics disabled, the server gone or the time up half-way);
     --allow-incomplete makes this 0"""


def add_conform_command(
    commands: Any,
    common: argparse.ArgumentParser,
    seconds: Callable[[str], float],
    tls: argparse.ArgumentParser,
) -> None:
    """Adds `conform` to influx-metrics' subcommands (`common`: URL, --token, --timeout;
    `tls`: --ca-cert, --skip-verify)."""
    parser = commands.add_parser(
        "conform",
        parents=[common, tls],
        help="check that a server behaves as the spec and influxd do",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output (default table)")
    parser.add_argument(
        "--strict", action="store_true", help="a SHOULD check counts as a MUST check does"
    )
    parser.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="exit 0 when nothing failed but some checks could not run (the verdict still "
        "says INCOMPLETE)",
    )
    for flag, does in (("--only", "run only the checks"), ("--skip", "leave out the checks")):
        parser.add_argument(
            flag,
            action="append",
            default=[],
            metavar="ID|LEVEL",
            help=f"{does} with this id (a glob: 'metrics.*') or level (MUST, SHOULD, MAY); "
            "repeatable",
        )
    parser.add_argument(
        "--max-time",
        type=seconds,
        default=DEFAULT_MAX_TIME_SECONDS,
        metavar="SECONDS",
        help=f"stop sending after this long overall (default {DEFAULT_MAX_TIME_SECONDS:g}); "
        "--timeout bounds each request",
    )
    parser.set_defaults(run=run_command)


def run_command(args: argparse.Namespace, out: TextIO) -> int:
    # A ValueError (a bad URL, token or selection) is a usage error for influx-metrics.
    report = run_conform(
        args.url,
        args.token,
        only=args.only,
        skip=args.skip,
        strict=args.strict,
        allow_incomplete=args.allow_incomplete,
        timeout=args.timeout,
        max_time=args.max_time,
        ca_cert=args.ca_cert,
        skip_verify=args.skip_verify,
    )
    out.write(_render(report, args.format, out))
    if not report.reachable and args.format != "table":
        print(f"influx-metrics: {report.verdict}", file=sys.stderr)
    return report.exit_status


def _render(report: Report, output: str, out: TextIO) -> str:
    if output == "json":
        return render_json(report)
    if output == "junit":
        return render_junit(report)
    return render_table(report, colour=wants_colour(out))
