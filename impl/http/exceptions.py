"""Whatever any layer below raises becomes an InfluxDB error: the service's only
exception handler, in place of Connexion's two (which answer with problem+json).

Handlers raise `InfluxError` for the errors the spec declares (403, 406, 503), Connexion's
validation `ProblemException`, Starlette's routing inside the docs `HTTPException`;
anything else is a fault of the service: 500, logged with its traceback, and influxd's
generic message to the client. Messages may quote what the client sent (a `name[]` value,
an Accept header, 700 names): each is masked (the configured tokens), then cut to
`MESSAGE_LIMIT` characters, in that order, so a cut never leaves part of a token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from connexion.exceptions import ProblemException
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from impl.errors import INTERNAL_MESSAGE, InfluxError, from_status
from impl.http.asgi import Layer, send_error
from impl.http.redact import Redactor

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 256
CUT_MARKER = "..."


def as_influx_error(exc: Exception) -> InfluxError:
    if isinstance(exc, InfluxError):
        return exc
    if isinstance(exc, ProblemException):
        return from_status(exc.status, str(exc.detail or exc.title))
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return InfluxError("not found", "path not found")
        return from_status(exc.status_code, str(exc.detail))
    return InfluxError("internal error", INTERNAL_MESSAGE)


def bounded(error: InfluxError, redactor: Redactor) -> InfluxError:
    """`error` with its message masked, then cut to MESSAGE_LIMIT characters."""
    message = redactor.text(error.message)
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - len(CUT_MARKER)] + CUT_MARKER
    if message == error.message:
        return error
    return InfluxError(error.code, message, error.status, error.allow)


@dataclass
class ErrorResponses(Layer):
    redactor: Redactor

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, noting_start)
        except Exception as exc:  # the point of this layer: nothing escapes unanswered
            error = bounded(as_influx_error(exc), self.redactor)
            where = f"{scope['method']} {scope['path']}"
            if error.status >= 500:
                log.error("request failed: %s: %s", where, error, exc_info=exc)
            else:
                log.warning("request failed: %s: %s", where, error)
            if not started:
                await send_error(send, error)
            # Otherwise the head is out and nothing more can be said: the server
            # closes the connection on a response the app left unfinished.
