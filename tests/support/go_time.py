"""Reading back Go's time formats, to check what the service writes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|µs|us|ns)")
RFC3339_NANO_UTC = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,8}[1-9]|[1-9]))?Z")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string (`1h2m3.5s`, `12.5ms`); ValueError otherwise."""
    parts = _GO_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a Go duration: {text!r}")
    return sum(float(number) * _GO_UNITS[unit] for number, unit in parts)


def parse_rfc3339_nano_utc(text: str) -> tuple[datetime, int]:
    """(the second, nanoseconds) of a time written as Go's RFC3339Nano in UTC."""
    match = RFC3339_NANO_UTC.fullmatch(text)
    if match is None:
        raise ValueError(f"not RFC3339Nano in UTC: {text!r}")
    second = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
    return second, int((match.group(2) or "0").ljust(9, "0"))
