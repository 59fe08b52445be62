"""The outermost layer: what every answer gets, refusals and errors included."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from impl.http.asgi import Layer, header, operation_id
from impl.http.routes import RouteTable
from impl.metrics.http_metrics import FALLBACK_PATH, HttpMetrics
from impl.metrics.tracing import HEADER as TRACE_HEADER
from impl.metrics.tracing import parse_span_context
from impl.metrics.user_agents import agent_name

access_log = logging.getLogger("impl.access")


@dataclass
class Observe(Layer):
    """Every response gets InfluxDB's identity headers, is counted in the HTTP metrics
    by the time the client can read it, and gets one access-log line."""

    metrics: HttpMetrics
    routes: RouteTable
    identity_headers: Sequence[tuple[bytes, bytes]]

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Connexion's routing names the operation in here; it is read after the fact.
        scope.setdefault("extensions", {})
        started = time.perf_counter()
        status = 500
        recorded = False

        def finish() -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                self._record(scope, status, time.perf_counter() - started)

        # The head waits for the first body message, so that a response without a body (204,
        # HEAD) is counted by the time the client has it (another worker may answer a scrape).
        held_start: Message | None = None

        async def send_observed(message: Message) -> None:
            nonlocal status, held_start
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *self.identity_headers]
                held_start = message
                return
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finish()  # before the last byte leaves: the client's next scrape sees it
            if held_start is not None:
                start, held_start = held_start, None
                await send(start)
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
            if held_start is not None:  # an app that never sent its body
                await send(held_start)
        finally:
            finish()  # no complete response (client gone, app failed): still counted

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        path = self.routes.template(scope["path"]) or FALLBACK_PATH
        user_agent = header(scope, b"user-agent")
        span = parse_span_context(header(scope, TRACE_HEADER.encode()))
        trace_id = span.trace_id if span else None
        try:
            self.metrics.record(
                method=scope["method"],
                path=path,
                status=status,
                user_agent=user_agent,
                seconds=seconds,
                routed=operation_id(scope) is not None,
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
            access_log.info("request", extra={"fields": fields})
