"""Flask, the framework of the handlers, served to ASGI without a thread per message.

Connexion serves Flask through a2wsgi, which runs every request in a thread pool and
hands each response message back to the event loop through a queue, with a cross-thread
wait per message: about a third of a /ping's CPU. Here the WSGI app runs on the event
loop when its operation's answer is quick, in a thread only when it may block or was
large (impl/http/answers.py:Offload), and either way its response is collected whole
(every response here is a few bytes to a few megabytes, made in one piece) and sent as
one message. The environ is the one a2wsgi builds, so Flask sees the same request.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive, Scope, Send

from impl.http.answers import Offload, in_thread
from impl.http.asgi import has_body

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Response = tuple[int, list[tuple[bytes, bytes]], bytes]


def environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The WSGI environ of an ASGI request (PEP 3333), as a2wsgi makes it."""
    script_name = scope.get("root_path", "").encode("utf8").decode("latin1")
    path_info = scope["path"].encode("utf8").decode("latin1")
    if path_info.startswith(script_name):
        path_info = path_info[len(script_name) :]
    server_name, server_port = scope.get("server") or ("localhost", 80)
    made: dict[str, Any] = {
        "asgi.scope": scope,  # Connexion's request context reads it
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope["query_string"].decode("ascii"),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port or 0),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client is not None:
        made["REMOTE_ADDR"], made["REMOTE_PORT"] = client[0], str(client[1])
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin1")
        if name == "content-length":
            key = "CONTENT_LENGTH"
        elif name == "content-type":
            key = "CONTENT_TYPE"
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
        value = raw_value.decode("latin1")
        # A repeated header is one value, joined with commas (RFC 9110 5.3).
        made[key] = f"{made[key]},{value}" if key in made else value
    return made


def call(app: WSGIApp, made: dict[str, Any]) -> Response:
    """Run `app` on one request; its response collected whole. An exception it lets
    through (Flask propagates them) is raised here, for the error layer."""
    started: list[tuple[int, list[tuple[bytes, bytes]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [(int(status.split(" ", 1)[0]), _asgi_headers(headers))]
        return _no_write

    chunks = app(made, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    if not started:
        raise RuntimeError("the WSGI app returned without starting a response")
    status, headers = started[0]
    return status, headers, body


def _asgi_headers(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.strip().encode("latin1").lower(), v.strip().encode("latin1")) for k, v in headers]


def _no_write(data: bytes) -> None:
    raise NotImplementedError("write() of WSGI's start_response is not supported")


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


@dataclass
class InlineWSGI:
    """An ASGI app serving a WSGI app; see the module docstring."""

    app: WSGIApp
    offload: Offload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # nothing to start or stop in a WSGI app
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        # Bodies are at most impl/http/limits.py's MAX_BODY_BYTES, read in full already.
        made = environ(scope, await _body(receive) if has_body(scope) else b"")
        if self.offload.wanted(scope):
            status, headers, body = await in_thread(call, self.app, made)
        else:
            status, headers, body = call(self.app, made)
        self.offload.note(scope, len(body))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
