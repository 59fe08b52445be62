"""How influxd 2.x behaves where the spec says nothing, as influxd's source and docs show
it: the SHOULD checks' answer key, written here and nowhere else, so that the judge
shares nothing with the server it judges."""

from __future__ import annotations

import re
from collections.abc import Iterable

from impl.client.conform.formats import is_date_time
from impl.client.conform.model import Exchange

IDENTITY_HEADERS = ("X-Influxdb-Build", "X-Influxdb-Version")
ERROR_CODE_HEADER = "X-Platform-Error-Code"
# influxd's kit/platform/errors: each code leaves with one status. "unsupported media
# type" has none in influxd's table; 415 is its natural status.
STATUS_OF_CODE: dict[str, int] = {
    "internal error": 500,
    "not implemented": 501,
    "invalid": 400,
    "empty value": 400,
    "unprocessable entity": 422,
    "conflict": 422,
    "not found": 404,
    "unavailable": 503,
    "forbidden": 403,
    "too many requests": 429,
    "unauthorized": 401,
    "method not allowed": 405,
    "request too large": 413,
    "unsupported media type": 415,
}
HEALTH_NAME = "influxdb"
# Go marshals a time.Time in UTC as RFC 3339 with up to nine fractional digits,
# trailing zeros dropped (no fraction at all when it is zero).
GO_UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,8}[1-9])?Z", re.ASCII)
AS_GO_WRITES_IT = "UTC with Z, at most nine fractional digits, trailing zeros dropped"
# Go's Duration.String(): "0s", "750ms", "1.5µs", "1h2m3.04s".
GO_DURATION = re.compile(r"0s|([0-9]+(\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+")
HTTP_LABELS = frozenset({"handler", "method", "path", "response_code", "status", "user_agent"})
# The families every influxd 2.x serves whatever its storage and configuration, with
# their TYPE and the labels of each sample (`le` aside).
FAMILIES: dict[str, tuple[str, frozenset[str]]] = {
    "http_api_requests_total": ("counter", HTTP_LABELS),
    "http_api_request_duration_seconds": ("histogram", HTTP_LABELS),
    "influxdb_info": (
        "gauge",
        frozenset({"arch", "build_date", "commit", "cpus", "os", "version"}),
    ),
    "influxdb_uptime_seconds": ("gauge", frozenset({"id"})),
}


def claims_influxd(exchanges: Iterable[Exchange]) -> bool:
    """Whether any answer carries influxd's identity headers."""
    return any(
        exchange.response is not None
        and any(exchange.response.header(name) for name in IDENTITY_HEADERS)
        for exchange in exchanges
    )


def go_time_problem(field: str, value: object) -> str | None:
    """Why `value` is not a time as influxd writes one, or None."""
    if not isinstance(value, str):
        return f"{field} {value!r} is not a string"
    if not is_date_time(value):
        return f"{field} {value!r} is not an RFC 3339 date-time"
    if not GO_UTC_TIME.fullmatch(value):
        return (
            f"{field} {value!r} is valid RFC 3339, but not as influxd writes it ({AS_GO_WRITES_IT})"
        )
    return None


def go_duration_problem(field: str, value: object) -> str | None:
    if not isinstance(value, str) or not GO_DURATION.fullmatch(value):
        return f"{field} {value!r} is not a Go duration (e.g. 1m2.3s)"
    return None
