"""Zap-Trace-Span: parsed when valid, never fatal, visible in logs and exemplars."""

from __future__ import annotations

import json

import pytest
import requests

from impl.metrics.tracing import MAX_HEADER_BYTES, parse_span_context
from tools.live import LiveServer
from tools.metrics_text import openmetrics_families

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = json.dumps({"trace_id": TRACE_ID, "span_id": "00f067aa0ba902b7", "baggage": {"k": "v"}})


def test_valid_span_context_is_parsed() -> None:
    span = parse_span_context(SPAN)
    assert span is not None
    assert (span.trace_id, span.span_id) == (TRACE_ID, "00f067aa0ba902b7")


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "not json",
        "[1, 2]",
        '{"trace_id": "1"}',
        '{"trace_id": "xyz", "span_id": "1"}',
        '{"trace_id": "' + "a" * 33 + '", "span_id": "1"}',
        '{"trace_id": 1, "span_id": 2}',
        "{" * 5000,
        '{"trace_id": "ab", "span_id": "cd", "baggage": "' + "x" * MAX_HEADER_BYTES + '"}',
        b"\xff\xfe",
    ],
)
def test_malformed_span_context_is_ignored(raw: str | bytes | None) -> None:
    assert parse_span_context(raw) is None


@pytest.mark.parametrize(
    "value",
    ["garbage", '{"trace_id":"1","span_id":"1"}', "{" * 3000, "\u00e9t\u00e9", "x" * 7000],
)
def test_bad_header_never_fails_a_request(server: LiveServer, value: str) -> None:
    for path, status in (("/ping", 204), ("/metrics", 200), ("/health", 200), ("/ready", 200)):
        headers = {"Zap-Trace-Span": value.encode("utf-8")}
        response = requests.get(server.url + path, headers=headers, timeout=10)
        assert response.status_code == status, (path, value[:20])


def test_trace_id_in_access_log_and_openmetrics_exemplar(fresh_server: LiveServer) -> None:
    response = requests.get(
        fresh_server.url + "/ping", headers={"Zap-Trace-Span": SPAN}, timeout=10
    )
    assert response.status_code == 204
    access_lines = [
        line for line in fresh_server.log().splitlines() if "logger=impl.access" in line
    ]
    assert any(f"trace_id={TRACE_ID}" in line and "path=/ping" in line for line in access_lines)

    om = requests.get(
        fresh_server.url + "/metrics",
        headers={"Accept": "application/openmetrics-text"},
        timeout=10,
    ).text
    histogram = openmetrics_families(om)["http_api_request_duration_seconds"]
    exemplars = [
        s.exemplar
        for s in histogram.samples
        if s.exemplar is not None and s.labels.get("path") == "/ping"
    ]
    assert [e.labels for e in exemplars] == [{"trace_id": TRACE_ID}]
