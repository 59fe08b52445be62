"""Zap-Trace-Span: the OpenTracing span context InfluxDB clients may send as JSON."""

from __future__ import annotations

import json
import re
from typing import NamedTuple

HEADER = "zap-trace-span"
# A header longer than this is not parsed at all: the spans influxd's clients send
# are under 200 bytes, and json.loads on megabytes would be an easy way to burn CPU.
MAX_HEADER_BYTES = 4096
# Jaeger span contexts carry 64- or 128-bit ids in hex.
HEX_ID = re.compile(r"[0-9a-fA-F]{1,32}")


class SpanContext(NamedTuple):
    trace_id: str
    span_id: str  # checked, as a span context without one is malformed; not used


def parse_span_context(raw: bytes | str | None) -> SpanContext | None:
    """The span context in a header value, or None when absent or malformed: as in
    influxd, a bad value never fails a request, the caller just has no trace."""
    if not raw or len(raw) > MAX_HEADER_BYTES:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    trace_id, span_id = data.get("trace_id"), data.get("span_id")
    if not isinstance(trace_id, str) or not HEX_ID.fullmatch(trace_id):
        return None
    if not isinstance(span_id, str) or not HEX_ID.fullmatch(span_id):
        return None
    # Baggage is not read: only the trace ID is used (as the duration's exemplar).
    return SpanContext(trace_id.lower(), span_id.lower())
