"""What every InfluxDB error answer must look like, whichever client received it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

JSON = "application/json; charset=utf-8"


class HttpResponse(Protocol):
    """What requests' and httpx's responses both offer."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


def assert_influx_error(response: HttpResponse, status: int, code: str) -> dict[str, str]:
    """The body of an InfluxDB error with this status and code, checked in full."""
    assert response.status_code == status
    assert response.headers["Content-Type"] == JSON
    assert response.headers["X-Platform-Error-Code"] == code
    body: dict[str, str] = response.json()
    assert set(body) == {"code", "message"} and body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response.text
    return body
