"""Scrapes are rendered a few at a time, shared, and queued fairly between clients.

Rendering a scrape takes a body's worth of memory and CPU (more for OpenMetrics and gzip),
which a crowd of scrapers, or one client scraping on many connections, would multiply. So:

- Requests for the same representation (operation, negotiated format, query string,
  gzip or not) that wait together share one render: each gets the same response. A
  request joins only a render that has not started yet, so what it is sent was
  collected after it arrived: a client that has read an answer and scrapes again finds
  its previous request counted (impl/http/observe.py counts before the last byte leaves).
  A representation has one render at a time: those who ask while it renders share its
  next one, rather than take a second slot each.
- A render starts once the requests for it stop arriving: while a turn of the event
  loop brought it new waiters, it waits one more turn, at most GATHER_TURNS. Scrapers
  that ask again as soon as they are answered (a crowd, or a benchmark's connections)
  come back a few per turn; gathered, they share one render where each turn's few had
  one each. A lone scrape gains no waiter and starts at once.
- At most `concurrent` renders run at once. A render of the whole exposition (no
  `name[]`) always has a place to wait: there are only a few of them (a format, gzip or
  not), and any number of clients share each, so varying Accept gains an attacker
  nothing. Renders for `name[]` selections, which a client can vary without end, wait
  in at most `queued` places. A slot that frees goes to a waiting whole exposition
  first, then to the render whose best-placed client was served longest ago.
- When every place for a selection is taken, a request that needs a new one waits
  (parked: it costs the event loop nothing meanwhile) until a place frees, which goes to
  the parked request whose client was served longest ago, or PARK_SECONDS pass: then
  it gets an InfluxDB 503. A client is a connection (its address and port); one not
  served yet counts from when it was first seen, so a client that opens a new
  connection for every request gains nothing by it. Answered at once, refused clients
  would ask again at once, and their refusals fill the event loop's turns, slowing
  every other request by as many turns as they have clients.

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
from dataclasses import dataclass, field
from typing import Any, NamedTuple

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
REFUSAL_LOG_SECONDS = 1.0
# How long a scrape waits for a place before its 503: Prometheus' default scrape timeout,
# after which nobody is waiting for the answer any more.
PARK_SECONDS = 10.0
# How many more turns of the event loop a render waits for requests still arriving.
# Measured with 8 connections asking without pause (default registry): 3.2 requests
# shared a render without waiting; waiting, 215 instead of 263 us of CPU per request.
GATHER_TURNS = 4

Render = Callable[[], Awaitable[list[Message]]]


class Representation(NamedTuple):
    """What makes two scrapes' answers the same bytes."""

    operation_id: str
    media_type: str
    query: bytes  # name[]
    gzip: bool

    @property
    def whole(self) -> bool:
        """The whole exposition: a few of these exist (formats and gzip), and any
        number of clients share each."""
        return not self.query


class Refused(Exception):
    """No place came for a scrape in time."""


class _Rendering:
    """One render of one representation, and the requests waiting for it."""

    def __init__(self, key: Representation, make: Render, priority: float) -> None:
        self.key = key
        self.make = make
        self.priority = priority  # when its best-placed client was last served
        self.scheduled = False  # a slot is taken for it: it starts at the loop's next turn
        self._waiters: list[tuple[float, asyncio.Future[list[Message]]]] = []

    def wait(
        self, priority: float, answer: asyncio.Future[list[Message]] | None = None
    ) -> asyncio.Future[list[Message]]:
        """The answer (made here, or the one given) of one more request, whose client
        was last served at `priority`."""
        self.priority = min(self.priority, priority)
        if answer is None:
            answer = asyncio.get_running_loop().create_future()
        self._waiters.append((priority, answer))
        return answer

    @property
    def waiters(self) -> int:
        return len(self._waiters)

    def finish(self, messages: list[Message] | None, error: BaseException | None) -> None:
        """Hand the response (or the error) to every waiter, the client served longest
        ago first: each is woken in that order, so the scraper that asks once a second
        is sent its copy before fifty that ask without pause."""
        for _, answer in sorted(self._waiters, key=lambda waiter: waiter[0]):
            if answer.done():
                continue
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(messages or [])

    def order(self) -> tuple[bool, float]:
        """Sorts the renders waiting for a slot: the whole exposition first, then the
        one whose best-placed client was served longest ago."""
        return not self.key.whole, self.priority


class _Parked(NamedTuple):
    """A request for a selection that found every place taken: it waits for one."""

    priority: float
    key: Representation
    make: Render
    answer: asyncio.Future[list[Message]]
    gives_up: asyncio.TimerHandle


class ScrapeQueue:
    """The renders of one process, shared by the full path and the fast path.

    A render is joinable until it starts, and it starts at the event loop's next turn at
    the earliest (a task), never within the call of the request that asked for it: the
    requests that have arrived meanwhile (already read, waiting for their turn on the
    loop) join it, where starting at once would render for each of them in turn."""

    def __init__(self, concurrent: int, queued: int, park_seconds: float = PARK_SECONDS) -> None:
        self.concurrent = concurrent
        self.queued = queued
        self.park_seconds = park_seconds
        self.running = 0  # slots taken: renders running or scheduled to start
        self._joinable: dict[Representation, _Rendering] = {}  # waiting or scheduled
        self._running_keys: set[Representation] = set()  # scheduled or running
        self._parked: list[_Parked] = []
        self._served: OrderedDict[Hashable, float] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def join(
        self, key: Representation, client: Hashable, make: Render
    ) -> asyncio.Future[list[Message]]:
        """This request's answer, from a render joined, scheduled, queued or waited
        for; it raises Refused if no place came within `park_seconds`."""
        priority = self._served.get(client)
        if priority is None:  # first seen: as if served now, and older from now on
            priority = self._note(client)
        rendering = self._joinable.get(key)
        if rendering is not None:
            return rendering.wait(priority)
        if self.running < self.concurrent and key not in self._running_keys:
            rendering = self._joinable[key] = _Rendering(key, make, priority)
            self._schedule(rendering)
            return rendering.wait(priority)
        if key.whole or self._waiting_selections() < self.queued:
            rendering = self._joinable[key] = _Rendering(key, make, priority)
            return rendering.wait(priority)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[Message]] = loop.create_future()
        gives_up = loop.call_later(self.park_seconds, self._give_up, answer)
        self._parked.append(_Parked(priority, key, make, answer, gives_up))
        return answer

    def served(self, client: Hashable) -> None:
        self._note(client)

    def _note(self, client: Hashable) -> float:
        now = self._served[client] = time.monotonic()
        self._served.move_to_end(client)
        if len(self._served) > REMEMBERED_CLIENTS:
            self._served.popitem(last=False)
        return now

    def _waiting(self) -> list[_Rendering]:
        return [each for each in self._joinable.values() if not each.scheduled]

    def _startable(self) -> list[_Rendering]:
        """Waiting renders whose representation is not being rendered already: a second
        render of it would only take a slot from the requests its next render shares."""
        return [each for each in self._waiting() if each.key not in self._running_keys]

    def _waiting_selections(self) -> int:
        return sum(not each.key.whole for each in self._waiting())

    def _give_up(self, answer: asyncio.Future[list[Message]]) -> None:
        self._parked = [each for each in self._parked if each.answer is not answer]
        if not answer.done():
            answer.set_exception(Refused())

    def _admit_parked(self) -> None:
        """Places freed: to the parked requests whose clients were served longest ago."""
        while self._parked and self._waiting_selections() < self.queued:
            first = min(self._parked, key=lambda each: each.priority)
            self._parked.remove(first)
            first.gives_up.cancel()
            if first.answer.done():  # its client's task was cancelled meanwhile
                continue
            rendering = self._joinable.get(first.key)
            if rendering is None:
                rendering = self._joinable[first.key] = _Rendering(
                    first.key, first.make, first.priority
                )
            rendering.wait(first.priority, first.answer)

    def _schedule(self, rendering: _Rendering) -> None:
        self.running += 1
        self._running_keys.add(rendering.key)
        rendering.scheduled = True  # its waiting place is free
        self._admit_parked()
        # Scheduled by the request that asked for it (before it waits: none yet) or by a
        # slot that freed (all those waiting then): those it gathers come after.
        waiting = rendering.waiters
        task = asyncio.get_running_loop().create_task(self._render(rendering, waiting))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _render(self, rendering: _Rendering, waiting: int) -> None:
        """Make `rendering` in the slot taken for it, then give the slot to the next;
        `waiting`: its waiters when the slot was taken."""
        await _gathered(rendering, waiting)
        # From now on, a request for the same representation waits for the next render.
        if self._joinable.get(rendering.key) is rendering:
            del self._joinable[rendering.key]
        try:
            rendering.finish(await rendering.make(), None)
        except Exception as exc:  # each waiter raises it, for the error layer above
            rendering.finish(None, exc)
        finally:
            self.running -= 1
            self._running_keys.discard(rendering.key)
            while self.running < self.concurrent and (startable := self._startable()):
                self._schedule(min(startable, key=_Rendering.order))


async def _gathered(rendering: _Rendering, waiting: int) -> None:
    """Returns when a turn of the event loop brought `rendering` no new waiter since it
    had `waiting` (the one that asked for it at least: a lone scrape starts at once),
    or after GATHER_TURNS turns (see the module docstring)."""
    seen = max(1, waiting)
    for _ in range(GATHER_TURNS):
        if rendering.waiters <= seen:
            return
        seen = rendering.waiters
        await asyncio.sleep(0)  # one turn: requests read meanwhile join


def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> Render:
    async def render() -> list[Message]:
        sent: list[Message] = []

        async def keep(message: Message) -> None:
            sent.append(message)

        await app(scope, receive, keep)
        return sent

    return render


class _RefusalLog:
    """A warning when scrapes are refused, at most one a second with how many were: a
    crowd refused hundreds of times a second must not flood the log (each refusal is in
    the access log and in http_api_requests_total already)."""

    def __init__(self) -> None:
        self._refused = 0
        self._logged = -REFUSAL_LOG_SECONDS

    def note(self) -> None:
        self._refused += 1
        now = time.monotonic()
        if now - self._logged >= REFUSAL_LOG_SECONDS:
            fields = {"refused": self._refused, "seconds": round(now - self._logged, 1)}
            if self._logged < 0:
                del fields["seconds"]
            log.warning("scrapes refused: too many in progress", extra={"fields": fields})
            self._refused, self._logged = 0, now


@dataclass
class ScrapeSlots(Layer):
    """Renders the answers of `operations` through `scrapes` (see the module docstring);
    other requests pass."""

    operations: Collection[str]
    scrapes: ScrapeQueue
    _refusals: _RefusalLog = field(default_factory=_RefusalLog, init=False)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self._representation(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        client: Any = scope.get("client") or object()  # no address: a client of its own
        try:
            messages = await self.scrapes.join(key, client, _capture(self.app, scope, receive))
        except Refused:
            self._refusals.note()
            await send_error(send, InfluxError("unavailable", BUSY_MESSAGE))
            return
        for message in messages:
            await send(dict(message))  # each layer above may rewrite its own copy
        self.scrapes.served(client)

    def _representation(self, scope: Scope) -> Representation | None:
        reached = operation(scope)
        if reached is None or reached.operation_id not in self.operations:
            return None
        try:
            media_type = negotiate(joined_header(scope, b"accept"))
        except InfluxError:
            return None  # the handler answers 406 at once: nothing to render
        gzip = gzip_wanted(scope, self.operations)
        return Representation(
            reached.operation_id, media_type, scope.get("query_string", b""), gzip
        )
