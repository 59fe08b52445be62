"""Checks on what lies around the operations: unknown paths, wrong methods, the trace
header, HEAD answers. The paths, methods and the trace parameter come from the spec."""

from __future__ import annotations

from functools import partial

from impl.client.conform import plan
from impl.client.conform.gates import answer, judged, judged_one, skip, token_reason
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
    exchange, response = answer(observations, plan.UNKNOWN_PATH_PURPOSE)
    problems = [] if response.status == 404 else [f"answered {response.status}, not 404"]
    return judged_one(exchange, problems, exchange.summary())


def _wrong_method_answers(observations: Observations) -> list[Exchange]:
    sent = [e for p, e in observations.exchanges.items() if p.startswith("method:")]
    found = [e for e in sent if e.response is None or e.response.status != 401]
    if sent and not found:
        skip(token_reason(observations), *sent)
    return found


def _wrong_method_status(observations: Observations) -> Verdict:
    subjects = _wrong_method_answers(observations)

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
    answered = [
        exchange
        for exchange in _wrong_method_answers(observations)
        if exchange.response is not None and exchange.response.status == 405
    ]

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
    problems: list[tuple[Exchange, list[str]]] = []
    for operation_id in operation_ids:
        baseline = observations.get(f"op:{operation_id}")
        for variant in plan.TRACE_VARIANTS:
            exchange = observations.get(f"trace:{operation_id}:{variant}")
            if exchange is None or baseline is None:
                continue
            expected, got = _outcome(baseline), _outcome(exchange)
            differs = [] if got == expected else [f"{variant} span: {got}; without it: {expected}"]
            problems.append((exchange, differs))
    return judged(
        [exchange for exchange, _ in problems],
        problems,
        f"no trace header changed an answer ({len(problems)} judged)",
    )


def _head_no_body(observations: Observations) -> Verdict:
    heads = [
        (exchange, exchange.response)
        for exchange in observations.answered()
        if exchange.request.method == "HEAD" and exchange.response is not None
    ]
    extra = [
        (exchange, len(response.body) + len(response.trailing)) for exchange, response in heads
    ]
    return judged(
        [exchange for exchange, _ in heads],
        ((e, [f"{n} bytes of body after the headers"] if n else []) for e, n in extra),
        f"no HEAD answer has a body ({len(heads)} judged)",
        "no HEAD answer to judge",
    )
