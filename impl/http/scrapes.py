"""Scrapes are rendered a few at a time, shared, and queued fairly between clients.

Rendering a scrape takes a body's worth of memory and CPU (more for OpenMetrics and gzip),
which a crowd of scrapers, or one client scraping on many connections, would multiply. So:

- Requests for the same representation (operation, negotiated format, query string,
  gzip or not) that wait together share one render: each gets the same response. A
  request joins only a render that has not started yet, so what it is sent was
  collected after it arrived: a client that has read an answer and scrapes again finds
  its previous request counted (impl/http/observe.py counts before the last byte leaves).
- At most `concurrent` renders run at once; at most `queued` more wait, each for any
  number of requests. A slot that frees goes to the waiting render whose best-placed
  client was served longest ago.
- When every waiting place is taken, a request that needs a new one takes the place
  of the render whose clients were all served most recently, if its own client was
  served longer ago; those clients, or else this one, get an InfluxDB 503 at once. A
  client is a connection (its address and port), and one never served counts as served
  when it arrives: 50 clients re-scraping as fast as they are answered cannot keep out
  a scraper that asks once a second, whatever names or formats they vary, and a client
  that opens a new connection for every request gains nothing by it.

A render is the rest of the stack below this layer, run once with the scope of the
request that started it; the response it sends is kept whole and replayed to every
request that waited for it (an exception is raised in each). A slot is held until the
render's response is made, and every waiter's copy is handed to the server, which keeps
at most one response per connection (impl/http/protocol.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Hashable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from impl.errors import InfluxError
from impl.http.asgi import Layer, joined_header, operation, send_error
from impl.http.compression import gzip_wanted
from impl.metrics.exposition import negotiate

log = logging.getLogger(__name__)

BUSY_MESSAGE = "too many scrapes in progress, try again"
# Clients whose last service is remembered (least recently served forgotten first);
# beyond the connection limit, so that every open connection is remembered.
REMEMBERED_CLIENTS = 4096

Render = Callable[[], Awaitable[list[Message]]]


class Refused(Exception):
    """The render a request waited for gave its place to another's."""


class _Rendering:
    """One render of one representation, and the requests waiting for it."""

    def __init__(self, key: Hashable, make: Render, priority: float) -> None:
        self.key = key
        self.make = make
        self.priority = priority  # when its best-placed client was last served
        self.done: asyncio.Future[list[Message]] = asyncio.get_running_loop().create_future()


class ScrapeQueue:
    """The renders of one process, shared by the full path and the fast path."""

    def __init__(self, concurrent: int, queued: int) -> None:
        self.concurrent = concurrent
        self.queued = queued
        self.running = 0
        self._waiting: dict[Hashable, _Rendering] = {}
        self._served: OrderedDict[Hashable, float] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def join(self, key: Hashable, client: Hashable, make: Render) -> _Rendering | None:
        """The render this request waits for (joined, started or queued), or None: 503."""
        now = time.monotonic()
        priority = self._served.get(client, now)
        rendering = self._waiting.get(key)
        if rendering is not None:
            rendering.priority = min(rendering.priority, priority)
            return rendering
        rendering = _Rendering(key, make, priority)
        if self.running < self.concurrent:
            self._start(rendering)
        elif len(self._waiting) < self.queued:
            self._waiting[key] = rendering
        else:
            last = max(self._waiting.values(), key=lambda waiting: waiting.priority, default=None)
            if last is None or last.priority <= priority:
                return None
            del self._waiting[last.key]
            last.done.set_exception(Refused())
            self._waiting[key] = rendering
        return rendering

    def served(self, client: Hashable) -> None:
        self._served[client] = time.monotonic()
        self._served.move_to_end(client)
        if len(self._served) > REMEMBERED_CLIENTS:
            self._served.popitem(last=False)

    def _start(self, rendering: _Rendering) -> None:
        self.running += 1
        task = asyncio.get_running_loop().create_task(self._run(rendering))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, rendering: _Rendering) -> None:
        try:
            rendering.done.set_result(await rendering.make())
        except Exception as exc:  # each waiter raises it, for the error layer above
            rendering.done.set_exception(exc)
        finally:
            self.running -= 1
            if self._waiting:
                first = min(self._waiting.values(), key=lambda waiting: waiting.priority)
                del self._waiting[first.key]
                self._start(first)


def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> Render:
    async def render() -> list[Message]:
        sent: list[Message] = []

        async def keep(message: Message) -> None:
            sent.append(message)

        await app(scope, receive, keep)
        return sent

    return render


@dataclass
class ScrapeSlots(Layer):
    """Renders the answers of `operations` through `scrapes` (see the module docstring);
    other requests pass."""

    operations: Collection[str]
    scrapes: ScrapeQueue

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self._representation(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        client: Any = scope.get("client") or object()  # no address: a client of its own
        rendering = self.scrapes.join(key, client, _capture(self.app, scope, receive))
        try:
            if rendering is None:
                raise Refused
            # Shielded: one waiter leaving must not cancel the render the others wait for.
            messages = await asyncio.shield(rendering.done)
        except Refused:
            fields = {"rendering": self.scrapes.running, "waiting": self.scrapes.queued}
            log.warning("scrape refused", extra={"fields": fields})
            await send_error(send, InfluxError("unavailable", BUSY_MESSAGE))
            return
        for message in messages:
            await send(dict(message))  # each layer above may rewrite its own copy
        self.scrapes.served(client)

    def _representation(self, scope: Scope) -> Hashable | None:
        reached = operation(scope)
        if reached is None or reached.operation_id not in self.operations:
            return None
        try:
            media_type = negotiate(joined_header(scope, b"accept"))
        except InfluxError:
            return None  # the handler answers 406 at once: nothing to render
        gzip = gzip_wanted(scope, self.operations)
        return reached.operation_id, media_type, scope.get("query_string", b""), gzip
