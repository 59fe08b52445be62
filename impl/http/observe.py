"""The outermost layer: what every answer gets, refusals and errors included."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from impl.http.asgi import Layer, operation
from impl.http.routes import RouteTable
from impl.metrics.http_metrics import FALLBACK_PATH, HttpMetrics
from impl.metrics.tracing import HEADER as TRACE_HEADER
from impl.metrics.tracing import parse_span_context
from impl.metrics.user_agents import agent_name

access_log = logging.getLogger("impl.access")
_TRACE_HEADER = TRACE_HEADER.encode()


def write_access_line(message: str, fields: dict[str, Any]) -> None:
    """One line of `impl.access` at info level, as `access_log.info(message, extra=...)`
    writes it, without looking up its caller's frame or copying `extra`: it is written
    for every request."""
    if access_log.isEnabledFor(logging.INFO):
        record = logging.LogRecord(access_log.name, logging.INFO, "", 0, message, None, None)
        record.fields = fields
        access_log.handle(record)


@dataclass
class Observe(Layer):
    """Every response gets InfluxDB's identity headers, is counted in the HTTP metrics
    before its last byte leaves, and gets one access-log line. A request whose client
    left before it was read is counted as aborted instead (it has no answer)."""

    metrics: HttpMetrics
    routes: RouteTable
    identity_headers: Sequence[tuple[bytes, bytes]]

    def __post_init__(self) -> None:
        # Every path's count of aborted requests shows from the start, at 0 (a rate needs it).
        for path in (*self.routes.templates(), FALLBACK_PATH):
            self.metrics.aborted.labels(path)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Routing names the operation in here; it is read after the fact.
        scope.setdefault("extensions", {})
        started = time.perf_counter()
        status: int | None = None
        client_left = False
        recorded = False

        def finish() -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                seconds = time.perf_counter() - started
                if status is None and client_left:
                    self._record_aborted(scope, seconds)
                else:
                    self._record(scope, status or 500, seconds)

        # Until the last body message, one message is held back (the head waits for the
        # first body message), so that the request is counted before the client has its
        # last byte, however the body is cut: one message, many, or an empty last one.
        held: list[Message] = []

        async def send_observed(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *self.identity_headers]
                held.append(message)
                return
            if kind == "http.response.body" and not message.get("more_body", False):
                finish()
            for earlier in held:
                await send(earlier)
            held.clear()
            if kind == "http.response.body" and message.get("more_body", False):
                held.append(message)
            else:
                await send(message)

        async def receive_observed() -> Message:
            nonlocal client_left
            message = await receive()
            if message["type"] == "http.disconnect":
                client_left = True
            return message

        try:
            await self.app(scope, receive_observed, send_observed)
            if held:  # an app that never sent its last body message
                finish()
                for message in held:
                    await send(message)
        finally:
            finish()  # no complete response (client gone, app failed): still counted

    def _request_headers(self, scope: Scope) -> tuple[str | None, str | None]:
        user_agent = trace = None
        for key, value in scope.get("headers", ()):
            if key == b"user-agent" and user_agent is None:
                user_agent = value.decode("latin-1")
            elif key == _TRACE_HEADER and trace is None:
                trace = value.decode("latin-1")
        return user_agent, trace

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        path = self.routes.template(scope["path"]) or FALLBACK_PATH
        user_agent, trace = self._request_headers(scope)
        span = parse_span_context(trace)
        trace_id = span.trace_id if span else None
        try:
            self.metrics.record(
                method=scope["method"],
                path=path,
                status=status,
                user_agent=user_agent,
                seconds=seconds,
                routed=operation(scope) is not None,
                trace_id=trace_id,
            )
        finally:  # one line per request, whatever happened to its count
            fields: dict[str, Any] = {
                "method": scope["method"],
                "path": path,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "user_agent": agent_name(user_agent),
            }
            if trace_id:
                fields["trace_id"] = trace_id
            write_access_line("request", fields)

    def _record_aborted(self, scope: Scope, seconds: float) -> None:
        path = self.routes.template(scope["path"]) or FALLBACK_PATH
        try:
            self.metrics.record_aborted(path)
        finally:
            fields: dict[str, Any] = {
                "method": scope["method"],
                "path": path,
                "duration_ms": round(seconds * 1000, 3),
                "user_agent": agent_name(self._request_headers(scope)[0]),
                "reason": "the client left before its request was read",
            }
            write_access_line("request aborted", fields)
