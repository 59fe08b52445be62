"""One conformance run: choose the checks, send the planned requests, evaluate every
check on what came back. `run_conform` is the Python API; the command line and the
pytest plugin call it too."""

from __future__ import annotations

import fnmatch
import logging
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from impl.client.conform import plan
from impl.client.conform.checks_influxd import influxd_checks
from impl.client.conform.checks_metrics import metrics_checks
from impl.client.conform.checks_spec import REACHABLE, spec_checks
from impl.client.conform.contract import Spec, carried_spec
from impl.client.conform.gates import Settled, family_to_select
from impl.client.conform.model import Check, Level, Observations, Result, Verdict
from impl.client.conform.probe import OutOfTime, Probe
from impl.client.conform.results import Report
from impl.client.trust import PathLike, client_context

log = logging.getLogger("impl.client.conform")

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_TIME_SECONDS = 60.0
# A run plans about 50 requests; the budget leaves room for a larger spec and is far
# from anything that could load a server.
MAX_REQUESTS = 200
SCHEMES = ("http", "https")
UNREACHED = "the server could not be reached (see http.reachable)"
STOPPED = "stopped early"
GONE = "the server could not be reached any more"


class UnknownSelection(ValueError):
    """An --only or --skip pattern that matches no check: a typo would select nothing."""


def all_checks(spec: Spec) -> list[Check]:
    """Every check the spec gives, in report order."""
    exposition = plan.exposition_operation(spec)
    metrics = metrics_checks(spec, exposition) if exposition is not None else []
    return [*spec_checks(spec), *metrics, *influxd_checks(spec, exposition)]


def matches(check: Check, pattern: str) -> bool:
    """A level name (MUST, SHOULD, MAY, any case), or a glob over check ids."""
    if pattern.upper() in Level.__members__:
        return check.level is Level[pattern.upper()]
    return fnmatch.fnmatchcase(check.id, pattern)


def select(
    checks: Sequence[Check], only: Sequence[str] = (), skip: Sequence[str] = ()
) -> tuple[list[Check], list[Check]]:
    """(selected, left out): a check is selected when it matches an `only` pattern (or
    none is given) and no `skip` pattern."""
    unknown = [p for p in (*only, *skip) if not any(matches(check, p) for check in checks)]
    if unknown:
        raise UnknownSelection(f"no check id or level matches {', '.join(map(repr, unknown))}")
    selected: list[Check] = []
    left_out: list[Check] = []
    for check in checks:
        wanted = not only or any(matches(check, pattern) for pattern in only)
        unwanted = any(matches(check, pattern) for pattern in skip)
        (selected if wanted and not unwanted else left_out).append(check)
    return selected, left_out


def checked_url(url: str) -> str:
    """The base URL without a trailing slash; ValueError when it cannot be one."""
    candidate = url.strip()
    try:
        parts = urlsplit(candidate)
        _ = parts.port  # raises for a port that is not a number in range
    except ValueError as err:
        raise ValueError(f"invalid URL {url!r}: {err}") from None
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise ValueError(f"invalid URL {url!r}: give http:// or https:// and a host")
    if parts.query or parts.fragment:
        raise ValueError(f"invalid URL {url!r}: give the base URL, without a query or fragment")
    return candidate.rstrip("/")


def checked_token(token: str | None) -> str | None:
    # A control character or a space would split or forge request headers.
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in token or ""):
        raise ValueError("a token must not contain whitespace or control characters")
    return token or None


def run_conform(
    url: str,
    token: str | None = None,
    *,
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    strict: bool = False,
    allow_incomplete: bool = False,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    max_time: float = DEFAULT_MAX_TIME_SECONDS,
    spec: Spec | None = None,
    ca_cert: PathLike | None = None,
    skip_verify: bool = False,
) -> Report:
    """Runs the checks against the server at `url` and returns the report, whose
    `conformance` and `exit_status` are the verdict.

    `only` / `skip`: check ids (globs allowed) or levels. `strict`: SHOULD checks count
    like MUST checks. `allow_incomplete`: an INCOMPLETE run exits 0. `timeout` bounds
    each request, `max_time` the run. `spec`: another spec than the carried one. Over
    https: `ca_cert`, a PEM file of the CA certificates to trust instead of the system's;
    `skip_verify`, no check of the server's certificate.
    ValueError for an invalid URL, token, selection or CA file; nothing is sent then.
    """
    url, token = checked_url(url), checked_token(token)
    if not (timeout > 0 and max_time > 0):
        raise ValueError("timeout and max_time must be positive")
    tls = client_context(ca_cert, skip_verify)
    spec = spec or carried_spec()
    selected, left_out = select(all_checks(spec), only, skip)
    started = time.monotonic()
    probe = Probe(url, token, timeout, started + max_time, MAX_REQUESTS, tls)
    observations = Observations(token_given=token is not None)
    stopped = _send(probe, plan.requests(spec), observations)
    exposition = plan.exposition_operation(spec)
    if stopped is None and exposition is not None:
        # name[] asks for a family the plain scrape showed, so it goes last.
        family = family_to_select(observations, exposition)
        names = plan.names_request(exposition, family) if family else None
        stopped = _send(probe, [names], observations) if names else None
    unreachable = _why_unreachable(observations, stopped)
    results = [
        Result(check, Verdict.not_run(UNREACHED))
        if unreachable and check.id != REACHABLE
        else Result(check, _evaluate(check, observations))
        for check in selected
    ]
    return Report(
        url=url,
        spec_title=spec.title,
        results=results,
        requests=probe.sent,
        elapsed=time.monotonic() - started,
        strict=strict,
        allow_incomplete=allow_incomplete,
        unreachable=unreachable,
        stopped=stopped,
        deselected=tuple(check.id for check in left_out),
    )


def _send(probe: Probe, items: Sequence[plan.Planned], observations: Observations) -> str | None:
    """Sends `items` in order; returns why sending stopped early, if it did. Requests
    never sent are noted with the reason, for the checks that needed them."""
    for position, item in enumerate(items):
        try:
            exchange = probe.send(item)
        except OutOfTime as stop:
            return _give_up(observations, items[position:], f"{STOPPED}: {stop}")
        if not observations.exchanges and exchange.response is None:
            observations.exchanges[item.purpose] = exchange  # http.reachable judges it
            return _give_up(observations, items[position + 1 :], UNREACHED)
        if not exchange.connected:  # answered before, unreachable now: it went away
            return _give_up(observations, items[position:], f"{GONE} ({exchange.error})")
        observations.exchanges[item.purpose] = exchange
    return None


def _give_up(observations: Observations, unsent: Sequence[plan.Planned], reason: str) -> str:
    observations.not_sent |= {item.purpose: reason for item in unsent}
    return reason


def _why_unreachable(observations: Observations, stopped: str | None) -> str | None:
    first = next(iter(observations.exchanges.values()), None)
    if first is None:
        return stopped or "no request could be sent"
    return first.summary() if first.response is None else None


def _evaluate(check: Check, observations: Observations) -> Verdict:
    try:
        return check.evaluate(observations)
    except Settled as settled:
        return settled.verdict
    except Exception as err:  # a bug here must not hide the other checks' results
        # The reason tells users; the traceback is for whoever configures logging.
        log.debug("check %s could not be evaluated", check.id, exc_info=True)
        return Verdict.not_run(
            f"could not be evaluated ({type(err).__name__}: {err}); please report"
        )
