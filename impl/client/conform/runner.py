"""One conformance run: send the planned requests, evaluate every check, decide the exit."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass

from impl.client.conform import plan
from impl.client.conform.checks_influxd import influxd_checks
from impl.client.conform.checks_metrics import family_to_select, metrics_checks
from impl.client.conform.checks_spec import spec_checks
from impl.client.conform.gates import NEEDS_TOKEN, TOKEN_REFUSED, Settled, claims_influxd
from impl.client.conform.model import Check, Level, Observations, Outcome, Result, Verdict
from impl.client.conform.probe import OutOfTime, Probe
from impl.client.conform.spec import Spec, carried_spec

log = logging.getLogger("impl.client.conform")

EXIT_CONFORMANT = 0
EXIT_NOT_CONFORMANT = 1
EXIT_UNREACHABLE = 3
DEFAULT_MAX_TIME_SECONDS = 60.0
# A run plans about 35 requests; the budget leaves room for a larger spec and is far
# from anything that could load a server.
MAX_REQUESTS = 200
UNREACHED = "the server could not be reached (see http.reachable)"
STOPPED = "stopped early"


@dataclass(frozen=True)
class Options:
    url: str
    token: str | None = None
    timeout: float = 10.0
    max_time: float = DEFAULT_MAX_TIME_SECONDS
    strict: bool = False


@dataclass(frozen=True)
class Report:
    url: str
    spec_title: str
    results: list[Result]
    requests: int
    elapsed: float
    strict: bool
    incomplete: str | None  # why the run stopped early, if it did

    @property
    def reachable(self) -> bool:
        return any(
            r.check.id == "http.reachable" and r.outcome is Outcome.PASS for r in self.results
        )

    def failed(self, *levels: Level) -> list[Result]:
        return [r for r in self.results if r.outcome is Outcome.FAIL and r.check.level in levels]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def blocking(self) -> list[Result]:
        """The failures that decide the exit status."""
        return self.failed(Level.MUST, Level.SHOULD) if self.strict else self.failed(Level.MUST)

    @property
    def exit_status(self) -> int:
        if not self.reachable:
            return EXIT_UNREACHABLE
        if self.blocking:
            return EXIT_NOT_CONFORMANT
        return EXIT_UNREACHABLE if self.incomplete else EXIT_CONFORMANT

    @property
    def verdict(self) -> str:
        if not self.reachable:
            first = next(r for r in self.results if r.check.id == "http.reachable")
            return f"UNREACHABLE: {first.verdict.reason}"
        should = len(self.failed(Level.SHOULD))
        if self.blocking:
            kinds = "MUST or SHOULD" if self.strict else "MUST"
            return f"NOT CONFORMANT: {len(self.blocking)} {kinds} check(s) fail"
        if self.incomplete:
            return f"INCOMPLETE: {self.incomplete}"
        notes = f"; {should} SHOULD check(s) fail (--strict makes them count)" if should else ""
        return f"CONFORMANT: every MUST check passes{notes}"

    @property
    def hints(self) -> list[str]:
        """Sentences for people: checks that want a token, a server that is not InfluxDB."""
        reasons = Counter(result.verdict.reason for result in self.results)
        wanting = [reason for reason in (NEEDS_TOKEN, TOKEN_REFUSED) if reasons[reason]]
        found = [f"{reasons[reason]} checks skipped: {reason}" for reason in wanting]
        evidence = (exchange for result in self.results for exchange in result.verdict.evidence)
        if self.reachable and not claims_influxd(evidence):
            found.append(
                "no answer carried X-Influxdb-Build or X-Influxdb-Version: "
                "this does not look like InfluxDB"
            )
        return found


def _send_all(probe: Probe, spec: Spec, observations: Observations) -> str | None:
    """Sends the plan; returns why it stopped early, if it did."""
    planned = plan.requests(spec)
    exposition = plan.exposition_operation(spec)
    # The name[] request joins the plan once the scrape that names its family is in.
    for index, item in enumerate(planned):
        try:
            exchange = probe.send(item)
        except OutOfTime as stop:
            observations.not_sent |= {
                rest.purpose: f"{STOPPED}: {stop}" for rest in planned[index:]
            }
            return str(stop)
        observations.exchanges[item.purpose] = exchange
        if index == 0 and exchange.response is None:
            observations.not_sent |= {rest.purpose: UNREACHED for rest in planned[1:]}
            return None
        if exposition is not None and item.purpose == plan.baseline_purpose(exposition):
            family = family_to_select(observations, exposition)
            names = plan.names_request(exposition, family) if family else None
            planned += [names] if names else []
    return None


def _evaluate(check: Check, observations: Observations) -> Verdict:
    try:
        return check.evaluate(observations)
    except Settled as settled:
        return settled.verdict
    except Exception as err:  # a bug here must not hide the other checks' results
        # The reason tells users; the traceback is for whoever configures logging.
        log.debug("check %s could not be evaluated", check.id, exc_info=True)
        return Verdict.skipped(
            f"could not be evaluated ({type(err).__name__}: {err}); please report"
        )


def run(options: Options) -> Report:
    started = time.monotonic()
    spec = carried_spec()
    deadline = started + options.max_time
    probe = Probe(options.url, options.token, options.timeout, deadline, MAX_REQUESTS)
    observations = Observations(token_given=options.token is not None)
    stopped = _send_all(probe, spec, observations)
    exposition = plan.exposition_operation(spec)
    metrics = metrics_checks(exposition) if exposition is not None else []
    first = next(iter(observations.exchanges.values()), None)
    unreachable = first is not None and first.response is None
    results = [
        Result(check, Verdict.skipped(UNREACHED))
        if unreachable and check.id != "http.reachable"
        else Result(check, _evaluate(check, observations))
        for check in spec_checks(spec) + metrics + influxd_checks(spec, exposition)
    ]
    return Report(
        url=options.url,
        spec_title=spec.title,
        results=results,
        requests=probe.sent,
        elapsed=time.monotonic() - started,
        strict=options.strict,
        incomplete=stopped,
    )
