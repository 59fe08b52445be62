"""InfluxDB errors and their one renderer: `{"code": ..., "message": ...}` with
X-Platform-Error-Code, as influxd writes them. Every layer that answers with an error
(the h11 protocol, the ASGI layers, the handlers) renders an `InfluxError` here, so
bodies, headers and code/status pairs cannot differ between them."""

from __future__ import annotations

import json
from collections.abc import Sequence

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
INTERNAL_MESSAGE = "An internal error has occurred - check server logs"

# The status influxd gives each code of the spec's ErrorCode enum (tests check this
# table against both generated enums). influxd has no status for "unsupported media
# type"; 415 is the one HTTP names for it.
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

# Statuses of lower layers (routing, validation, HTTP parsing) without a code take the
# nearest: 406, 408 and 411 cannot be served as sent ("invalid"); 414 and 431 are too large.
CODE_OF_STATUS = {
    **{status: code for code, status in reversed(STATUS_OF_CODE.items())},
    **{406: "invalid", 408: "invalid", 411: "invalid", 409: "conflict"},
    **{414: "request too large", 431: "request too large"},
}


class InfluxError(Exception):
    """An answer with an InfluxDB error; `status` defaults to the code's own."""

    def __init__(self, code: str, message: str, status: int = 0, allow: Sequence[str] = ()) -> None:
        if code not in STATUS_OF_CODE:
            raise ValueError(f"not an InfluxDB error code: {code!r}")
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.status = status or STATUS_OF_CODE[code]
        self.allow = tuple(allow)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def from_status(status: int, message: str) -> InfluxError:
    """The InfluxDB error for a status a lower layer chose; a 5xx says no more than
    influxd's generic message (what the layer said goes to the log)."""
    code = CODE_OF_STATUS.get(status)
    if code is None or code == "internal error":
        if status >= 500:
            return InfluxError("internal error", INTERNAL_MESSAGE, status)
        code = "invalid"
    return InfluxError(code, message, status)


def render(error: InfluxError) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and compact JSON body."""
    document = {"code": error.code, "message": error.message}
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = [
        ("Content-Type", JSON_CONTENT_TYPE),
        ("X-Platform-Error-Code", error.code),
        ("Content-Length", str(len(body))),
    ]
    if error.allow:
        headers.append(("Allow", ", ".join(error.allow)))
    return error.status, headers, body
