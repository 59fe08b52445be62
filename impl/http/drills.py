"""What a failure drill does to requests: the failures an operator asked for, made as a
failing influxd makes them, and said on every answer so nobody takes them for an outage.

Where a drill comes from (the operator's file) is impl/server/drills.py; /health's and
/ready's failures are made by their handlers (impl/server/handlers.py); /metrics' here,
above the scrape slots, so that both paths to the handler obey and a slow scrape waits
without holding a render slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import NamedTuple

from starlette.types import Message, Receive, Scope, Send

from impl.errors import InfluxError
from impl.http.asgi import Layer, operation, send_error

# On every answer while a drill runs: the endpoints it makes fail, comma-separated.
DRILL_HEADER = b"x-influxdb-sysinfo-drill"
ENDPOINTS = ("health", "ready", "metrics")
METRICS_UNAVAILABLE_MESSAGE = "failure drill: metrics unavailable"


class DrillFailure(InfluxError):
    """An error answer a drill asked for: said with the drill's header, and logged as the
    drill (impl/server/drills.py), not as a failure of the service."""


class Drill(NamedTuple):
    """The failures asked for; the default, none."""

    health_check: str | None = None  # /health: this check fails, with health_message
    health_message: str = ""
    ready_fails: bool = False  # /ready: 503, as while starting
    metrics_unavailable: bool = False  # /metrics: 503 `unavailable`
    metrics_delay: float = 0.0  # /metrics: answered this many seconds late

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The endpoints this drill makes fail or slow, in ENDPOINTS' order."""
        active = {
            "health": self.health_check is not None,
            "ready": self.ready_fails,
            "metrics": self.metrics_unavailable or self.metrics_delay > 0,
        }
        return tuple(name for name in ENDPOINTS if active[name])


NO_DRILL = Drill()


@dataclass
class Drills(Layer):
    """/metrics as the current drill asks (503, or late), and the drill's header on every
    answer while one runs; `current` is the drill now (cheap: called per request)."""

    current: Callable[[], Drill]
    operations: Collection[str]  # the exposition's operations

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        drill = self.current()
        endpoints = drill.endpoints
        if not endpoints:
            await self.app(scope, receive, send)
            return
        said = b",".join(name.encode() for name in endpoints)

        async def send_said(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (DRILL_HEADER, said)]
                message = {**message, "headers": headers}
            await send(message)

        reached = operation(scope)
        try:
            if reached is not None and reached.operation_id in self.operations:
                if drill.metrics_unavailable:
                    raise DrillFailure("unavailable", METRICS_UNAVAILABLE_MESSAGE)
                if drill.metrics_delay > 0:
                    await asyncio.sleep(drill.metrics_delay)
            await self.app(scope, receive, send_said)
        except DrillFailure as failure:  # made here or by a handler: nothing was sent
            await send_error(send_said, failure)
