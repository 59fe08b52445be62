"""The exposition rules of `influx-metrics conform`: each broken body breaks exactly
its rule, and on the rules promtool lints, promtool (the real binary) agrees."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from impl.client.conform import exposition_rules as rules
from impl.client.conform.influxd import GO_DURATION, GO_UTC_TIME
from impl.client.conform.parsing import Parsed, parse_openmetrics, parse_text

VALID = """\
# HELP requests_total Requests served.
# TYPE requests_total counter
requests_total{code="200"} 7
# HELP temperature_celsius A gauge.
# TYPE temperature_celsius gauge
temperature_celsius 21.5
# HELP latency_seconds A histogram.
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 2
latency_seconds_bucket{le="1"} 5
latency_seconds_bucket{le="+Inf"} 6
latency_seconds_sum 3.2
latency_seconds_count 6
"""

RULES: dict[str, Callable[[Parsed], list[str]]] = {
    "help-type": rules.help_type_problems,
    "names": rules.name_problems,
    "counter-total": rules.counter_total_problems,
    "histogram-cumulative": lambda parsed: rules.histogram_problems(parsed).cumulative,
    "histogram-inf": lambda parsed: rules.histogram_problems(parsed).inf,
    "histogram-count": lambda parsed: rules.histogram_problems(parsed).count,
}
BROKEN = {
    "help-type": VALID.replace("# HELP temperature_celsius A gauge.\n", ""),
    # Quoted UTF-8 names are newer than text format 0.0.4; the parser takes them.
    "names": VALID + '# HELP "my.metric" A gauge.\n# TYPE "my.metric" gauge\n{"my.metric"} 1\n',
    "counter-total": VALID.replace("requests_total", "requests_served"),
    "histogram-cumulative": VALID.replace('le="1"} 5', 'le="1"} 1'),
    "histogram-inf": VALID.replace('latency_seconds_bucket{le="+Inf"} 6\n', ""),
    "histogram-count": VALID.replace("latency_seconds_count 6", "latency_seconds_count 9"),
}


def broken_rules(text: str) -> set[str]:
    parsed = parse_text(text)
    assert parsed.error is None, parsed.error
    return {name for name, rule in RULES.items() if rule(parsed)}


def promtool_lint(text: str) -> str:
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    return result.stdout + result.stderr


def test_a_valid_body_breaks_no_rule_and_promtool_agrees() -> None:
    assert broken_rules(VALID) == set()
    assert promtool_lint(VALID).strip() == ""


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_each_broken_body_breaks_exactly_its_rule(rule: str) -> None:
    assert broken_rules(BROKEN[rule]) == {rule}


@pytest.mark.parametrize(
    ("rule", "promtool_says"),
    [("help-type", "no help text"), ("counter-total", 'should have "_total" suffix')],
)
def test_promtool_reports_the_same_lint_problems(rule: str, promtool_says: str) -> None:
    assert promtool_says in promtool_lint(BROKEN[rule])


def test_a_body_the_parser_rejects_is_a_parse_error() -> None:
    assert parse_text("latency seconds 1\n").error


def test_openmetrics_needs_eof_and_valid_exemplars() -> None:
    content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    body = (
        "# TYPE latency_seconds histogram\n"
        'latency_seconds_bucket{le="0.1"} 2 # {trace_id="4bf92f3577b34da6"} 0.05\n'
        'latency_seconds_bucket{le="+Inf"} 3\n'
        "latency_seconds_count 3\nlatency_seconds_sum 0.4\n# EOF\n"
    )
    assert rules.openmetrics_problems(body, content_type) == []
    parsed = parse_openmetrics(body)
    assert rules.exemplar_problems(parsed.families) == (1, [])
    outside = parse_openmetrics(body.replace("} 0.05", "} 0.5"))
    count, problems = rules.exemplar_problems(outside.families)
    assert count == 1 and "outside the bucket" in problems[0]
    assert "does not end with the line # EOF" in " ".join(
        rules.openmetrics_problems(body.removesuffix("# EOF\n"), content_type)
    )


@pytest.mark.parametrize(
    ("value", "valid"),
    [("2026-05-26T15:42:30.123456789Z", True), ("2026-05-26T15:42:30Z", True),
     ("2026-05-26T15:42:30.1Z", True), ("2026-05-26T15:42:30.100Z", False),
     ("2026-05-26T15:42:30.1234567891Z", False), ("2026-05-26T15:42:30+00:00", False),
     ("2026-05-26 15:42:30Z", False)],
)  # fmt: skip
def test_started_is_a_go_time_in_utc(value: str, valid: bool) -> None:
    assert bool(GO_UTC_TIME.fullmatch(value)) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [("0s", True), ("1m2.3s", True), ("750ms", True), ("1.5µs", True), ("2h0m0s", True),
     ("1.5", False), ("62 s", False), ("PT1M", False), ("", False)],
)  # fmt: skip
def test_up_is_a_go_duration(value: str, valid: bool) -> None:
    assert bool(GO_DURATION.fullmatch(value)) is valid
