"""Checks derived from the spec: per operation, and for errors, routing and HEAD (unknown
paths, wrong methods and the trace header, as the spec declares them).

Each error answer is judged once for its shape (errors.json-body), once for its code
(errors.code-enum) and once for the code's status (errors.code-status); the per-operation
checks judge the operation's plain request, so that one defect fails one check.
"""

from __future__ import annotations

from functools import partial

from impl.client.conform import judge, plan
from impl.client.conform.contract import ERROR_SCHEMA_POINTER, Operation, Spec, pointer
from impl.client.conform.gates import (
    answer,
    any_answer,
    error_answers,
    judged,
    judged_codes,
    judged_one,
    not_run,
    status_check,
    success,
    token_reason,
    unavailable,
)
from impl.client.conform.model import Check, Exchange, Level, Observations, Received, Verdict

MUST, SHOULD = Level.MUST, Level.SHOULD
REACHABLE = "http.reachable"  # judges the run's first request


def spec_checks(spec: Spec) -> list[Check]:
    paths = f"openapi.yaml{pointer('paths')}"
    checks = [
        Check(REACHABLE, MUST, _reachable).rule(
            "the URL answers HTTP", "RFC 9112 (HTTP/1.1 message syntax)"
        ),
        *(check for operation in spec.operations for check in _operation_checks(operation)),
        Check("errors.json-body", MUST, partial(_error_bodies, spec)).rule(
            "every error answer is the Error JSON the spec declares",
            f"openapi.yaml{ERROR_SCHEMA_POINTER}",
        ),
        Check("errors.code-enum", MUST, partial(_code_enum, spec)).rule(
            "every error code is one the spec lists", f"openapi.yaml{spec.error_codes()[1]}"
        ),
        Check("errors.code-status", SHOULD, _code_status).rule(
            "every error code comes with the status influxd gives it",
            "influxd: each error code has one status (not found 404, invalid 400, "
            "unauthorized 401, method not allowed 405, internal error 500, ...)",
        ),
        Check("spec.unknown-path", MUST, _unknown_path).rule(
            "a path the spec does not declare answers 404",
            f"{paths} (not among them); RFC 9110 §15.5.5",
        ),
        Check("spec.wrong-method.status", MUST, _wrong_method_status).rule(
            "a method a path does not declare answers 405",
            f"{paths} (the methods of each path); RFC 9110 §15.5.6",
        ),
        Check("spec.wrong-method.allow", MUST, partial(_wrong_method_allow, spec)).rule(
            "a 405 lists the path's declared methods in Allow",
            "RFC 9110 §15.5.6 (a 405 MUST carry Allow)",
        ),
    ]
    traced = [(op, p) for op in spec.operations if (p := plan.trace_parameter(op)) is not None]
    if traced:
        trace_span = partial(_trace_span, [op for op, _ in traced])
        checks.append(
            Check("spec.trace-span.no-effect", MUST, trace_span).rule(
                f"a malformed, non-JSON or oversized {plan.TRACE_HEADER} changes nothing",
                f"openapi.yaml{traced[0][1].pointer} (a malformed value never fails the request)",
            )
        )
    head = Check("http.head-no-body", MUST, _head_no_body).rule(
        "a HEAD answer has no body", "RFC 9110 §9.3.2"
    )
    return [*checks, head]


def _reachable(observations: Observations) -> Verdict:
    first = next(iter(observations.exchanges), None)
    if first is None:
        why = next(iter(observations.not_sent.values()), "no request could be sent")
        return Verdict.failed(why, problems=[why])
    exchange, _ = any_answer(observations, first)
    return Verdict.passed(exchange.summary(), [exchange])


def _operation_checks(operation: Operation) -> list[Check]:
    has_content = any(d.content for d in operation.responses() if d.key[:1] in ("1", "2", "3"))
    has_body = operation.method != "HEAD"
    rows = [
        ("status", "a status the operation declares", "", _status, True),
        ("headers", "declared headers match their schemas", "/*/headers", _headers, True),
        ("media-type", "a declared media type", "/*/content", _media_type, has_content),
        ("body", "the body the response declares", "/*/content/*/schema", _body, has_body),
    ]
    where = f"{operation.method} {operation.path}"
    return [
        Check(f"spec.{operation.slug}.{name}", MUST, partial(evaluate, operation)).rule(
            f"{where}: {title}", f"openapi.yaml{operation.pointer}/responses{under}"
        )
        for name, title, under, evaluate, applies in rows
        if applies
    ]


def _status(operation: Operation, observations: Observations) -> Verdict:
    # A 401 is judged too: it is a declared response.
    exchange, response = any_answer(observations, plan.baseline_purpose(operation))
    # A 503 `unavailable` the spec covers only by `default` is an outage (or a failure
    # drill), not a broken contract: the status could not be judged, so the run is
    # INCOMPLETE rather than CONFORMANT or NOT CONFORMANT.
    withheld = unavailable(response)
    if withheld is not None and operation.declared(response.status) is None:
        not_run(f"{withheld}; its status could not be judged", exchange)
    problems = judge.status_problems(operation, response.status)
    return judged_one(exchange, problems, exchange.summary())


def _headers(operation: Operation, observations: Observations) -> Verdict:
    exchange, response = any_answer(observations, plan.baseline_purpose(operation))
    problems = judge.header_problems(operation.spec, operation, response)
    return judged_one(exchange, problems, f"{exchange.summary()}: headers valid")


def _declared_success(
    operation: Operation, observations: Observations
) -> tuple[Exchange, Received]:
    see = status_check(operation)
    exchange, response = success(observations, plan.baseline_purpose(operation), True, see)
    if operation.declared(response.status) is None:
        not_run(f"an undeclared status (see {see})", exchange)
    return exchange, response


def _media_type(operation: Operation, observations: Observations) -> Verdict:
    exchange, response = _declared_success(operation, observations)
    problems = judge.media_type_problems(operation, response)
    shown = response.header("Content-Type") or "no Content-Type"
    return judged_one(exchange, problems, f"{exchange.summary()}: {shown}")


def _body(operation: Operation, observations: Observations) -> Verdict:
    exchange, response = _declared_success(operation, observations)
    problems = judge.body_problems(operation.spec, operation, response)
    return judged_one(exchange, problems, f"{exchange.summary()}: body valid")


def _error_bodies(spec: Spec, observations: Observations) -> Verdict:
    operations = {operation.id: operation for operation in spec.operations}
    found = [
        (exchange, judge.error_body_problems(spec, operations.get(exchange.operation or ""), r))
        for exchange, r in error_answers(observations)
    ]
    passed = f"every error answer is an InfluxDB error ({len(found)} judged)"
    return judged(found, passed, "no error answer to judge")


def _code_enum(spec: Spec, observations: Observations) -> Verdict:
    def problems(_: Received, code: str) -> list[str]:
        return judge.code_enum_problems(spec, code)

    return judged_codes(observations, problems, "every error code is in the enum")


def _code_status(observations: Observations) -> Verdict:
    def problems(response: Received, code: str) -> list[str]:
        return judge.code_status_problems(code, response.status)

    return judged_codes(observations, problems, "every error code has influxd's status")


def _unknown_path(observations: Observations) -> Verdict:
    exchange, response = answer(observations, plan.UNKNOWN_PATH_PURPOSE)
    problems = [] if response.status == 404 else [f"answered {response.status}, not 404"]
    return judged_one(exchange, problems, exchange.summary())


def _wrong_method_answers(observations: Observations) -> list[Exchange]:
    sent = [e for p, e in observations.exchanges.items() if p.startswith("method:")]
    found = [e for e in sent if e.response is None or e.response.status != 401]
    if sent and not found:
        not_run(token_reason(observations), *sent)
    return found


def _wrong_method_status(observations: Observations) -> Verdict:
    subjects = _wrong_method_answers(observations)

    def problems(exchange: Exchange) -> list[str]:
        if exchange.response is None:
            return [str(exchange.error)]
        status = exchange.response.status
        return [] if status == 405 else [f"answered {status}, not 405"]

    return judged(
        [(exchange, problems(exchange)) for exchange in subjects],
        f"every wrong method got 405 ({len(subjects)} judged)",
        "no path declares only GET and HEAD: no wrong method was sent",
    )


def _wrong_method_allow(spec: Spec, observations: Observations) -> Verdict:
    sent = _wrong_method_answers(observations)
    answered = [e for e in sent if e.response is not None and e.response.status == 405]
    if sent and not answered:
        not_run("no 405 answer to judge (see spec.wrong-method.status)", *sent)

    def problems(exchange: Exchange) -> list[str]:
        allow = exchange.response.header("Allow") if exchange.response else None
        if allow is None:
            return ["no Allow header"]
        listed = {method.strip().upper() for method in allow.split(",") if method.strip()}
        path = exchange.purpose.removeprefix("method:")
        missing = [m for m in spec.methods_of(path) if m not in listed]
        found = [f"Allow: {allow} lacks {', '.join(missing)}"] if missing else []
        if exchange.request.method in listed:
            found.append(f"Allow: {allow} lists {exchange.request.method}, which got 405")
        return found

    return judged(
        [(exchange, problems(exchange)) for exchange in answered],
        f"every 405 lists the declared methods ({len(answered)} judged)",
        "no path declares only GET and HEAD: no wrong method was sent",
    )


def _outcome(exchange: Exchange) -> str:
    if exchange.response is None:
        return f"no answer ({exchange.error})"
    return f"{exchange.response.status} {exchange.response.media_type or '(no body type)'}"


def _trace_span(operations: list[Operation], observations: Observations) -> Verdict:
    problems: list[tuple[Exchange, list[str]]] = []
    for operation in operations:
        baseline = observations.get(plan.baseline_purpose(operation))
        for variant in plan.TRACE_VARIANTS:
            exchange = observations.get(plan.trace_purpose(operation, variant))
            if exchange is None or baseline is None:
                continue
            expected, got = _outcome(baseline), _outcome(exchange)
            differs = [] if got == expected else [f"{variant} span: {got}; without it: {expected}"]
            problems.append((exchange, differs))
    return judged(problems, f"no trace header changed an answer ({len(problems)} judged)")


def _head_no_body(observations: Observations) -> Verdict:
    answered = observations.answered()
    heads = [(e, len(r.body) + len(r.trailing)) for e, r in answered if e.request.method == "HEAD"]
    return judged(
        [(e, [f"{n} bytes of body after the headers"] if n else []) for e, n in heads],
        f"no HEAD answer has a body ({len(heads)} judged)",
        "no HEAD answer to judge",
    )
