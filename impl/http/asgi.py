"""What the ASGI layers share: reading the scope, and answering with an InfluxDB error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from impl.errors import InfluxError, render
from impl.http.operations import Operation

# Where the spec operation a request reaches is named, in scope["extensions"]
# (impl/http/routes.py and impl/http/fastpath.py put it there).
OPERATION = "influxdb_sysinfo.operation"


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


def joined_header(scope: Scope, name: bytes) -> str | None:
    """Every value of a request header joined with commas, as RFC 9110 5.3 reads a
    repeated header and WSGI hands it to Flask (`name` lower-case)."""
    values = [value.decode("latin-1") for key, value in scope.get("headers", ()) if key == name]
    return ",".join(values) if values else None


def has_body(scope: Scope) -> bool:
    """Whether the request head announces a body (impl/http/limits.py has read it)."""
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


def operation(scope: Scope) -> Operation | None:
    """The spec operation this request reaches, once routed (None: not, or not yet)."""
    found: Operation | None = scope.get("extensions", {}).get(OPERATION)
    return found


def rewriting_send(
    send: Send,
    head: Callable[[Message], tuple[Message, bool]],
    rewrite: Callable[[Message, bytes], Awaitable[tuple[Message, bytes]]],
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
            start, body = await rewrite(held, b"".join(chunks))
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
