"""Scrapes rendered a few at a time, shared, queued fairly, then 503 (impl/http/scrapes.py).

The layer is driven directly with an app whose renders last until the test lets them
finish, so that "in progress" is a state the test holds, not a race it hopes to win.
Under real load, with real connections: tests/test_attack_scrapes.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Hashable, Sequence
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from impl.http.asgi import OPERATION
from impl.http.operations import Operation
from impl.http.scrapes import BUSY_MESSAGE, GATHER_TURNS, ScrapeQueue, ScrapeSlots
from tests.conftest import MakeClient

CONCURRENT = 2
QUEUED = 3
METRICS = Operation("GetMetrics", "GET", "/metrics", exposition=True, validation_cannot_fail=True)
PING = Operation("GetPing", "GET", "/ping", exposition=False, validation_cannot_fail=True)


class HeldRenders:
    """An app whose scrapes each wait for `release` before answering 200 with the number
    of the render and the query it was made for; other operations are answered at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.renders: list[bytes] = []  # the query string of each render, in start order
        self.running = 0
        self.most_running = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b"ping"
        if scope["extensions"][OPERATION] is METRICS:
            self.renders.append(scope["query_string"])
            number = len(self.renders)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            await self.release.wait()
            self.running -= 1
            body = b"render %d of %s" % (number, scope["query_string"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def scope(operation: Operation, query: bytes, client: Hashable) -> Scope:
    return {
        "type": "http",
        "method": "GET",
        "headers": [],
        "query_string": query,
        "client": client,
        "extensions": {OPERATION: operation},
    }


async def call(
    app: ScrapeSlots,
    query: bytes = b"",
    client: Hashable = ("127.0.0.1", 1),
    operation: Operation = METRICS,
) -> tuple[int, bytes]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    await app(scope(operation, query, client), receive, send)
    return sent[0]["status"], sent[1]["body"]


PARK_SECONDS = 0.3


def slots(inner: HeldRenders) -> ScrapeSlots:
    return ScrapeSlots(
        inner,
        operations={METRICS.operation_id},
        scrapes=ScrapeQueue(CONCURRENT, QUEUED, PARK_SECONDS),
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_scrapes_beyond_slots_and_places_wait_then_get_503() -> None:
    async def scenario() -> tuple[list[tuple[int, bytes]], HeldRenders]:
        inner = HeldRenders()
        app = slots(inner)
        # Five different selections from five clients: two render, three wait.
        held = [
            asyncio.create_task(call(app, b"name[]=%d" % n, ("127.0.0.1", n)))
            for n in range(CONCURRENT + QUEUED)
        ]
        await settle()
        # A sixth waits for a place; none frees in time: 503, the others still held.
        refused = await call(app, b"name[]=new", ("127.0.0.1", 99))
        ping = await call(app, operation=PING)  # other operations are not limited
        inner.release.set()
        return [refused, ping, *await asyncio.gather(*held)], inner

    answers, inner = asyncio.run(scenario())
    (refused_status, refused_body), ping, *served = answers
    assert refused_status == 503
    assert json.loads(refused_body) == {"code": "unavailable", "message": BUSY_MESSAGE}
    assert ping == (200, b"ping")
    assert [status for status, _ in served] == [200] * (CONCURRENT + QUEUED)
    assert inner.most_running == CONCURRENT


def test_a_waiting_scrape_gets_a_place_when_one_frees() -> None:
    async def scenario() -> tuple[tuple[int, bytes], HeldRenders]:
        inner = HeldRenders()
        app = slots(inner)
        held = [
            asyncio.create_task(call(app, b"name[]=%d" % n, ("127.0.0.1", n)))
            for n in range(CONCURRENT + QUEUED)
        ]
        await settle()
        parked = asyncio.create_task(call(app, b"name[]=new", ("127.0.0.1", 99)))
        await settle()
        inner.release.set()  # well within its wait
        await asyncio.gather(*held)
        return await parked, inner

    parked, inner = asyncio.run(scenario())
    assert parked == (200, b"render 6 of name[]=new")


def test_requests_waiting_for_the_same_representation_share_one_render() -> None:
    async def scenario() -> tuple[list[tuple[int, bytes]], HeldRenders]:
        inner = HeldRenders()
        app = slots(inner)
        busy = [asyncio.create_task(call(app, b"busy=%d" % n, ("10.0.0.1", n))) for n in range(2)]
        await settle()
        # Forty clients ask for the same scrape while both slots are taken.
        same = [asyncio.create_task(call(app, b"", ("127.0.0.1", n))) for n in range(40)]
        await settle()
        inner.release.set()
        await asyncio.gather(*busy)
        return await asyncio.gather(*same), inner

    answers, inner = asyncio.run(scenario())
    assert answers == [(200, b"render 3 of ")] * 40  # one render after the two held ones
    assert len(inner.renders) == 3


def test_a_request_never_shares_a_render_that_started_before_it_arrived() -> None:
    async def scenario() -> tuple[list[tuple[int, bytes]], HeldRenders]:
        inner = HeldRenders()
        app = slots(inner)
        first = asyncio.create_task(call(app, b"", ("127.0.0.1", 1)))
        await settle()  # render 1 has started
        later = [asyncio.create_task(call(app, b"", ("127.0.0.1", n))) for n in range(2, 6)]
        await settle()
        # A slot is free, but the later requests wait for render 1 to end, then share one.
        assert inner.running == 1
        inner.release.set()
        return await asyncio.gather(first, *later), inner

    answers, inner = asyncio.run(scenario())
    assert answers[0] == (200, b"render 1 of ")
    assert answers[1:] == [(200, b"render 2 of ")] * 4  # rendered after they arrived
    assert inner.most_running == 1


async def fill(app: ScrapeSlots, inner: HeldRenders, clients: Sequence[Hashable]) -> list[Any]:
    """Both slots and every waiting place taken by `clients`, each with a selection of
    its own (a name[] no one else asks for)."""
    inner.release.clear()
    held = [
        asyncio.create_task(call(app, b"name[]=x%d" % n, client))
        for n, client in enumerate(clients)
    ]
    await settle()
    return held


def test_places_that_free_go_to_the_clients_served_longest_ago() -> None:
    scraper = ("127.0.0.1", 9090)

    async def scenario() -> list[bytes]:
        inner = HeldRenders()
        app = slots(inner)
        inner.release.set()
        await call(app, b"name[]=up", scraper)  # served once, a while before the others
        hammering = [("127.0.0.1", n) for n in range(CONCURRENT + QUEUED + 3)]
        for client in hammering:
            await call(app, b"warm-up", client)
        # Both slots and every place taken, three more waiting, each a selection of its own.
        held = await fill(app, inner, hammering)
        # The scraper asks last, and is given the first place that frees.
        scraped = asyncio.create_task(call(app, b"name[]=up", scraper))
        await settle()
        inner.release.set()
        await asyncio.gather(*held, scraped)
        return inner.renders

    renders = asyncio.run(scenario())
    # After the two first: the first place's, then the scraper's, given the place it
    # freed, then the others by when their clients were last served.
    assert renders[-(QUEUED + 4) :] == [
        b"name[]=x2",
        b"name[]=up",
        b"name[]=x3",
        b"name[]=x4",
        b"name[]=x5",
        b"name[]=x6",
        b"name[]=x7",
    ]


def test_the_whole_exposition_always_has_a_place_and_goes_first() -> None:
    async def scenario() -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]], HeldRenders]:
        inner = HeldRenders()
        app = slots(inner)
        hammering = [("127.0.0.1", n) for n in range(CONCURRENT + QUEUED)]
        held = await fill(app, inner, hammering)
        # Newcomers all, never served: for a selection they would be refused.
        whole = [asyncio.create_task(call(app, b"", (f"10.0.0.{n}", 1))) for n in range(1, 30)]
        await settle()
        inner.release.set()
        return await asyncio.gather(*held), await asyncio.gather(*whole), inner

    hammered, whole, inner = asyncio.run(scenario())
    assert [status for status, _ in hammered] == [200] * (CONCURRENT + QUEUED)
    assert set(whole) == {(200, b"render 3 of ")}  # one render, before the waiting selections
    assert inner.renders[CONCURRENT] == b""


def test_the_client_served_longest_ago_is_sent_its_copy_first() -> None:
    async def scenario() -> list[Hashable]:
        inner = HeldRenders()
        app = slots(inner)
        inner.release.set()
        patient = ("127.0.0.1", 9090)
        await call(app, b"", patient)  # served once, before the others
        eager = [("127.0.0.1", n) for n in range(10)]
        for client in eager:
            await call(app, b"", client)
        inner.release.clear()
        busy = [asyncio.create_task(call(app, b"busy=%d" % n, ("10.0.0.1", n))) for n in range(2)]
        await settle()
        order: list[Hashable] = []

        async def scrape(client: Hashable) -> None:
            await call(app, b"", client)
            order.append(client)

        # The patient client asks last, and all wait for the same render.
        waiting = [asyncio.create_task(scrape(client)) for client in [*eager, patient]]
        await settle()
        inner.release.set()
        await asyncio.gather(*busy, *waiting)
        return order

    order = asyncio.run(scenario())
    assert order[0] == ("127.0.0.1", 9090)
    assert order[1:] == [("127.0.0.1", n) for n in range(10)]


def test_scrape_settings_reach_the_app(make_client: MakeClient) -> None:
    client = make_client(max_concurrent_scrapes=1, max_queued_scrapes=0)
    assert client.get("/metrics").status_code == 200  # one at a time is always served
    assert client.get("/metrics", params={"name[]": "influxdb_info"}).status_code == 200


def test_a_render_waits_while_each_turn_brings_it_requests() -> None:
    """Clients that ask again as soon as they are answered come back a few per turn of
    the event loop: those that arrive in the turns before the render starts share it."""

    async def scenario() -> tuple[list[tuple[int, bytes]], HeldRenders]:
        inner = HeldRenders()
        inner.release.set()  # renders answer as soon as they start
        app = slots(inner)
        asked = []
        for turn in range(3):  # three requests read in each of three turns
            asked += [
                asyncio.create_task(call(app, b"", ("127.0.0.1", 3 * turn + n))) for n in range(3)
            ]
            await asyncio.sleep(0)
        return await asyncio.gather(*asked), inner

    answers, inner = asyncio.run(scenario())
    assert answers == [(200, b"render 1 of ")] * 9
    assert len(inner.renders) == 1


def test_a_lone_scrape_starts_its_render_at_once() -> None:
    async def scenario() -> list[bytes]:
        inner = HeldRenders()
        app = slots(inner)
        asked = asyncio.create_task(call(app, b"", ("127.0.0.1", 1)))
        await asyncio.sleep(0)  # the request joins and schedules its render
        await asyncio.sleep(0)  # the render starts: no turn waited for others
        started = list(inner.renders)
        inner.release.set()
        await asyncio.wait_for(asyncio.shield(asked), 1)
        return started

    assert asyncio.run(scenario()) == [b""]


def test_requests_that_never_stop_arriving_hold_a_render_back_a_few_turns_only() -> None:
    async def scenario() -> tuple[int, HeldRenders]:
        inner = HeldRenders()
        inner.release.set()
        app = slots(inner)
        asked = []
        turns = 0
        while not inner.renders:  # a new request every turn, until the render starts
            asked.append(asyncio.create_task(call(app, b"", ("127.0.0.1", turns))))
            await asyncio.sleep(0)
            turns += 1
        await asyncio.gather(*asked)
        return turns, inner

    turns, inner = asyncio.run(scenario())
    # Asked, scheduled, then at most GATHER_TURNS more: a few turns, microseconds each.
    assert turns <= GATHER_TURNS + 3 <= 8
    assert inner.renders[0] == b""
