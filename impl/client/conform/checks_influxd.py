"""Checks that encode how influxd 2.x behaves, beyond what the spec requires. Clients
written against influxd (its own CLI, the official client libraries, dashboards) rely
on these; a server passes the spec without them."""

from __future__ import annotations

from functools import partial
from typing import Any

from impl.client.conform import influxd, judge, plan
from impl.client.conform.contract import Operation, Spec
from impl.client.conform.gates import (
    any_answer,
    fail,
    judged,
    judged_codes,
    judged_one,
    not_run,
    parsed_body,
    skip,
    status_check,
    success,
)
from impl.client.conform.influxd import ERROR_CODE_HEADER, IDENTITY_HEADERS, claims_influxd
from impl.client.conform.model import Check, Exchange, Level, Observations, Received, Verdict
from impl.client.conform.parsing import exposed_name

SHOULD = Level.SHOULD


def influxd_checks(spec: Spec, exposition: Operation | None) -> list[Check]:
    checks = [
        Check("influxd.identity-headers", SHOULD, _identity_headers).rule(
            "every answer carries X-Influxdb-Build and X-Influxdb-Version",
            "influxd: every response has X-Influxdb-Build: OSS and X-Influxdb-Version",
        ),
        Check("influxd.error-code-header", SHOULD, _error_code_header).rule(
            f"every InfluxDB error carries {ERROR_CODE_HEADER} with its code",
            f"influxd: an error's code is repeated in {ERROR_CODE_HEADER}",
        ),
    ]
    health = spec.operation_for("/health", "GET")
    if health is not None:
        checks.append(
            Check("influxd.health", SHOULD, partial(_health, health)).rule(
                f"/health has influxd's fields: name {influxd.HEALTH_NAME}, status, message, "
                "checks, version, commit",
                'influxd: /health is name "influxdb", status pass (200) or fail (503), '
                "a message, checks, version (as X-Influxdb-Version) and commit",
            )
        )
    ready = spec.operation_for("/ready", "GET")
    if ready is not None:
        checks += [
            Check("influxd.ready.started", SHOULD, partial(_ready_field, ready, "started")).rule(
                f"/ready's started is a time as influxd writes it: {influxd.AS_GO_WRITES_IT}",
                "influxd: started is a Go time.Time, e.g. 2026-05-26T15:42:30.12345Z "
                "(any RFC 3339 form is the spec's date-time, judged by the body check)",
            ),
            Check("influxd.ready.up", SHOULD, partial(_ready_field, ready, "up")).rule(
                "/ready's up is a Go duration", "influxd: up is a Go Duration's text, e.g. 1m2.3s"
            ),
        ]
    if exposition is not None:
        checks.append(
            Check("influxd.metrics.families", SHOULD, partial(_families, exposition)).rule(
                "a server that claims to be influxd has its families and labels",
                "influxd: " + ", ".join(influxd.FAMILIES) + " with influxd's labels",
            )
        )
    return checks


def _identity_headers(observations: Observations) -> Verdict:
    found = [
        (exchange, [f"no {name}" for name in IDENTITY_HEADERS if not response.header(name)])
        for exchange, response in observations.answered()
    ]
    return judged(
        found, f"every answer has both headers ({len(found)} judged)", "no answer to judge"
    )


def _error_code_header(observations: Observations) -> Verdict:
    passed, empty = "every InfluxDB error repeats its code", "no InfluxDB error answer to judge"
    return judged_codes(observations, _code_header_problems, passed, empty)


def _code_header_problems(response: Received, code: str) -> list[str]:
    header = response.header(ERROR_CODE_HEADER)
    if header is None:
        return [f"no {ERROR_CODE_HEADER} (the body's code is {code!r})"]
    return [] if header == code else [f"{ERROR_CODE_HEADER}: {header!r}, the body's code {code!r}"]


def _json_answer(
    observations: Observations, operation: Operation, statuses: tuple[int, ...] = (200,)
) -> tuple[Exchange, Received, dict[str, Any]]:
    purpose = plan.baseline_purpose(operation)
    exchange, response = any_answer(observations, purpose)
    if response.status not in statuses:
        exchange, response = success(observations, purpose, see=status_check(operation))
    document = judge.error_document(response)  # any JSON object
    if document is None:
        not_run(f"no JSON object (see spec.{operation.slug}.body)", exchange)
    return exchange, response, document


def _health(operation: Operation, observations: Observations) -> Verdict:
    exchange, response, document = _json_answer(observations, operation, (200, 503))
    problems = []
    if document.get("name") != influxd.HEALTH_NAME:
        problems.append(f"name is {document.get('name')!r}, not {influxd.HEALTH_NAME!r}")
    expected = "pass" if response.status == 200 else "fail"
    if document.get("status") != expected:
        problems.append(
            f"status is {document.get('status')!r} with {response.status}, not {expected!r}"
        )
    for field, kind in (("message", str), ("checks", list), ("version", str), ("commit", str)):
        if not isinstance(document.get(field), kind):
            problems.append(f"{field} is missing or not a {kind.__name__}")
    header = response.header("X-Influxdb-Version")
    version = document.get("version")
    if header is not None and isinstance(version, str) and version != header:
        problems.append(f"version {version!r} differs from X-Influxdb-Version {header!r}")
    return judged_one(exchange, problems, f"{exchange.summary()}: influxd's fields")


def _ready_field(operation: Operation, field: str, observations: Observations) -> Verdict:
    exchange, _, document = _json_answer(observations, operation)
    if field not in document:
        fail(exchange, f"no {field}")
    problem_of = {"started": influxd.go_time_problem, "up": influxd.go_duration_problem}[field]
    problem = problem_of(field, document[field])
    return judged_one(exchange, [problem] if problem else [], f"{field}: {document[field]}")


def _families(operation: Operation, observations: Observations) -> Verdict:
    if not claims_influxd(observations.exchanges.values()):
        skip("the server does not claim to be influxd (no X-Influxdb-* header)")
    exchange, parsed = parsed_body(observations, operation)
    by_name = {exposed_name(family): family for family in parsed.families}
    problems = []
    for name, (kind, labels) in influxd.FAMILIES.items():
        family = by_name.get(name)
        if family is None:
            problems.append(f"no {name}")
            continue
        if family.type != kind:
            problems.append(f"{name} is a {family.type}, influxd's is a {kind}")
        lacking = {
            label
            for sample in family.samples
            for label in labels - {k for k in sample.labels if k != "le"}
        }
        if lacking:
            problems.append(f"{name} samples lack the labels {', '.join(sorted(lacking))}")
    return judged_one(exchange, problems, f"{len(influxd.FAMILIES)} families present")
