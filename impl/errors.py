"""InfluxDB-style errors: `{"code": ..., "message": ...}` with X-Platform-Error-Code."""

from __future__ import annotations

import json
from dataclasses import dataclass

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

# The spec's Error.code enum with the status influxd gives each code.
STATUS_OF_CODE = {
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

# Statuses that reach us from a lower layer (routing, validation, HTTP parsing), and
# the enum code each becomes. 406 has no code of its own in the enum: "invalid" is
# the nearest one that says the request cannot be served as asked.
CODE_OF_STATUS = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    406: "invalid",
    409: "conflict",
    411: "invalid",
    413: "request too large",
    414: "request too large",
    415: "unsupported media type",
    422: "unprocessable entity",
    429: "too many requests",
    431: "request too large",
    501: "not implemented",
    503: "unavailable",
}

INTERNAL_MESSAGE = "An internal error has occurred - check server logs"


@dataclass(frozen=True)
class InfluxError(Exception):
    """An error a handler or middleware answers with; rendered by `render`."""

    code: str
    message: str
    status: int = 0
    allow: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.code not in STATUS_OF_CODE:
            raise ValueError(f"not an InfluxDB error code: {self.code!r}")
        if not self.status:
            object.__setattr__(self, "status", STATUS_OF_CODE[self.code])

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def from_status(status: int, message: str) -> InfluxError:
    """The InfluxDB error for a status raised by a lower layer."""
    if status >= 500 and status not in CODE_OF_STATUS:
        return InfluxError("internal error", INTERNAL_MESSAGE, status)
    return InfluxError(CODE_OF_STATUS.get(status, "invalid"), message, status)


def render(error: InfluxError) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and compact JSON body, as influxd writes them."""
    body = json.dumps(
        {"code": error.code, "message": error.message}, separators=(",", ":")
    ).encode()
    headers = [
        ("Content-Type", JSON_CONTENT_TYPE),
        ("X-Platform-Error-Code", error.code),
        ("Content-Length", str(len(body))),
    ]
    if error.allow:
        headers.append(("Allow", ", ".join(error.allow)))
    return error.status, headers, body
