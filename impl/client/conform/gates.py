"""When a check can judge an answer at all: a closed gate raises `Settled` with the verdict.

A check that needs a body the server withholds behind a token is skipped with a reason,
never failed: the 401 itself is judged by the checks on errors and declared statuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import NoReturn

from impl.client.conform import judge
from impl.client.conform.model import Exchange, Observations, Received, Verdict

NEEDS_TOKEN = "needs a token: pass --token (or set INFLUX_TOKEN)"
TOKEN_REFUSED = "the server refused the token (401): check --token"
METRICS_DISABLED = "metrics are disabled on the server (403)"
NOTHING_TO_JUDGE = "nothing to judge"
MAX_EVIDENCE = 4  # exchanges shown per check: the first offenders, or a sample
IDENTITY_HEADERS = ("X-Influxdb-Build", "X-Influxdb-Version")


class Settled(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


def skip(reason: str, *evidence: Exchange) -> NoReturn:
    raise Settled(Verdict.skipped(reason, evidence))


def fail(exchange: Exchange, problem: str) -> NoReturn:
    raise Settled(Verdict.failed(f"{exchange.summary()}: {problem}", [exchange], [problem]))


def token_reason(observations: Observations) -> str:
    return TOKEN_REFUSED if observations.token_given else NEEDS_TOKEN


def any_answer(observations: Observations, purpose: str) -> tuple[Exchange, Received]:
    """The answer to `purpose`, a 401 included; skipped when not sent, failed when none."""
    exchange = observations.get(purpose)
    if exchange is None:
        skip(observations.not_sent.get(purpose, "the request was not sent"))
    if exchange.response is None:
        raise Settled(Verdict.failed(exchange.summary(), [exchange], [str(exchange.error)]))
    return exchange, exchange.response


def answer(
    observations: Observations, purpose: str, exposition: bool = False
) -> tuple[Exchange, Received]:
    """As `any_answer`, and skipped when the body is withheld (a token needed, metrics off)."""
    exchange, response = any_answer(observations, purpose)
    if response.status == 401:
        skip(token_reason(observations), exchange)
    if exposition and response.status == 403:
        skip(METRICS_DISABLED, exchange)
    return exchange, response


def success(
    observations: Observations, purpose: str, exposition: bool = False, see: str = ""
) -> tuple[Exchange, Received]:
    """As `answer`, and a 2xx: else skipped when `see` names the status check, else failed."""
    exchange, response = answer(observations, purpose, exposition)
    if 200 <= response.status <= 299:
        return exchange, response
    if see:
        skip(f"no success to judge ({response.status}; see {see})", exchange)
    raise Settled(Verdict.failed(exchange.summary(), [exchange], [f"answered {response.status}"]))


def error_answers(observations: Observations) -> list[tuple[Exchange, Received]]:
    """Every error answer with a body (HEAD answers have none)."""
    answered = observations.answered()
    return [(e, r) for e, r in answered if r.status >= 400 and e.request.method != "HEAD"]


def claims_influxd(exchanges: Iterable[Exchange]) -> bool:
    return any(
        exchange.response is not None
        and any(exchange.response.header(name) for name in IDENTITY_HEADERS)
        for exchange in exchanges
    )


def judged(
    found: Sequence[tuple[Exchange, list[str]]], passed: str, empty: str = NOTHING_TO_JUDGE
) -> Verdict:
    """Failed with each offender's problems, passed with a sample of what was judged,
    skipped when there was nothing to judge."""
    if not found:
        return Verdict.skipped(empty)
    offenders = [exchange for exchange, problems in found if problems]
    problems = [f"{exchange.summary()}: {each}" for exchange, some in found for each in some]
    if offenders:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Verdict.failed(problems[0] + more, offenders[:MAX_EVIDENCE], problems)
    return Verdict.passed(passed, [exchange for exchange, _ in found[:MAX_EVIDENCE]])


def judged_one(exchange: Exchange, problems: list[str], passed: str) -> Verdict:
    return judged([(exchange, problems)], passed)


def judged_codes(
    observations: Observations,
    problems_of: Callable[[Received, str], list[str]],
    passed: str,
    empty: str = "no error answer with a code to judge",
) -> Verdict:
    """A verdict over the error answers that are InfluxDB errors: problems_of(response, code)."""
    coded = [(e, r, judge.error_code(r)) for e, r in error_answers(observations)]
    found = [(e, problems_of(r, code)) for e, r, code in coded if code is not None]
    return judged(found, f"{passed} ({len(found)} judged)", empty)
