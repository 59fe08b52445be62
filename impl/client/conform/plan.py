"""The requests a run sends, derived from the spec.

Only GET and HEAD are sent, plus, on paths that declare nothing but GET and HEAD, one
POST with an empty body to see the 405: such a path has no handler that could write.
Operations are found by what the spec declares (a text/plain success is the metrics
exposition), never by their ids, so either style of operationId works, and a HEAD the
spec declares is sent as its own operation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from impl.client.conform.contract import Operation, Parameter, Spec

TRACE_HEADER = "Zap-Trace-Span"
# Span contexts influxd's tracing reads (JSON with 16-hex-digit ids), and values that
# are not: a request's outcome must not depend on which one it carries.
TRACE_VARIANTS = {
    "valid": json.dumps(
        {"trace_id": "4bf92f3577b34da6", "span_id": "00f067aa0ba902b7", "baggage": {}},
        separators=(",", ":"),
    ),
    "malformed": '{"trace_id":"4bf92f3577b34da6","span_id":',
    "not-json": "not a span context",
    "oversized": json.dumps(
        {"trace_id": "1", "span_id": "1", "baggage": {"padding": "x" * 4000}}, separators=(",", ":")
    ),
}
# Below /api/v2, where influxd answers unknown paths with its JSON "not found"; at the
# root it may serve its UI instead.
UNKNOWN_PATH = "/api/v2/influx-metrics-conform/no-such-path"
READ_METHODS = frozenset({"GET", "HEAD"})
WRONG_METHOD = "POST"
TEXT_ACCEPT = "text/plain; version=0.0.4"
OPENMETRICS_MEDIA_TYPE = "application/openmetrics-text"
OPENMETRICS_ACCEPT = f"{OPENMETRICS_MEDIA_TYPE}; version=1.0.0, {TEXT_ACCEPT}; q=0.5"


@dataclass(frozen=True)
class Planned:
    purpose: str
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    operation: str | None = None  # the operationId the request addresses


def baseline_purpose(operation: Operation) -> str:
    """The operation's plain request: the one its own checks judge."""
    return f"op:{operation.id}"


def trace_purpose(operation: Operation, variant: str) -> str:
    return f"trace:{operation.id}:{variant}"


UNKNOWN_PATH_PURPOSE = "unknown-path"
METRICS_HEAD = "metrics:head"
METRICS_GZIP = "metrics:gzip"
METRICS_OPENMETRICS = "metrics:openmetrics"
METRICS_NAMES = "metrics:names"


def exposition_operation(spec: Spec) -> Operation | None:
    """The GET whose success is a Prometheus text exposition: GET /metrics."""
    for op in spec.operations:
        successes = (d for d in op.responses() if d.key.startswith("2"))
        if op.method == "GET" and any("text/plain" in d.content for d in successes):
            return op
    return None


def exposition_head(spec: Spec, exposition: Operation) -> str:
    """The purpose of the HEAD scrape: the declared HEAD operation's plain request if
    there is one, else a request of its own."""
    head = spec.operation_for(exposition.path, "HEAD")
    return baseline_purpose(head) if head is not None and head.method == "HEAD" else METRICS_HEAD


def trace_parameter(operation: Operation) -> Parameter | None:
    for parameter in operation.parameters():
        if parameter.location == "header" and parameter.name.lower() == TRACE_HEADER.lower():
            return parameter
    return None


def names_parameter(operation: Operation) -> Parameter | None:
    """The repeatable query parameter that selects metric families (`name[]`)."""
    for parameter in operation.parameters():
        schema = operation.spec.resolve(parameter.node.get("schema", {}))
        if parameter.location == "query" and schema.get("type") == "array":
            return parameter
    return None


def offers_openmetrics(operation: Operation) -> bool:
    return any(OPENMETRICS_MEDIA_TYPE in d.content for d in operation.responses())


def _accept(operation: Operation, exposition: Operation | None) -> tuple[tuple[str, str], ...]:
    if exposition is not None and operation.path == exposition.path:
        return (("Accept", TEXT_ACCEPT),)  # the text format, for GET and HEAD alike
    successes = (d.content for d in operation.responses() if d.key.startswith("2"))
    content = next((content for content in successes if content), {})
    return (("Accept", ", ".join(content)),) if content else ()


def requests(spec: Spec) -> list[Planned]:
    """Every request of a run but the `name[]` one, which needs a family name from the
    plain scrape. The scrape comes late, so that the server has counted the others."""
    exposition = exposition_operation(spec)
    planned = [
        Planned(baseline_purpose(op), op.method, op.path, _accept(op, exposition), op.id)
        for op in spec.operations
        if op is not exposition
    ]
    for op in spec.operations:
        if trace_parameter(op) is not None:
            for variant, value in TRACE_VARIANTS.items():
                headers = (*_accept(op, exposition), (TRACE_HEADER, value))
                planned.append(
                    Planned(trace_purpose(op, variant), op.method, op.path, headers, op.id)
                )
    for path in spec.document.get("paths", {}):
        if set(spec.methods_of(path)) <= READ_METHODS:
            planned.append(Planned(f"method:{path}", WRONG_METHOD, path))
    planned.append(Planned(UNKNOWN_PATH_PURPOSE, "GET", UNKNOWN_PATH))
    if exposition is not None:
        text, path, op_id = _accept(exposition, exposition), exposition.path, exposition.id
        planned += [
            Planned(baseline_purpose(exposition), "GET", path, text, op_id),
            Planned(METRICS_GZIP, "GET", path, (*text, ("Accept-Encoding", "gzip")), op_id),
        ]
        if exposition_head(spec, exposition) == METRICS_HEAD:
            planned.append(Planned(METRICS_HEAD, "HEAD", path, text, op_id))
        if offers_openmetrics(exposition):
            accept = (("Accept", OPENMETRICS_ACCEPT),)
            planned.append(Planned(METRICS_OPENMETRICS, "GET", path, accept, op_id))
    return planned


def names_request(exposition: Operation, family: str) -> Planned | None:
    parameter = names_parameter(exposition)
    if parameter is None:
        return None
    target = f"{exposition.path}?{urlencode([(parameter.name, family)])}"
    return Planned(METRICS_NAMES, "GET", target, _accept(exposition, exposition), exposition.id)
