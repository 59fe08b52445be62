"""What the ASGI layers share: reading the scope, and answering with an InfluxDB error."""

from __future__ import annotations

from starlette.types import Scope, Send

from impl.errors import InfluxError, render

# Where Connexion's routing leaves the matched operation, in scope["extensions"].
ROUTING_EXTENSION = "connexion_routing"


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (`name` lower-case)."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def operation_id(scope: Scope) -> str | None:
    """The spec operation Connexion routed this request to, if any.

    Connexion names it by the resolved function, e.g.
    "sysinfo_server.controllers.ping_controller.get_ping"; the spec by its last part.
    """
    resolved = scope.get("extensions", {}).get(ROUTING_EXTENSION, {}).get("operation_id")
    return resolved.rsplit(".", 1)[-1] if isinstance(resolved, str) else None


async def send_error(send: Send, error: InfluxError, *, close: bool = False) -> None:
    """Answer with `error`; `close` ends the connection too (a refused request whose
    body was not read)."""
    status, headers, body = render(error)
    response_headers = [(k.lower().encode(), v.encode("latin-1")) for k, v in headers]
    if close:
        response_headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})


__all__ = ["header", "operation_id", "send_error"]
