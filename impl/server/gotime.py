"""Time as influxd's Go runtime writes it in /ready: `started` a marshalled `time.Time`,
`up` a printed `time.Duration`, so clients comparing the two servers see the same shapes.
Integer nanoseconds throughout, as Go keeps them: a float would round the ninth digit."""

from __future__ import annotations

import time

NANOS_PER_SECOND = 1_000_000_000
_UNITS_BELOW_A_SECOND = ((1_000, "ns", 0), (1_000_000, "µs", 3), (NANOS_PER_SECOND, "ms", 6))


def _fraction(nanos: int, digits: int) -> str:
    """`nanos` of a unit 10**digits long, as Go's fmtFrac: trailing zeros dropped."""
    whole, rest = divmod(nanos, 10**digits)
    fraction = f"{rest:0{digits}d}".rstrip("0") if digits else ""
    return f"{whole}.{fraction}" if fraction else str(whole)


def go_duration(nanos: int) -> str:
    """A non-negative duration as Go's Duration.String: `0s`, `1.5µs`, `1m0s`, `5h6m7.001s`."""
    if nanos == 0:
        return "0s"
    for limit, unit, digits in _UNITS_BELOW_A_SECOND:
        if nanos < limit:
            return _fraction(nanos, digits) + unit
    minutes, seconds = divmod(nanos, 60 * NANOS_PER_SECOND)
    hours, minutes = divmod(minutes, 60)
    text = _fraction(seconds, 9) + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


def rfc3339_nano(unix_nanos: int) -> str:
    """A UTC instant as Go's RFC3339Nano: `...T15:42:30.12345Z`, no trailing zeros or bare dot."""
    seconds, nanos = divmod(unix_nanos, NANOS_PER_SECOND)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"
