"""Checks on what lies around the operations: unknown paths, wrong methods, the trace
header, HEAD answers. The paths, methods and the trace parameter come from the spec."""

from __future__ import annotations

from functools import partial

from impl.client.conform import plan
from impl.client.conform.gates import answer, judged, token_reason
from impl.client.conform.model import Check, Exchange, Level, Observations, Verdict
from impl.client.conform.spec import Spec, pointer

MUST = Level.MUST


def http_checks(spec: Spec) -> list[Check]:
    checks = [
        Check(
            "spec.unknown-path",
            MUST,
            "a path the spec does not declare answers 404",
            f"openapi.yaml{pointer('paths')} (not among them); RFC 9110 §15.5.5",
            _unknown_path,
        ),
        Check(
            "spec.wrong-method.status",
            MUST,
            "a method a path does not declare answers 405",
            f"openapi.yaml{pointer('paths')} (the methods of each path); RFC 9110 §15.5.6",
            _wrong_method_status,
        ),
        Check(
            "spec.wrong-method.allow",
            MUST,
            "a 405 lists the path's declared methods in Allow",
            "RFC 9110 §15.5.6 (a 405 MUST carry Allow)",
            partial(_wrong_method_allow, spec),
        ),
    ]
    traced = [op for op in spec.operations() if plan.trace_parameter(op) is not None]
    if traced:
        parameter = plan.trace_parameter(traced[0])
        assert parameter is not None
        checks.append(
            Check(
                "spec.trace-span.no-effect",
                MUST,
                f"a malformed, non-JSON or oversized {plan.TRACE_HEADER} changes nothing",
                f"openapi.yaml{parameter.pointer} (a malformed value never fails the request)",
                partial(_trace_span, [op.id for op in traced]),
            )
        )
    checks.append(
        Check(
            "http.head-no-body",
            MUST,
            "a HEAD answer has no body",
            "RFC 9110 §9.3.2",
            _head_no_body,
        )
    )
    return checks


def _unknown_path(observations: Observations) -> Verdict:
    exchange, verdict = answer(observations, plan.UNKNOWN_PATH_PURPOSE)
    if exchange is None or exchange.response is None:
        return verdict or Verdict.skipped("not sent")
    status = exchange.response.status
    problems = [] if status == 404 else [f"answered {status}, not 404"]
    return judged([exchange], [(exchange, problems)], exchange.summary())


def _wrong_method_answers(observations: Observations) -> tuple[list[Exchange], Verdict | None]:
    found: list[Exchange] = []
    withheld_from = []
    for purpose, exchange in observations.exchanges.items():
        if not purpose.startswith("method:"):
            continue
        if exchange.response is not None and exchange.response.status == 401:
            withheld_from.append(exchange)
        else:
            found.append(exchange)
    if not found and withheld_from:
        return [], Verdict.skipped(token_reason(observations), withheld_from)
    return found, None


def _wrong_method_status(observations: Observations) -> Verdict:
    subjects, verdict = _wrong_method_answers(observations)
    if verdict:
        return verdict

    def problems(exchange: Exchange) -> list[str]:
        if exchange.response is None:
            return [str(exchange.error)]
        status = exchange.response.status
        return [] if status == 405 else [f"answered {status}, not 405"]

    return judged(
        subjects,
        ((exchange, problems(exchange)) for exchange in subjects),
        f"every wrong method got 405 ({len(subjects)} judged)",
        "no path declares only GET and HEAD: no wrong method was sent",
    )


def _wrong_method_allow(spec: Spec, observations: Observations) -> Verdict:
    subjects, verdict = _wrong_method_answers(observations)
    if verdict:
        return verdict
    answered = [e for e in subjects if e.response is not None and e.response.status == 405]

    def problems(exchange: Exchange) -> list[str]:
        assert exchange.response is not None
        allow = exchange.response.header("Allow")
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
        answered,
        ((exchange, problems(exchange)) for exchange in answered),
        f"every 405 lists the declared methods ({len(answered)} judged)",
        "no 405 answer to judge (see spec.wrong-method.status)",
    )


def _outcome(exchange: Exchange) -> str:
    if exchange.response is None:
        return f"no answer ({exchange.error})"
    return f"{exchange.response.status} {exchange.response.media_type or '(no body type)'}"


def _trace_span(operation_ids: list[str], observations: Observations) -> Verdict:
    subjects: list[Exchange] = []
    problems: list[tuple[Exchange, list[str]]] = []
    for operation_id in operation_ids:
        baseline = observations.get(f"op:{operation_id}")
        for variant in plan.TRACE_VARIANTS:
            exchange = observations.get(f"trace:{operation_id}:{variant}")
            if exchange is None or baseline is None:
                continue
            subjects.append(exchange)
            expected, got = _outcome(baseline), _outcome(exchange)
            differs = [] if got == expected else [f"{variant} span: {got}; without it: {expected}"]
            problems.append((exchange, differs))
    return judged(
        subjects,
        problems,
        f"no trace header changed an answer ({len(subjects)} judged)",
    )


def _head_no_body(observations: Observations) -> Verdict:
    heads = [e for e in observations.answered() if e.request.method == "HEAD"]

    def problems(exchange: Exchange) -> list[str]:
        assert exchange.response is not None
        extra = len(exchange.response.body) + len(exchange.response.trailing)
        return [f"{extra} bytes of body after the headers"] if extra else []

    return judged(
        heads,
        ((exchange, problems(exchange)) for exchange in heads),
        f"no HEAD answer has a body ({len(heads)} judged)",
        "no HEAD answer to judge",
    )
