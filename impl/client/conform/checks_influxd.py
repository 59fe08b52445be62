"""Checks that encode how influxd 2.x behaves, beyond what the spec requires: identity
headers, error headers, the fields of /health and /ready, and its metric families.
Clients written against influxd (its own CLI, the official client libraries,
dashboards) rely on these; a server passes the spec without them."""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial
from typing import Any

from impl.client.conform import exposition as expo
from impl.client.conform import judge, plan
from impl.client.conform.checks_metrics import parsed_scrape
from impl.client.conform.gates import judged, success
from impl.client.conform.model import Check, Exchange, Level, Observations, Verdict
from impl.client.conform.spec import Operation, Spec

SHOULD = Level.SHOULD
IDENTITY_HEADERS = ("X-Influxdb-Build", "X-Influxdb-Version")
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
        Check(
            "influxd.identity-headers",
            SHOULD,
            "every answer carries X-Influxdb-Build and X-Influxdb-Version",
            "influxd: every response has X-Influxdb-Build: OSS and X-Influxdb-Version",
            _identity_headers,
        ),
        Check(
            "influxd.error-code-header",
            SHOULD,
            f"every InfluxDB error carries {ERROR_CODE_HEADER} with its code",
            f"influxd: an error's code is repeated in {ERROR_CODE_HEADER}",
            _error_code_header,
        ),
    ]
    health = spec.operation_for("/health", "GET")
    if health is not None:
        checks.append(
            Check(
                "influxd.health",
                SHOULD,
                "/health has influxd's fields: name influxdb, status, message, checks, "
                "version, commit",
                'influxd: /health is name "influxdb", status pass (200) or fail (503), '
                "a message, checks, version (as X-Influxdb-Version) and commit",
                partial(_health, health),
            )
        )
    ready = spec.operation_for("/ready", "GET")
    if ready is not None:
        checks += [
            Check(
                "influxd.ready.started",
                SHOULD,
                "/ready's started is RFC 3339 in UTC (Z), at most 9 fractional digits",
                "influxd: started is a Go time.Time in UTC, e.g. 2026-05-26T15:42:30.123456789Z",
                partial(_ready_field, ready, "started", _started_problem),
            ),
            Check(
                "influxd.ready.up",
                SHOULD,
                "/ready's up is a Go duration",
                "influxd: up is a Go Duration's text, e.g. 1m2.3s",
                partial(_ready_field, ready, "up", _up_problem),
            ),
        ]
    if exposition is not None:
        checks.append(
            Check(
                "influxd.metrics.families",
                SHOULD,
                "a server that claims to be influxd has its families and labels",
                "influxd: " + ", ".join(INFLUXD_FAMILIES) + " with influxd's labels",
                partial(_families, exposition),
            )
        )
    return checks


def _identity_headers(observations: Observations) -> Verdict:
    answered = observations.answered()

    def problems(exchange: Exchange) -> list[str]:
        assert exchange.response is not None
        return [f"no {name}" for name in IDENTITY_HEADERS if not exchange.response.header(name)]

    return judged(
        answered,
        ((exchange, problems(exchange)) for exchange in answered),
        f"every answer has both headers ({len(answered)} judged)",
        "no answer to judge",
    )


def _error_code_header(observations: Observations) -> Verdict:
    coded = []
    for exchange in observations.answered():
        assert exchange.response is not None
        if exchange.response.status >= 400 and exchange.request.method != "HEAD":
            code = judge.error_code(exchange.response)
            if code is not None:
                coded.append((exchange, code))

    def problems(exchange: Exchange, code: str) -> list[str]:
        assert exchange.response is not None
        header = exchange.response.header(ERROR_CODE_HEADER)
        if header is None:
            return [f"no {ERROR_CODE_HEADER} (the body's code is {code!r})"]
        return (
            [] if header == code else [f"{ERROR_CODE_HEADER}: {header!r}, the body's code {code!r}"]
        )

    return judged(
        [exchange for exchange, _ in coded],
        ((exchange, problems(exchange, code)) for exchange, code in coded),
        f"every InfluxDB error repeats its code ({len(coded)} judged)",
        "no InfluxDB error answer to judge",
    )


def _json_answer(
    observations: Observations, operation: Operation, statuses: tuple[int, ...] = (200,)
) -> tuple[Exchange | None, dict[str, Any], Verdict | None]:
    purpose = plan.baseline_purpose(operation)
    see = f"spec.{operation.slug}.status"
    exchange = observations.get(purpose)
    if exchange is None or exchange.response is None or exchange.response.status not in statuses:
        exchange, verdict = success(observations, purpose, see=see)
        if exchange is None or exchange.response is None:
            return None, {}, verdict
    document = judge.error_document(exchange.response)  # any JSON object
    if document is None:
        return (
            None,
            {},
            Verdict.skipped(f"no JSON object (see spec.{operation.slug}.body)", [exchange]),
        )
    return exchange, document, None


def _health(operation: Operation, observations: Observations) -> Verdict:
    exchange, document, verdict = _json_answer(observations, operation, (200, 503))
    if exchange is None or exchange.response is None:
        return verdict or Verdict.skipped("not sent")
    status = exchange.response.status
    problems = []
    if document.get("name") != "influxdb":
        problems.append(f"name is {document.get('name')!r}, not 'influxdb'")
    expected = "pass" if status == 200 else "fail"
    if document.get("status") != expected:
        problems.append(f"status is {document.get('status')!r} with {status}, not {expected!r}")
    for field, kind in (("message", str), ("checks", list), ("version", str), ("commit", str)):
        if not isinstance(document.get(field), kind):
            problems.append(f"{field} is missing or not a {kind.__name__}")
    header = exchange.response.header("X-Influxdb-Version")
    version = document.get("version")
    if header is not None and isinstance(version, str) and version != header:
        problems.append(f"version {version!r} differs from X-Influxdb-Version {header!r}")
    return judged([exchange], [(exchange, problems)], f"{exchange.summary()}: influxd's fields")


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


def _ready_field(
    operation: Operation,
    field: str,
    problem_of: Any,
    observations: Observations,
) -> Verdict:
    exchange, document, verdict = _json_answer(observations, operation)
    if exchange is None:
        return verdict or Verdict.skipped("not sent")
    if field not in document:
        return Verdict.failed(f"{exchange.summary()}: no {field}", [exchange], [f"no {field}"])
    problem = problem_of(document[field])
    problems = [problem] if problem else []
    return judged([exchange], [(exchange, problems)], f"{field}: {document[field]}")


def _claims_influxd(observations: Observations) -> bool:
    return any(
        exchange.response is not None
        and any(exchange.response.header(name) for name in IDENTITY_HEADERS)
        for exchange in observations.answered()
    )


def _families(operation: Operation, observations: Observations) -> Verdict:
    if not _claims_influxd(observations):
        return Verdict.skipped("the server does not claim to be influxd (no X-Influxdb-* header)")
    exchange, parsed, verdict = parsed_scrape(observations, operation)
    if exchange is None:
        return verdict or Verdict.skipped("not sent")
    if parsed.error:
        return Verdict.skipped(
            "the body does not parse (see metrics.exposition.parses)", [exchange]
        )
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
    return judged([exchange], [(exchange, problems)], f"{len(INFLUXD_FAMILIES)} families present")
