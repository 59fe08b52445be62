"""Checks on the /metrics exposition: format, lint rules, gzip, HEAD, OpenMetrics, name[].

The operation is the one whose success the spec declares as text/plain; its plain
scrape (text format asked for, no compression) is the body the lint rules read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from impl.client.conform import exposition as expo
from impl.client.conform import plan
from impl.client.conform.gates import Settled, any_answer, fail, judged_one, skip, success
from impl.client.conform.judge import decoded_body, text_of
from impl.client.conform.model import Check, Exchange, Level, Observations, Received, Verdict
from impl.client.conform.spec import Operation

MUST, SHOULD, MAY = Level.MUST, Level.SHOULD, Level.MAY
TEXT_FORMAT = "Prometheus text exposition format 0.0.4"
OPENMETRICS = "OpenMetrics 1.0.0"
PROMTOOL = "promtool check metrics (lint)"
INFLUXD_PROMHTTP = "influxd: /metrics is Go's promhttp with default options"
# Headers a HEAD answer must share with the GET one (Date and Content-Length may differ).
HEAD_SHARED = ("Content-Type", "Content-Encoding", "Vary", "X-Influxdb-Build", "X-Influxdb-Version")


def _scrape_success(
    observations: Observations, operation: Operation, purpose: str
) -> tuple[Exchange, Received]:
    """A scrape that must succeed. When the plain scrape failed too, the other scrapes'
    failures are the same one: the operation's status check tells it, once."""
    baseline = observations.get(plan.baseline_purpose(operation))
    plain_failed = baseline is None or baseline.response is None or baseline.response.status >= 300
    see = f"spec.{operation.slug}.status" if plain_failed else ""
    return success(observations, purpose, True, see)


def _scrape(
    observations: Observations, operation: Operation, purpose: str
) -> tuple[Exchange, Received, str]:
    exchange, response = _scrape_success(observations, operation, purpose)
    body, problem = decoded_body(response)
    text = ""
    if not problem:
        text, problem = text_of(body, response.header("Content-Type"))
    if problem and purpose == plan.baseline_purpose(operation):
        skip(f"the body cannot be read (see spec.{operation.slug}.body)", exchange)
    if problem:
        fail(exchange, problem)
    return exchange, response, text


def _parse(response: Received, text: str) -> expo.Parsed:
    openmetrics = response.media_type == plan.OPENMETRICS_MEDIA_TYPE
    return (expo.parse_openmetrics if openmetrics else expo.parse_text)(text)


def parsed_scrape(observations: Observations, operation: Operation) -> tuple[Exchange, expo.Parsed]:
    purpose = plan.baseline_purpose(operation)
    exchange, response, text = _scrape(observations, operation, purpose)
    if purpose not in observations.parsed:
        observations.parsed[purpose] = _parse(response, text)
    return exchange, observations.parsed[purpose]


def parsed_body(observations: Observations, operation: Operation) -> tuple[Exchange, expo.Parsed]:
    """The plain scrape, parsed; skipped when it does not parse."""
    exchange, parsed = parsed_scrape(observations, operation)
    if parsed.error:
        skip("the body does not parse (see metrics.exposition.parses)", exchange)
    return exchange, parsed


def metrics_checks(operation: Operation) -> list[Check]:
    where = f"{operation.method} {operation.path}"
    names = plan.names_parameter(operation)
    histograms = expo.histogram_problems

    def lint(name: str, level: Level, problems_of: Callable[[expo.Parsed], list[str]]) -> Check:
        def evaluate(observations: Observations) -> Verdict:
            exchange, parsed = parsed_body(observations, operation)
            passed = f"every family follows the rule ({len(parsed.families)} judged)"
            return judged_one(exchange, problems_of(parsed), passed)

        return Check(f"metrics.exposition.{name}", level, evaluate)

    return [
        Check("metrics.exposition.content-type", SHOULD, partial(_content_type, operation)).rule(
            f"{where}: Content-Type names the format version (text/plain; version=0.0.4)",
            INFLUXD_PROMHTTP,
        ),
        Check("metrics.exposition.parses", MUST, partial(_parses, operation)).rule(
            f"{where}: prometheus_client's parser reads the body",
            f"{TEXT_FORMAT}; openapi.yaml{operation.pointer}/responses/200/content",
        ),
        lint("help-type", SHOULD, expo.help_type_problems).rule(
            "every family has HELP and TYPE", PROMTOOL
        ),
        lint("names", MUST, expo.name_problems).rule(
            "metric and label names are valid", TEXT_FORMAT
        ),
        lint("counter-total", MAY, expo.counter_total_problems).rule(
            "counter names end in _total", PROMTOOL
        ),
        lint("histogram-cumulative", MUST, lambda parsed: histograms(parsed).cumulative).rule(
            "histogram buckets are cumulative", TEXT_FORMAT
        ),
        lint("histogram-inf", MUST, lambda parsed: histograms(parsed).inf).rule(
            'every histogram ends with an le="+Inf" bucket', TEXT_FORMAT
        ),
        lint("histogram-count", MUST, lambda parsed: histograms(parsed).count).rule(
            "a histogram's _count equals its +Inf bucket", TEXT_FORMAT
        ),
        Check("metrics.head", SHOULD, partial(_head, operation)).rule(
            f"HEAD {operation.path} answers with GET's status and headers",
            "influxd: HEAD /metrics gives the headers of GET; RFC 9110 §9.3.2",
        ),
        Check("metrics.gzip", SHOULD, partial(_gzip, operation)).rule(
            "Accept-Encoding: gzip gets a gzip body",
            INFLUXD_PROMHTTP + " (gzip when the client accepts it)",
        ),
        Check("metrics.gzip-vary", MAY, partial(_gzip_vary, operation)).rule(
            "a gzip answer says Vary: Accept-Encoding",
            "RFC 9110 §12.5.5 (a recommendation influxd's promhttp does not follow)",
        ),
        Check("metrics.openmetrics", MAY, partial(_openmetrics, operation)).rule(
            "OpenMetrics, when offered, ends with # EOF and parses",
            f"{OPENMETRICS}; openapi.yaml{operation.pointer}/responses/200/content",
        ),
        Check("metrics.openmetrics.exemplars", MAY, partial(_exemplars, operation)).rule(
            "OpenMetrics exemplars sit on buckets or counters, inside their bucket",
            OPENMETRICS + " (exemplars)",
        ),
        Check("metrics.name-filter", MAY, partial(_name_filter, operation)).rule(
            "name[], when honoured, returns exactly the named family",
            "openapi.yaml" + (names.pointer if names else operation.pointer + "/parameters"),
        ),
    ]


def _content_type(operation: Operation, observations: Observations) -> Verdict:
    see = f"spec.{operation.slug}.status"
    exchange, response = success(observations, plan.baseline_purpose(operation), True, see)
    if response.media_type not in ("text/plain", plan.OPENMETRICS_MEDIA_TYPE):
        skip(f"not a Prometheus media type (see spec.{operation.slug}.media-type)", exchange)
    content_type = response.header("Content-Type") or ""
    problems = expo.content_type_problems(content_type, response.media_type)
    return judged_one(exchange, problems, f"Content-Type: {content_type}")


def _parses(operation: Operation, observations: Observations) -> Verdict:
    exchange, parsed = parsed_scrape(observations, operation)
    problems = [parsed.error] if parsed.error else []
    return judged_one(exchange, problems, f"{len(parsed.families)} families parsed")


def _head(operation: Operation, observations: Observations) -> Verdict:
    # No token gate: a 401 to HEAD must look like the 401 to GET, too.
    get = observations.get(plan.baseline_purpose(operation))
    head, response = any_answer(observations, plan.METRICS_HEAD)
    if get is None or get.response is None:
        skip("the GET had no answer to compare with", head)
    problems = []
    if response.status != get.response.status:
        problems.append(f"status {response.status}, GET got {get.response.status}")
    for name in HEAD_SHARED:
        if response.header(name) != get.response.header(name):
            problems.append(
                f"{name}: {response.header(name)!r}, GET got {get.response.header(name)!r}"
            )
    if problems:
        return Verdict.failed(f"{head.summary()}: {problems[0]}", [head, get], problems)
    return Verdict.passed(f"{head.summary()}: as {get.summary()}", [head, get])


def _gzip(operation: Operation, observations: Observations) -> Verdict:
    exchange, response = _scrape_success(observations, operation, plan.METRICS_GZIP)
    encoding = (response.header("Content-Encoding") or "").lower()
    if encoding != "gzip":
        fail(exchange, f"Content-Encoding {encoding or 'absent'}: the gzip asked for was ignored")
    body, problem = decoded_body(response)
    if problem:
        fail(exchange, problem)
    return Verdict.passed(f"{len(response.body)} bytes of gzip for {len(body)}", [exchange])


def _gzip_vary(operation: Operation, observations: Observations) -> Verdict:
    exchange, response = _scrape_success(observations, operation, plan.METRICS_GZIP)
    if (response.header("Content-Encoding") or "").lower() != "gzip":
        skip("the answer was not compressed (see metrics.gzip)", exchange)
    varies = {
        token.strip() for token in ",".join(response.header_values("Vary")).lower().split(",")
    }
    problems = [] if varies & {"accept-encoding", "*"} else ["no Vary: Accept-Encoding"]
    return judged_one(exchange, problems, "Vary: Accept-Encoding")


def _openmetrics_answer(
    operation: Operation, observations: Observations
) -> tuple[Exchange, Received, str]:
    if not plan.offers_openmetrics(operation):
        skip("the spec declares no OpenMetrics")
    exchange, response, text = _scrape(observations, operation, plan.METRICS_OPENMETRICS)
    if response.media_type != plan.OPENMETRICS_MEDIA_TYPE:
        shown = response.header("Content-Type") or "no Content-Type"
        skip(f"the server does not offer OpenMetrics ({shown})", exchange)
    return exchange, response, text


def _openmetrics(operation: Operation, observations: Observations) -> Verdict:
    exchange, response, text = _openmetrics_answer(operation, observations)
    content_type = response.header("Content-Type") or ""
    problems = expo.openmetrics_problems(text, content_type)
    return judged_one(exchange, problems, f"Content-Type: {content_type}")


def _exemplars(operation: Operation, observations: Observations) -> Verdict:
    exchange, _, text = _openmetrics_answer(operation, observations)
    parsed = expo.parse_openmetrics(text)
    if parsed.error:
        skip("the OpenMetrics answer does not parse (see metrics.openmetrics)", exchange)
    count, problems = expo.exemplar_problems(parsed.families)
    if not count:
        skip("the OpenMetrics answer has no exemplars", exchange)
    return judged_one(exchange, problems, f"every exemplar is valid ({count} judged)")


def family_to_select(observations: Observations, operation: Operation) -> str | None:
    """A family for the name[] request: one of several, so that a filter shows."""
    try:
        _, parsed = parsed_scrape(observations, operation)
    except Settled:
        return None
    if parsed.error or len(parsed.families) < 2:
        return None
    return sorted(expo.exposed_name(family) for family in parsed.families)[0]


def _name_filter(operation: Operation, observations: Observations) -> Verdict:
    if plan.names_parameter(operation) is None:
        skip("the spec declares no name[] parameter")
    base, everything = parsed_scrape(observations, operation)
    wanted = family_to_select(observations, operation)
    if wanted is None:
        skip("the plain scrape has no two families to choose from", base)
    exchange, response, text = _scrape(observations, operation, plan.METRICS_NAMES)
    parsed = _parse(response, text)
    if parsed.error:
        fail(exchange, parsed.error)
    got = sorted(expo.exposed_name(family) for family in parsed.families)
    if got == [wanted]:
        return Verdict.passed(f"{exchange.summary()}: only {wanted}", [exchange])
    if len(got) >= len(everything.families):
        skip(f"the server ignores name[] ({len(got)} families came), as influxd does", exchange)
    fail(exchange, f"asked for {wanted}, got {', '.join(got) or 'no family'}")
