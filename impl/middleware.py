"""ASGI layers around the Connexion app: metrics, headers, access log, tokens."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from impl.auth import TokenChecker
from impl.errors import InfluxError, render
from impl.http_metrics import FALLBACK_PATH, HttpMetrics
from impl.logs import ACCESS_LOGGER
from impl.tracing import HEADER as TRACE_HEADER
from impl.tracing import parse_span_context
from impl.user_agents import agent_name

access_log = logging.getLogger(ACCESS_LOGGER)
log = logging.getLogger("impl.middleware")

# Key under which the outer layer leaves a mutable record in the ASGI scope. Connexion
# copies the scope as it routes, but the copies share this object, so what the inner
# layer learns (the matched operation) reaches the outer one.
RECORD_KEY = "influxdb_sysinfo.request"
ROUTING_EXTENSION = "connexion_routing"


@dataclass
class RequestRecord:
    operation_id: str | None = None


def header(scope: Scope, name: bytes) -> str | None:
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


class InfluxMiddleware:
    """Outermost layer: every response gets InfluxDB's identity headers, is counted in
    the HTTP metrics after it has been sent, and is written to the access log."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics,
        paths: Mapping[str, str],
        version: str,
        build: str,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.paths = paths
        self.identity_headers = [
            (b"x-influxdb-build", build.encode("latin-1")),
            (b"x-influxdb-version", version.encode("latin-1")),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        record = RequestRecord()
        scope[RECORD_KEY] = record
        status = 500
        recorded = False

        def finish() -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                self._finish(scope, record, status, time.perf_counter() - started)

        # The head is held back until the first body message: a response without a body
        # (204, HEAD) is complete for the client as soon as its head arrives, and must
        # be counted by then too, which matters when another worker answers the scrape.
        held_start: Message | None = None

        async def send_with_headers(message: Message) -> None:
            nonlocal status, held_start
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = list(message.get("headers", [])) + self.identity_headers
                held_start = message
                return
            if message["type"] == "http.response.body" and not message.get("more_body"):
                # Counted before the last byte leaves: a client that has read this
                # response and scrapes next must find it counted.
                finish()
            if held_start is not None:
                start, held_start = held_start, None
                await send(start)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
            if held_start is not None:  # an app that never sent its body
                await send(held_start)
        finally:
            finish()  # no complete response (client gone, app failed): still counted

    def _finish(self, scope: Scope, record: RequestRecord, status: int, seconds: float) -> None:
        path = self.paths.get(record.operation_id or "", FALLBACK_PATH)
        user_agent = header(scope, b"user-agent")
        span = parse_span_context(header(scope, TRACE_HEADER.encode()))
        trace_id = span.trace_id if span else None
        self.metrics.record(
            method=scope["method"],
            path=path,
            status=status,
            user_agent=user_agent,
            seconds=seconds,
            trace_id=trace_id,
        )
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


class OperationGate:
    """Inside Connexion, after routing: notes the matched operation for the outer layer
    and enforces token-protected mode on the operations that need a token."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        tokens: TokenChecker,
        protected: frozenset[str],
        plain_routes: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.protected = protected
        # Exact paths served by Flask routes outside the spec (the spec documents).
        self.plain_routes = plain_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        operation = operation_id(scope)
        record = scope.get(RECORD_KEY)
        if isinstance(record, RequestRecord):
            record.operation_id = operation
        if operation is None and scope["path"] not in self.plain_routes:
            # Answered here, not by Flask: Werkzeug routes more leniently than Connexion
            # (it merges slashes, so `//metrics` finds the view), and a view reached
            # without Connexion's operation context fails with a 500.
            error = InfluxError("not found", "path not found")
            log.warning("request failed: %s %s: %s", scope["method"], scope["path"], error)
            await send_error(send, error)
            return
        if (
            self.tokens.enabled
            and operation in self.protected
            and not self.tokens.accepts(header(scope, b"authorization"))
        ):
            logging.getLogger("impl.auth").warning(
                "rejected request without a valid token",
                extra={"fields": {"operation": operation}},
            )
            await send_error(send, InfluxError("unauthorized", "unauthorized access"))
            return
        await self.app(scope, receive, send)
