"""What every check module shares: getting the answer a check judges (or settling the
check when there is none to judge), reading the plain scrape once for all, and
turning problems into a verdict.

A check that cannot judge ends in one of two ways. `skip`: there is nothing to judge
(the spec declares no such thing, the server does not offer an option, no answer of
the kind came). `not_run`: there was something to judge but it could not be seen (the
answer was withheld by a 401 or 403, or by a 503 `unavailable` (the server said it
cannot serve it now: an outage, or a failure drill), never came, or another check
already failed on it); a MUST check that did not run makes the run INCOMPLETE.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NoReturn

from impl.client.conform import judge, plan
from impl.client.conform.contract import Operation
from impl.client.conform.model import Exchange, Observations, Received, Verdict
from impl.client.conform.parsing import Parsed, exposed_name, parse_openmetrics, parse_text, text_of

NEEDS_TOKEN = "needs a token: pass --token (or set INFLUX_TOKEN)"
TOKEN_REFUSED = "the server refused the token (401): check --token"
METRICS_DISABLED = "metrics are disabled on the server (403): the exposition could not be read"
UNAVAILABLE = "the server is unavailable (503 unavailable)"
NOTHING_TO_JUDGE = "nothing to judge"
MAX_EVIDENCE = 4  # exchanges shown per check: the first offenders, or a sample


class Settled(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


def skip(reason: str, *evidence: Exchange) -> NoReturn:
    raise Settled(Verdict.skipped(reason, evidence))


def not_run(reason: str, *evidence: Exchange) -> NoReturn:
    raise Settled(Verdict.not_run(reason, evidence))


def fail(exchange: Exchange, problem: str) -> NoReturn:
    raise Settled(Verdict.failed(f"{exchange.summary()}: {problem}", [exchange], [problem]))


def token_reason(observations: Observations) -> str:
    return TOKEN_REFUSED if observations.token_given else NEEDS_TOKEN


def any_answer(observations: Observations, purpose: str) -> tuple[Exchange, Received]:
    """The answer to `purpose`, a 401 included; not run when not sent, failed when none."""
    exchange = observations.get(purpose)
    if exchange is None:
        not_run(observations.not_sent.get(purpose, "the request was not sent"))
    if exchange.response is None:
        raise Settled(Verdict.failed(exchange.summary(), [exchange], [str(exchange.error)]))
    return exchange, exchange.response


def unavailable(response: Received) -> str | None:
    """Why the answer was withheld, when it is a 503 with InfluxDB's code `unavailable`
    (the header, or for a body the code in it): the server says it cannot serve now,
    which says nothing of what it serves when it can. None for any other answer."""
    if response.status != 503:
        return None
    code = response.header("X-Platform-Error-Code") or judge.error_code(response)
    if code != "unavailable":
        return None
    document = judge.error_document(response) or {}
    message = document.get("message")
    return f"{UNAVAILABLE}: {message}" if isinstance(message, str) and message else UNAVAILABLE


def answer(
    observations: Observations, purpose: str, exposition: bool = False
) -> tuple[Exchange, Received]:
    """As `any_answer`; not run when the answer is withheld (a token needed, and for the
    exposition, metrics disabled)."""
    exchange, response = any_answer(observations, purpose)
    if response.status == 401:
        not_run(token_reason(observations), exchange)
    if exposition and response.status == 403:
        not_run(METRICS_DISABLED, exchange)
    withheld = unavailable(response) if exposition else None
    if withheld is not None:
        not_run(f"{withheld}; the exposition could not be read", exchange)
    return exchange, response


def success(
    observations: Observations, purpose: str, exposition: bool = False, see: str = ""
) -> tuple[Exchange, Received]:
    """As `answer`, and a 2xx: else not run when `see` names the check that judges the
    status, else failed."""
    exchange, response = answer(observations, purpose, exposition)
    if 200 <= response.status <= 299:
        return exchange, response
    if see:
        not_run(f"no success to judge ({response.status}; see {see})", exchange)
    raise Settled(Verdict.failed(exchange.summary(), [exchange], [f"answered {response.status}"]))


def error_answers(observations: Observations) -> list[tuple[Exchange, Received]]:
    """Every error answer with a body (HEAD answers have none)."""
    answered = observations.answered()
    return [(e, r) for e, r in answered if r.status >= 400 and e.request.method != "HEAD"]


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


def status_check(operation: Operation) -> str:
    """The id of the check that judges the operation's status: what others point to."""
    return f"spec.{operation.slug}.status"


def scrape_success(
    observations: Observations, operation: Operation, purpose: str
) -> tuple[Exchange, Received]:
    """A scrape that must succeed. When the plain scrape failed too, the other scrapes'
    failures are the same one: the operation's status check tells it, once."""
    baseline = observations.get(plan.baseline_purpose(operation))
    plain_failed = baseline is None or baseline.response is None or baseline.response.status >= 300
    see = status_check(operation) if plain_failed else ""
    return success(observations, purpose, True, see)


def scrape(
    observations: Observations, operation: Operation, purpose: str
) -> tuple[Exchange, Received, str]:
    """A successful scrape's body as text."""
    exchange, response = scrape_success(observations, operation, purpose)
    body, problem = judge.decoded_body(response)
    text = ""
    if not problem:
        text, problem = text_of(body, response.header("Content-Type"))
    if problem and purpose == plan.baseline_purpose(operation):
        not_run(f"the body cannot be read (see spec.{operation.slug}.body)", exchange)
    if problem:
        fail(exchange, problem)
    return exchange, response, text


def parse(response: Received, text: str) -> Parsed:
    """In the format the response says it is in."""
    openmetrics = response.media_type == plan.OPENMETRICS_MEDIA_TYPE
    return parse_openmetrics(text) if openmetrics else parse_text(text)


def parsed_scrape(observations: Observations, operation: Operation) -> tuple[Exchange, Parsed]:
    """The plain scrape, parsed once per run."""
    purpose = plan.baseline_purpose(operation)
    exchange, response, text = scrape(observations, operation, purpose)
    if purpose not in observations.parsed:
        observations.parsed[purpose] = parse(response, text)
    return exchange, observations.parsed[purpose]


def parsed_body(observations: Observations, operation: Operation) -> tuple[Exchange, Parsed]:
    """The plain scrape, parsed; not run when it does not parse."""
    exchange, parsed = parsed_scrape(observations, operation)
    if parsed.error:
        not_run("the body does not parse (see metrics.exposition.parses)", exchange)
    return exchange, parsed


def family_to_select(observations: Observations, operation: Operation) -> str | None:
    """A family for the name[] request: one of several, so that a filter shows."""
    try:
        _, parsed = parsed_scrape(observations, operation)
    except Settled:
        return None
    if parsed.error or len(parsed.families) < 2:
        return None
    return sorted(exposed_name(family) for family in parsed.families)[0]
