"""Checks derived from the spec: per operation, and for errors, routing and HEAD.

Each error answer is judged once for its shape (errors.json-body), once for its code
(errors.code-enum) and once for the code's status (errors.code-status); the per-operation
checks judge the operation's plain request, so that one defect fails one check.
"""

from __future__ import annotations

from functools import partial

from impl.client.conform import judge, plan
from impl.client.conform.gates import any_answer, judged, success
from impl.client.conform.model import Check, Exchange, Level, Observations, Verdict
from impl.client.conform.spec import Operation, Spec

MUST, SHOULD = Level.MUST, Level.SHOULD


def reachable_check() -> Check:
    return Check(
        "http.reachable",
        MUST,
        "the URL answers HTTP",
        "RFC 9112 (HTTP/1.1 message syntax)",
        _reachable,
    )


def _reachable(observations: Observations) -> Verdict:
    exchanges = observations.all()
    if not exchanges:
        why = next(iter(observations.not_sent.values()), "no request could be sent")
        return Verdict.failed(why, problems=[why])
    first = exchanges[0]
    if first.response is None:
        return Verdict.failed(first.summary(), [first], [str(first.error)])
    return Verdict.passed(first.summary(), [first])


def operation_checks(spec: Spec, operation: Operation) -> list[Check]:
    where = f"{operation.method} {operation.path}"
    base = f"spec.{operation.slug}"
    responses = f"openapi.yaml{operation.pointer}/responses"
    checks = [
        Check(
            f"{base}.status",
            MUST,
            f"{where}: a status the operation declares",
            responses,
            partial(_status, operation),
        ),
        Check(
            f"{base}.headers",
            MUST,
            f"{where}: declared headers match their schemas",
            responses + "/*/headers",
            partial(_headers, spec, operation),
        ),
    ]
    has_content = any(
        d.content for d in operation.responses() if d.key in operation.success_statuses()
    )
    if has_content:
        checks.append(
            Check(
                f"{base}.media-type",
                MUST,
                f"{where}: a declared media type",
                responses + "/*/content",
                partial(_media_type, operation),
            )
        )
    if operation.method != "HEAD":
        checks.append(
            Check(
                f"{base}.body",
                MUST,
                f"{where}: the body the response declares",
                responses + "/*/content/*/schema",
                partial(_body, spec, operation),
            )
        )
    return checks


def _status(operation: Operation, observations: Observations) -> Verdict:
    # A 401 is judged too: it is a declared response.
    exchange, verdict = any_answer(observations, plan.baseline_purpose(operation))
    if exchange is None or exchange.response is None:
        return verdict or Verdict.skipped("not sent")
    return judged(
        [exchange],
        [(exchange, judge.status_problems(operation, exchange.response.status))],
        exchange.summary(),
    )


def _headers(spec: Spec, operation: Operation, observations: Observations) -> Verdict:
    exchange, verdict = any_answer(observations, plan.baseline_purpose(operation))
    if exchange is None or exchange.response is None:
        return verdict or Verdict.skipped("not sent")
    problems = judge.header_problems(spec, operation, exchange.response)
    return judged([exchange], [(exchange, problems)], f"{exchange.summary()}: headers valid")


def _media_type(operation: Operation, observations: Observations) -> Verdict:
    see = f"spec.{operation.slug}.status"
    exchange, verdict = success(observations, plan.baseline_purpose(operation), True, see)
    if exchange is None or exchange.response is None:
        return verdict or Verdict.skipped("not sent")
    if operation.declared(exchange.response.status) is None:
        return Verdict.skipped(f"an undeclared status (see {see})", [exchange])
    problems = judge.media_type_problems(operation, exchange.response)
    shown = exchange.response.header("Content-Type") or "no Content-Type"
    return judged([exchange], [(exchange, problems)], f"{exchange.summary()}: {shown}")


def _body(spec: Spec, operation: Operation, observations: Observations) -> Verdict:
    see = f"spec.{operation.slug}.status"
    exchange, verdict = success(observations, plan.baseline_purpose(operation), True, see)
    if exchange is None or exchange.response is None:
        return verdict or Verdict.skipped("not sent")
    if operation.declared(exchange.response.status) is None:
        return Verdict.skipped(f"an undeclared status (see {see})", [exchange])
    problems = judge.body_problems(spec, operation, exchange.response)
    return judged([exchange], [(exchange, problems)], f"{exchange.summary()}: body valid")


def _error_answers(observations: Observations) -> list[Exchange]:
    """Every error answer with a body (HEAD answers have none)."""
    return [
        exchange
        for exchange in observations.answered()
        if exchange.response is not None
        and exchange.response.status >= 400
        and exchange.request.method != "HEAD"
    ]


def _coded(observations: Observations) -> list[tuple[Exchange, str]]:
    found = []
    for exchange in _error_answers(observations):
        assert exchange.response is not None
        code = judge.error_code(exchange.response)
        if code is not None:
            found.append((exchange, code))
    return found


def error_checks(spec: Spec) -> list[Check]:
    _, enum_pointer = spec.error_codes()
    return [
        Check(
            "errors.json-body",
            MUST,
            "every error answer is the Error JSON the spec declares",
            f"openapi.yaml{spec.error_schema_pointer()}",
            partial(_error_bodies, spec),
        ),
        Check(
            "errors.code-enum",
            MUST,
            "every error code is one the spec lists",
            f"openapi.yaml{enum_pointer}",
            partial(_code_enum, spec),
        ),
        Check(
            "errors.code-status",
            SHOULD,
            "every error code comes with the status influxd gives it",
            "influxd: each error code has one status (not found 404, invalid 400, "
            "unauthorized 401, method not allowed 405, internal error 500, ...)",
            _code_status,
        ),
    ]


def _error_bodies(spec: Spec, observations: Observations) -> Verdict:
    subjects = _error_answers(observations)

    def problems(exchange: Exchange) -> list[str]:
        assert exchange.response is not None
        operation = spec.operations_by_id().get(exchange.operation or "")
        return judge.error_body_problems(spec, operation, exchange.response)

    return judged(
        subjects,
        ((exchange, problems(exchange)) for exchange in subjects),
        f"every error answer is an InfluxDB error ({len(subjects)} judged)",
        "no error answer to judge",
    )


def _code_enum(spec: Spec, observations: Observations) -> Verdict:
    coded = _coded(observations)
    return judged(
        [exchange for exchange, _ in coded],
        ((exchange, judge.code_enum_problems(spec, code)) for exchange, code in coded),
        f"every error code is in the enum ({len(coded)} judged)",
        "no error answer with a code to judge",
    )


def _code_status(observations: Observations) -> Verdict:
    coded = _coded(observations)

    def problems(exchange: Exchange, code: str) -> list[str]:
        assert exchange.response is not None
        return judge.code_status_problems(code, exchange.response.status)

    return judged(
        [exchange for exchange, _ in coded],
        ((exchange, problems(exchange, code)) for exchange, code in coded),
        f"every error code has influxd's status ({len(coded)} judged)",
        "no error answer with a code to judge",
    )
