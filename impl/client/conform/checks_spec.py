"""Checks derived from the spec: per operation, and for errors, routing and HEAD.

Each error answer is judged once for its shape (errors.json-body), once for its code
(errors.code-enum) and once for the code's status (errors.code-status); the per-operation
checks judge the operation's plain request, so that one defect fails one check.
"""

from __future__ import annotations

from functools import partial

from impl.client.conform import judge, plan
from impl.client.conform.gates import (
    any_answer,
    error_answers,
    judged,
    judged_codes,
    judged_one,
    skip,
    success,
)
from impl.client.conform.model import Check, Exchange, Level, Observations, Received, Verdict
from impl.client.conform.spec import ERROR_SCHEMA_POINTER, Operation, Spec

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
    first = next(iter(observations.exchanges), None)
    if first is None:
        why = next(iter(observations.not_sent.values()), "no request could be sent")
        return Verdict.failed(why, problems=[why])
    exchange, _ = any_answer(observations, first)
    return Verdict.passed(exchange.summary(), [exchange])


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
    has_content = any(d.content for d in operation.responses() if d.key[:1] in ("1", "2", "3"))
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
    exchange, response = any_answer(observations, plan.baseline_purpose(operation))
    problems = judge.status_problems(operation, response.status)
    return judged_one(exchange, problems, exchange.summary())


def _headers(spec: Spec, operation: Operation, observations: Observations) -> Verdict:
    exchange, response = any_answer(observations, plan.baseline_purpose(operation))
    problems = judge.header_problems(spec, operation, response)
    return judged_one(exchange, problems, f"{exchange.summary()}: headers valid")


def _declared_success(
    operation: Operation, observations: Observations
) -> tuple[Exchange, Received]:
    see = f"spec.{operation.slug}.status"
    exchange, response = success(observations, plan.baseline_purpose(operation), True, see)
    if operation.declared(response.status) is None:
        skip(f"an undeclared status (see {see})", exchange)
    return exchange, response


def _media_type(operation: Operation, observations: Observations) -> Verdict:
    exchange, response = _declared_success(operation, observations)
    problems = judge.media_type_problems(operation, response)
    shown = response.header("Content-Type") or "no Content-Type"
    return judged_one(exchange, problems, f"{exchange.summary()}: {shown}")


def _body(spec: Spec, operation: Operation, observations: Observations) -> Verdict:
    exchange, response = _declared_success(operation, observations)
    problems = judge.body_problems(spec, operation, response)
    return judged_one(exchange, problems, f"{exchange.summary()}: body valid")


def error_checks(spec: Spec) -> list[Check]:
    _, enum_pointer = spec.error_codes()
    return [
        Check(
            "errors.json-body",
            MUST,
            "every error answer is the Error JSON the spec declares",
            f"openapi.yaml{ERROR_SCHEMA_POINTER}",
            partial(_error_bodies, spec),
        ),
        Check(
            "errors.code-enum",
            MUST,
            "every error code is one the spec lists",
            f"openapi.yaml{enum_pointer}",
            lambda observations: judged_codes(
                observations,
                lambda _, code: judge.code_enum_problems(spec, code),
                "every error code is in the enum",
            ),
        ),
        Check(
            "errors.code-status",
            SHOULD,
            "every error code comes with the status influxd gives it",
            "influxd: each error code has one status (not found 404, invalid 400, "
            "unauthorized 401, method not allowed 405, internal error 500, ...)",
            lambda observations: judged_codes(
                observations,
                lambda response, code: judge.code_status_problems(code, response.status),
                "every error code has influxd's status",
            ),
        ),
    ]


def _error_bodies(spec: Spec, observations: Observations) -> Verdict:
    subjects = error_answers(observations)
    operations = spec.operations_by_id()
    return judged(
        [exchange for exchange, _ in subjects],
        (
            (
                exchange,
                judge.error_body_problems(spec, operations.get(exchange.operation or ""), response),
            )
            for exchange, response in subjects
        ),
        f"every error answer is an InfluxDB error ({len(subjects)} judged)",
        "no error answer to judge",
    )
