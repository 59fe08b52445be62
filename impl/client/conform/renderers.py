"""A run's report for people (a table), for programs (JSON) and for CI (JUnit XML), all
three with the same verdict.

Evidence is trimmed: the request as sent (the token masked), the status line and
headers as received, and the start of the body.
"""

from __future__ import annotations

import json
import os
import textwrap
import xml.etree.ElementTree as ET
from typing import Any

from impl.client.conform.model import Exchange, Outcome, Result
from impl.client.conform.results import Conformance, Report

BODY_SHOWN = 240
BRIEF_BODY_LINES = 4
ROUTINE_HEADERS = frozenset({"host", "user-agent", "connection"})
PROBLEMS_SHOWN = 6
DETAIL_WIDTH = 80
ID_WIDTH = 40
COLOURS = {
    Outcome.PASS: "\033[32m",
    Outcome.FAIL: "\033[1;31m",
    Outcome.SKIP: "\033[33m",
    Outcome.NOT_RUN: "\033[35m",
}
RESET = "\033[0m"
WORDS = {
    Outcome.PASS: "pass",
    Outcome.FAIL: "FAIL",
    Outcome.SKIP: "skip",
    Outcome.NOT_RUN: "not run",
}
VERDICT_COLOURS = {
    Conformance.CONFORMANT: Outcome.PASS,
    Conformance.INCOMPLETE: Outcome.NOT_RUN,
    Conformance.NOT_CONFORMANT: Outcome.FAIL,
    Conformance.UNREACHABLE: Outcome.FAIL,
}


def wants_colour(stream: Any) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


def body_preview(data: bytes, encoding: str | None) -> str:
    if not data:
        return ""
    if encoding and encoding.lower() not in ("identity", ""):
        return f"[{len(data)} bytes of {encoding}]"
    text = data.decode("utf-8", "replace")
    more = f" … [{len(data)} bytes]" if len(text) > BODY_SHOWN else ""
    return printable(text[:BODY_SHOWN]) + more


def printable(text: str) -> str:
    """Control characters escaped (newlines kept): safe on a terminal and in XML."""
    return "".join(
        char if char.isprintable() or char == "\n" else char.encode("unicode_escape").decode()
        for char in text
    )


def exchange_lines(exchange: Exchange, brief: bool = False) -> list[str]:
    """The exchange as `>` (sent) and `<` (received) lines; `brief` leaves out the
    request headers every request carries and all but the start of the body."""
    request = exchange.request
    lines = [f"> {request.method} {request.target} HTTP/1.1"]
    lines += [
        f"> {name}: {printable(value[:BODY_SHOWN])}"
        for name, value in request.headers
        if not (brief and name.lower() in ROUTINE_HEADERS)
    ]
    response = exchange.response
    if response is None:
        return [*lines, f"< no answer: {exchange.error}"]
    lines.append(f"< HTTP/1.1 {response.status} {response.reason}")
    lines += [f"< {printable(name)}: {printable(value)}" for name, value in response.headers]
    preview = body_preview(response.body, response.header("Content-Encoding")).splitlines()
    if brief and len(preview) > BRIEF_BODY_LINES:
        preview = [*preview[:BRIEF_BODY_LINES], "…"]
    if preview:
        lines += ["<", *(f"< {line}" for line in preview)]
    if response.trailing:
        lines.append(f"< [{len(response.trailing)} more bytes after the response]")
    return lines


def render_table(report: Report, colour: bool = False) -> str:
    def paint(outcome: Outcome, text: str) -> str:
        return f"{COLOURS[outcome]}{text}{RESET}" if colour else text

    out = [
        f"influx-metrics conform {report.url}",
        f"spec: {report.spec_title}",
        "",
        f"{'RESULT':<7} {'LEVEL':<7} {'CHECK':<{ID_WIDTH}} DETAIL",
    ]
    # Unreachable: no other check ran, all for that one reason; say it once.
    shown = report.results if report.reachable else report.results[:1]
    for result in shown:
        word = paint(result.outcome, f"{WORDS[result.outcome]:<7}")
        reason = textwrap.shorten(result.verdict.reason, DETAIL_WIDTH, placeholder=" …")
        out.append(f"{word} {result.check.level.value:<7} {result.check.id:<{ID_WIDTH}} {reason}")
        if result.outcome is Outcome.FAIL:
            out += failure_details(result, brief=True)
    if len(shown) < len(report.results):
        out.append(f"({len(report.results) - len(shown)} further checks did not run)")
    counts = ", ".join(f"{report.count(outcome)} {WORDS[outcome].lower()}" for outcome in Outcome)
    out += [
        "",
        f"{len(report.results)} checks: {counts}; "
        f"{report.requests} requests in {report.elapsed:.1f} s",
        *(f"note: {hint}" for hint in report.hints),
        paint(VERDICT_COLOURS[report.conformance], report.verdict),
    ]
    return "\n".join(out) + "\n"


def failure_details(result: Result, brief: bool = False) -> list[str]:
    indent = " " * 16
    problems = list(result.verdict.problems)
    # A single problem is already the detail column's text.
    lines = [f"{indent}- {p}" for p in problems[:PROBLEMS_SHOWN]] if len(problems) > 1 else []
    if len(problems) > PROBLEMS_SHOWN:
        lines.append(f"{indent}- and {len(problems) - PROBLEMS_SHOWN} more")
    lines.append(f"{indent}rule: {result.check.title}; see {result.check.reference}")
    if result.verdict.evidence:
        evidence = exchange_lines(result.verdict.evidence[0], brief)
        lines += [f"{indent}{line}" for line in evidence]
    return lines


def exchange_json(exchange: Exchange) -> dict[str, Any]:
    request, response = exchange.request, exchange.response
    return {
        "request": {
            "method": request.method,
            "target": request.target,
            "headers": [list(pair) for pair in request.headers],
        },
        "response": response
        and {
            "status": response.status,
            "reason": response.reason,
            "headers": [list(pair) for pair in response.headers],
            "body": body_preview(response.body, response.header("Content-Encoding")),
            "body_bytes": len(response.body),
            "bytes_after_response": len(response.trailing),
        },
        "error": exchange.error,
        "elapsed_ms": round(exchange.elapsed * 1000, 1),
    }


def render_json(report: Report) -> str:
    document = {
        "url": report.url,
        "spec": report.spec_title,
        "conformance": report.conformance.value,
        "verdict": report.verdict,
        "exit_status": report.exit_status,
        "strict": report.strict,
        "allow_incomplete": report.allow_incomplete,
        "not_run": [
            {"id": r.check.id, "level": r.check.level.value, "reason": r.verdict.reason}
            for r in report.missing
        ],
        "deselected": list(report.deselected),
        "requests": report.requests,
        "elapsed_seconds": round(report.elapsed, 3),
        "summary": {outcome.value: report.count(outcome) for outcome in Outcome},
        "notes": report.hints,
        "checks": [
            {
                "id": result.check.id,
                "level": result.check.level.value,
                "title": result.check.title,
                "reference": result.check.reference,
                "outcome": result.outcome.value,
                "reason": result.verdict.reason,
                "problems": list(result.verdict.problems),
                "evidence": [exchange_json(exchange) for exchange in result.verdict.evidence],
            }
            for result in report.results
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_junit(report: Report) -> str:
    """One testcase per check. A failed check is a <failure> whose type is its level
    (the exit status, not the XML, says whether a SHOULD failure fails the build); a
    check that did not run is an <error type="not run"> when it makes the run
    INCOMPLETE (unless --allow-incomplete), else a <skipped> saying so."""
    missing = set() if report.allow_incomplete else {result.check.id for result in report.missing}
    attributes = {
        "name": f"influx-metrics conform {report.url}",
        "tests": str(len(report.results)),
        "failures": str(report.count(Outcome.FAIL)),
        "errors": str(len(missing)),
        "skipped": str(report.count(Outcome.SKIP) + report.count(Outcome.NOT_RUN) - len(missing)),
        "time": f"{report.elapsed:.3f}",
    }
    suites = ET.Element("testsuites", attributes)
    suite = ET.SubElement(suites, "testsuite", attributes)
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("url", report.url),
        ("conformance", report.conformance.value),
        ("exit_status", str(report.exit_status)),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for result in report.results:
        elapsed = sum(exchange.elapsed for exchange in result.verdict.evidence)
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"conform.{result.check.id.split('.')[0]}",
            name=f"{result.check.id} [{result.check.level.value}]",
            time=f"{elapsed:.3f}",
        )
        if result.outcome is Outcome.FAIL:
            message = printable(result.verdict.reason)
            failure = ET.SubElement(case, "failure", type=result.check.level.value, message=message)
            failure.text = printable("\n".join(failure_details(result)))
        elif result.check.id in missing:
            message = printable(f"did not run: {result.verdict.reason}")
            ET.SubElement(case, "error", type="not run", message=message)
        elif result.outcome is Outcome.NOT_RUN:
            message = printable(f"did not run: {result.verdict.reason}")
            ET.SubElement(case, "skipped", {"message": message})
        elif result.outcome is Outcome.SKIP:
            ET.SubElement(case, "skipped", {"message": printable(result.verdict.reason)})
    ET.SubElement(suite, "system-out").text = report.verdict
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
