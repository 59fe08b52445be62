"""At most a few /metrics responses in the making at once; a bounded queue for the rest.

Rendering a scrape takes a body's worth of memory and CPU (more for OpenMetrics and gzip),
which a crowd of scrapers, or one client scraping on many connections, would multiply.
So `concurrent` scrapes are rendered, validated and compressed at a time, up to `queued`
more wait, and any beyond get an InfluxDB 503 at once. A slot is held until the response
is handed to the server, which keeps at most one per connection (impl/http/protocol.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass, field

from starlette.types import Receive, Scope, Send

from impl.errors import InfluxError
from impl.http.asgi import Layer, operation_id, send_error

log = logging.getLogger(__name__)

BUSY_MESSAGE = "too many scrapes in progress, try again"


@dataclass
class ScrapeSlots(Layer):
    operations: Collection[str]
    concurrent: int
    queued: int
    _waiting: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrent)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if operation_id(scope) not in self.operations:
            await self.app(scope, receive, send)
            return
        if self._slots.locked() and self._waiting >= self.queued:
            log.warning("scrape refused: %d rendering, %d waiting", self.concurrent, self._waiting)
            await send_error(send, InfluxError("unavailable", BUSY_MESSAGE))
            return
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._slots.release()
