"""Checks on the /metrics exposition: format, lint rules, gzip, HEAD, OpenMetrics, name[].

The operation is the GET whose success the spec declares as text/plain; its plain
scrape (text format asked for, no compression) is the body the lint rules read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from impl.client.conform import exposition_rules as rules
from impl.client.conform import judge, plan
from impl.client.conform.contract import Operation, Spec
from impl.client.conform.gates import (
    any_answer,
    fail,
    family_to_select,
    judged_one,
    not_run,
    parse,
    parsed_body,
    parsed_scrape,
    scrape,
    scrape_success,
    skip,
    status_check,
    success,
)
from impl.client.conform.influxd import IDENTITY_HEADERS
from impl.client.conform.model import Check, Exchange, Level, Observations, Received, Verdict
from impl.client.conform.parsing import Parsed, exposed_name, parse_openmetrics

MUST, SHOULD, MAY = Level.MUST, Level.SHOULD, Level.MAY
TEXT_FORMAT = "Prometheus text exposition format 0.0.4"
OPENMETRICS = "OpenMetrics 1.0.0"
PROMTOOL = "promtool check metrics (lint)"
INFLUXD_PROMHTTP = "influxd: /metrics is Go's promhttp with default options"
# Headers a HEAD answer must share with the GET one (Date and Content-Length may differ).
HEAD_SHARED = ("Content-Type", "Content-Encoding", "Vary", *IDENTITY_HEADERS)


def metrics_checks(spec: Spec, operation: Operation) -> list[Check]:
    where = f"{operation.method} {operation.path}"
    names = plan.names_parameter(operation)
    head = plan.exposition_head(spec, operation)
    histograms = rules.histogram_problems

    def lint(name: str, level: Level, problems_of: Callable[[Parsed], list[str]]) -> Check:
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
        lint("help-type", SHOULD, rules.help_type_problems).rule(
            "every family has HELP and TYPE", PROMTOOL
        ),
        lint("names", MUST, rules.name_problems).rule(
            "metric and label names are valid", TEXT_FORMAT
        ),
        lint("counter-total", MAY, rules.counter_total_problems).rule(
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
        Check("metrics.head", SHOULD, partial(_head, operation, head)).rule(
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
    purpose, see = plan.baseline_purpose(operation), status_check(operation)
    exchange, response = success(observations, purpose, True, see)
    if response.media_type not in ("text/plain", plan.OPENMETRICS_MEDIA_TYPE):
        not_run(f"not a Prometheus media type (see spec.{operation.slug}.media-type)", exchange)
    content_type = response.header("Content-Type") or ""
    problems = rules.content_type_problems(content_type, response.media_type)
    return judged_one(exchange, problems, f"Content-Type: {content_type}")


def _parses(operation: Operation, observations: Observations) -> Verdict:
    exchange, parsed = parsed_scrape(observations, operation)
    problems = [parsed.error] if parsed.error else []
    return judged_one(exchange, problems, f"{len(parsed.families)} families parsed")


def _head(operation: Operation, head_purpose: str, observations: Observations) -> Verdict:
    # No token gate: a 401 to HEAD must look like the 401 to GET, too.
    get = observations.get(plan.baseline_purpose(operation))
    head, response = any_answer(observations, head_purpose)
    if get is None or get.response is None:
        not_run("the GET had no answer to compare with", head)
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
    exchange, response = scrape_success(observations, operation, plan.METRICS_GZIP)
    encoding = (response.header("Content-Encoding") or "").lower()
    if encoding != "gzip":
        fail(exchange, f"Content-Encoding {encoding or 'absent'}: the gzip asked for was ignored")
    body, problem = judge.decoded_body(response)
    if problem:
        fail(exchange, problem)
    return Verdict.passed(f"{len(response.body)} bytes of gzip for {len(body)}", [exchange])


def _gzip_vary(operation: Operation, observations: Observations) -> Verdict:
    exchange, response = scrape_success(observations, operation, plan.METRICS_GZIP)
    if (response.header("Content-Encoding") or "").lower() != "gzip":
        not_run("the answer was not compressed (see metrics.gzip)", exchange)
    vary = ",".join(response.header_values("Vary")).lower()
    varies = {token.strip() for token in vary.split(",")}
    problems = [] if varies & {"accept-encoding", "*"} else ["no Vary: Accept-Encoding"]
    return judged_one(exchange, problems, "Vary: Accept-Encoding")


def _openmetrics_answer(
    operation: Operation, observations: Observations
) -> tuple[Exchange, Received, str]:
    if not plan.offers_openmetrics(operation):
        skip("the spec declares no OpenMetrics")
    exchange, response, text = scrape(observations, operation, plan.METRICS_OPENMETRICS)
    if response.media_type != plan.OPENMETRICS_MEDIA_TYPE:
        shown = response.header("Content-Type") or "no Content-Type"
        skip(f"the server does not offer OpenMetrics ({shown})", exchange)
    return exchange, response, text


def _openmetrics(operation: Operation, observations: Observations) -> Verdict:
    exchange, response, text = _openmetrics_answer(operation, observations)
    content_type = response.header("Content-Type") or ""
    problems = rules.openmetrics_problems(text, content_type)
    return judged_one(exchange, problems, f"Content-Type: {content_type}")


def _exemplars(operation: Operation, observations: Observations) -> Verdict:
    exchange, _, text = _openmetrics_answer(operation, observations)
    parsed = parse_openmetrics(text)
    if parsed.error:
        not_run("the OpenMetrics answer does not parse (see metrics.openmetrics)", exchange)
    count, problems = rules.exemplar_problems(parsed.families)
    if not count:
        skip("the OpenMetrics answer has no exemplars", exchange)
    return judged_one(exchange, problems, f"every exemplar is valid ({count} judged)")


def _name_filter(operation: Operation, observations: Observations) -> Verdict:
    if plan.names_parameter(operation) is None:
        skip("the spec declares no name[] parameter")
    base, everything = parsed_body(observations, operation)
    wanted = family_to_select(observations, operation)
    if wanted is None:
        skip("the plain scrape has no two families to choose from", base)
    exchange, response, text = scrape(observations, operation, plan.METRICS_NAMES)
    parsed = parse(response, text)
    if parsed.error:
        fail(exchange, parsed.error)
    got = sorted(exposed_name(family) for family in parsed.families)
    if got == [wanted]:
        return Verdict.passed(f"{exchange.summary()}: only {wanted}", [exchange])
    if len(got) >= len(everything.families):
        skip(f"the server ignores name[] ({len(got)} families came), as influxd does", exchange)
    fail(exchange, f"asked for {wanted}, got {', '.join(got) or 'no family'}")
