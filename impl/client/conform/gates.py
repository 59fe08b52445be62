"""When a check can judge an answer at all, and what it says when it cannot.

A check that needs a body the server withholds behind a token is skipped with a reason,
never failed: the 401 itself is judged by the checks on errors and declared statuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from impl.client.conform.model import Exchange, Observations, Verdict

NEEDS_TOKEN = "needs a token: pass --token (or set INFLUX_TOKEN)"
TOKEN_REFUSED = "the server refused the token (401): check --token"
METRICS_DISABLED = "metrics are disabled on the server (403)"
NOTHING_TO_JUDGE = "nothing to judge"
MAX_EVIDENCE = 4  # exchanges shown per check: the first offenders, or a sample


def token_reason(observations: Observations) -> str:
    return TOKEN_REFUSED if observations.token_given else NEEDS_TOKEN


def withheld(
    observations: Observations, exchange: Exchange, exposition: bool = False
) -> str | None:
    """Why the answer's body cannot be judged (a token needed, metrics disabled), or None."""
    if exchange.response is None:
        return None
    if exchange.response.status == 401:
        return token_reason(observations)
    if exposition and exchange.response.status == 403:
        return METRICS_DISABLED
    return None


def any_answer(observations: Observations, purpose: str) -> tuple[Exchange | None, Verdict | None]:
    """The exchange for `purpose` when the server answered at all (a 401 included);
    otherwise the verdict to give (skipped when not sent, failed when unanswered)."""
    exchange = observations.get(purpose)
    if exchange is None:
        return None, Verdict.skipped(observations.not_sent.get(purpose, "the request was not sent"))
    if exchange.response is None:
        return None, Verdict.failed(exchange.summary(), [exchange], [str(exchange.error)])
    return exchange, None


def answer(
    observations: Observations, purpose: str, exposition: bool = False
) -> tuple[Exchange | None, Verdict | None]:
    """As `any_answer`, and skipped when the body is withheld (a token needed, metrics
    disabled)."""
    exchange, verdict = any_answer(observations, purpose)
    if exchange is None:
        return None, verdict
    reason = withheld(observations, exchange, exposition)
    if reason:
        return None, Verdict.skipped(reason, [exchange])
    return exchange, None


def success(
    observations: Observations, purpose: str, exposition: bool = False, see: str = ""
) -> tuple[Exchange | None, Verdict | None]:
    """As `answer`, and the answer must be a success (2xx); an error answer is skipped
    when `see` names the check that judges its status, else failed."""
    exchange, verdict = answer(observations, purpose, exposition)
    if exchange is None or exchange.response is None:
        return None, verdict
    status = exchange.response.status
    if 200 <= status <= 299:
        return exchange, None
    if see:
        return None, Verdict.skipped(f"no success to judge ({status}; see {see})", [exchange])
    return None, Verdict.failed(exchange.summary(), [exchange], [f"answered {status}"])


def judged(
    subjects: Sequence[Exchange],
    problems_of: Iterable[tuple[Exchange, list[str]]],
    passed: str,
    empty: str = NOTHING_TO_JUDGE,
) -> Verdict:
    """A verdict over several exchanges: failed with each offender's problems, passed
    with a sample of what was judged, skipped when there was nothing to judge."""
    if not subjects:
        return Verdict.skipped(empty)
    offenders: list[Exchange] = []
    problems: list[str] = []
    for exchange, found in problems_of:
        if found:
            offenders.append(exchange)
            problems += [f"{exchange.summary()}: {problem}" for problem in found]
    if offenders:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Verdict.failed(problems[0] + more, offenders[:MAX_EVIDENCE], problems)
    return Verdict.passed(passed, subjects[:MAX_EVIDENCE])
