"""Whatever any layer below raises becomes an InfluxDB error: the service's only
exception handler, in place of Connexion's two (which answer with problem+json).

Handlers raise `InfluxError` for the errors the spec declares (403, 406, 503);
Connexion's validation raises `ProblemException`; Starlette's routing inside the docs
raises `HTTPException`; anything else is a fault of the service: 500, logged with its
traceback, and influxd's generic message to the client.
"""

from __future__ import annotations

import logging

from connexion.exceptions import ProblemException
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from impl.errors import INTERNAL_MESSAGE, InfluxError, from_status
from impl.http.asgi import send_error

log = logging.getLogger(__name__)


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


class ErrorResponses:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, noting_start)
        except Exception as exc:  # the point of this layer: nothing escapes unanswered
            error = as_influx_error(exc)
            where = f"{scope['method']} {scope['path']}"
            if error.status >= 500:
                log.error("request failed: %s: %s", where, error, exc_info=exc)
            else:
                log.warning("request failed: %s: %s", where, error)
            if not started:
                await send_error(send, error)
            # Otherwise the head is out and nothing more can be said: the server
            # closes the connection on a response the app left unfinished.


__all__ = ["ErrorResponses", "as_influx_error"]
