"""What the ASGI layers share: reading the scope, and answering with an InfluxDB error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from impl.errors import InfluxError, render

# Where Connexion's routing leaves the matched operation, in scope["extensions"].
ROUTING_EXTENSION = "connexion_routing"


@dataclass
class Layer:
    """An ASGI layer: `http` handles HTTP requests, other scopes (lifespan) pass to `app`.
    Its settings are the dataclass fields after `app` (app.py:layers() fills them)."""

    app: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (`name` lower-case)."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def operation_id(scope: Scope) -> str | None:
    """The spec operation Connexion routed this request to, if any. Connexion names the
    resolved function ("sysinfo_server.controllers.ping_controller.get_ping"), the spec
    its last part."""
    resolved = scope.get("extensions", {}).get(ROUTING_EXTENSION, {}).get("operation_id")
    return resolved.rsplit(".", 1)[-1] if isinstance(resolved, str) else None


def rewriting_send(
    send: Send,
    head: Callable[[Message], tuple[Message, bool]],
    rewrite: Callable[[Message, bytes], tuple[Message, bytes]],
) -> Send:
    """A `send` for a layer that rewrites whole responses. `head` sees each response
    head and returns it (changed or not) and whether to hold it; a held head waits for
    its whole body, and both leave as `rewrite` makes them. Other messages pass."""
    held: Message | None = None
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start":
            message, hold = head(message)
            if hold:
                held = message
                return
        elif held is not None and message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            start, body = rewrite(held, b"".join(chunks))
            await send(start)
            message = {"type": "http.response.body", "body": body}
        await send(message)

    return wrapped


async def send_error(send: Send, error: InfluxError, *, close: bool = False) -> None:
    """Answer with `error`; `close` also ends the connection (a refused body is unread)."""
    status, headers, body = render(error)
    response_headers = [(k.lower().encode(), v.encode("latin-1")) for k, v in headers]
    if close:
        response_headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})
