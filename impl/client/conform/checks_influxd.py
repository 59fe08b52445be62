"""Checks that encode how influxd 2.x behaves, beyond what the spec requires. Clients
written against influxd (its own CLI, the official client libraries, dashboards) rely
on these; a server passes the spec without them."""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial
from typing import Any

from impl.client.conform import exposition as expo
from impl.client.conform import judge, plan
from impl.client.conform.checks_metrics import parsed_body
from impl.client.conform.gates import (
    IDENTITY_HEADERS,
    any_answer,
    claims_influxd,
    fail,
    judged,
    judged_codes,
    judged_one,
    skip,
    success,
)
from impl.client.conform.model import Check, Exchange, Level, Observations, Received, Verdict
from impl.client.conform.spec import Operation, Spec

SHOULD = Level.SHOULD
ERROR_CODE_HEADER = "X-Platform-Error-Code"
# Go marshals a time.Time in UTC as RFC 3339 with up to nine fractional digits,
# trailing zeros dropped (no fraction at all when it is zero).
GO_UTC_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,8}[1-9])?Z$")
# Go's Duration.String(): "0s", "750ms", "1.5µs", "1h2m3.04s".
GO_DURATION = re.compile(r"^(0s|([0-9]+(\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+)$")
HTTP_LABELS = frozenset({"handler", "method", "path", "response_code", "status", "user_agent"})
# The families every influxd 2.x serves whatever its storage and configuration, with
# their TYPE and the labels of each sample (`le` aside).
INFLUXD_FAMILIES: dict[str, tuple[str, frozenset[str]]] = {
    "http_api_requests_total": ("counter", HTTP_LABELS),
    "http_api_request_duration_seconds": ("histogram", HTTP_LABELS),
    "influxdb_info": (
        "gauge",
        frozenset({"arch", "build_date", "commit", "cpus", "os", "version"}),
    ),
    "influxdb_uptime_seconds": ("gauge", frozenset({"id"})),
}


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
                "/health has influxd's fields: name influxdb, status, message, checks, "
                "version, commit",
                'influxd: /health is name "influxdb", status pass (200) or fail (503), '
                "a message, checks, version (as X-Influxdb-Version) and commit",
            )
        )
    ready = spec.operation_for("/ready", "GET")
    if ready is not None:
        checks += [
            Check("influxd.ready.started", SHOULD, partial(_ready_field, ready, "started")).rule(
                "/ready's started is RFC 3339 in UTC (Z), at most 9 fractional digits",
                "influxd: started is a Go time.Time in UTC, e.g. 2026-05-26T15:42:30.123456789Z",
            ),
            Check("influxd.ready.up", SHOULD, partial(_ready_field, ready, "up")).rule(
                "/ready's up is a Go duration", "influxd: up is a Go Duration's text, e.g. 1m2.3s"
            ),
        ]
    if exposition is not None:
        checks.append(
            Check("influxd.metrics.families", SHOULD, partial(_families, exposition)).rule(
                "a server that claims to be influxd has its families and labels",
                "influxd: " + ", ".join(INFLUXD_FAMILIES) + " with influxd's labels",
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
        exchange, response = success(observations, purpose, see=f"spec.{operation.slug}.status")
    document = judge.error_document(response)  # any JSON object
    if document is None:
        skip(f"no JSON object (see spec.{operation.slug}.body)", exchange)
    return exchange, response, document


def _health(operation: Operation, observations: Observations) -> Verdict:
    exchange, response, document = _json_answer(observations, operation, (200, 503))
    problems = []
    if document.get("name") != "influxdb":
        problems.append(f"name is {document.get('name')!r}, not 'influxdb'")
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


def _started_problem(value: object) -> str | None:
    if not isinstance(value, str) or not GO_UTC_TIME.match(value):
        return f"started {value!r} is not RFC 3339 UTC as Go writes it"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return f"started {value!r} is not a valid time"
    return None


def _up_problem(value: object) -> str | None:
    if not isinstance(value, str) or not GO_DURATION.match(value):
        return f"up {value!r} is not a Go duration"
    return None


def _ready_field(operation: Operation, field: str, observations: Observations) -> Verdict:
    exchange, _, document = _json_answer(observations, operation)
    if field not in document:
        fail(exchange, f"no {field}")
    problem_of = {"started": _started_problem, "up": _up_problem}[field]
    problem = problem_of(document[field])
    return judged_one(exchange, [problem] if problem else [], f"{field}: {document[field]}")


def _families(operation: Operation, observations: Observations) -> Verdict:
    if not claims_influxd(observations.exchanges.values()):
        skip("the server does not claim to be influxd (no X-Influxdb-* header)")
    exchange, parsed = parsed_body(observations, operation)
    by_name = {expo.exposed_name(family): family for family in parsed.families}
    problems = []
    for name, (kind, labels) in INFLUXD_FAMILIES.items():
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
    return judged_one(exchange, problems, f"{len(INFLUXD_FAMILIES)} families present")
