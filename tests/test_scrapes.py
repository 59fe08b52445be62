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
from impl.http.scrapes import BUSY_MESSAGE, ScrapeQueue, ScrapeSlots
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


def slots(inner: HeldRenders) -> ScrapeSlots:
    return ScrapeSlots(
        inner, operations={METRICS.operation_id}, scrapes=ScrapeQueue(CONCURRENT, QUEUED)
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_scrapes_beyond_slots_and_queue_get_503_at_once() -> None:
    async def scenario() -> tuple[list[tuple[int, bytes]], HeldRenders]:
        inner = HeldRenders()
        app = slots(inner)
        # Five different representations from five clients: two render, three wait.
        held = [
            asyncio.create_task(call(app, b"name[]=%d" % n, ("127.0.0.1", n)))
            for n in range(CONCURRENT + QUEUED)
        ]
        await settle()
        refused = await call(app, b"name[]=new", ("127.0.0.1", 99))  # answered while held
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
    async def scenario() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        inner = HeldRenders()
        app = slots(inner)
        first = asyncio.create_task(call(app, b"", ("127.0.0.1", 1)))
        await settle()  # render 1 has started
        second = asyncio.create_task(call(app, b"", ("127.0.0.1", 2)))
        await settle()
        inner.release.set()
        return await first, await second

    first, second = asyncio.run(scenario())
    assert first == (200, b"render 1 of ")
    assert second == (200, b"render 2 of ")  # rendered after it arrived


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


def test_a_client_served_long_ago_takes_the_place_of_one_served_just_now() -> None:
    scraper = ("127.0.0.1", 9090)

    async def scenario() -> tuple[list[tuple[int, bytes]], tuple[int, bytes], HeldRenders]:
        inner = HeldRenders()
        app = slots(inner)
        inner.release.set()
        await call(app, b"name[]=up", scraper)  # served once, a while before the others
        hammering = [("127.0.0.1", n) for n in range(CONCURRENT + QUEUED)]
        for client in hammering:
            await call(app, b"warm-up", client)
        held = await fill(app, inner, hammering)
        scraped = asyncio.create_task(call(app, b"name[]=up", scraper))
        await settle()
        inner.release.set()
        return await asyncio.gather(*held), await scraped, inner

    hammered, scraped, inner = asyncio.run(scenario())
    assert scraped[0] == 200
    assert [status for status, _ in hammered].count(503) == 1  # the place the scraper took
    # The scraper's render started before those of the hammering clients still waiting.
    assert inner.renders[-QUEUED:] == [b"name[]=up", b"name[]=x2", b"name[]=x3"]


def test_a_client_refused_once_has_waited_longer_at_its_next_try() -> None:
    newcomer = ("127.0.0.1", 7777)

    async def scenario() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        inner = HeldRenders()
        app = slots(inner)
        hammering = [("127.0.0.1", n) for n in range(CONCURRENT + QUEUED)]
        held = await fill(app, inner, hammering)
        first = await call(app, b"name[]=mine", newcomer)  # first seen now: no older than them
        inner.release.set()
        await asyncio.gather(*held)  # they are all served, after the newcomer was first seen
        held = await fill(app, inner, hammering)
        second = asyncio.create_task(call(app, b"name[]=mine", newcomer))
        await settle()
        inner.release.set()
        await asyncio.gather(*held)
        return first, await second

    first, second = asyncio.run(scenario())
    assert first[0] == 503
    assert second[0] == 200


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


def test_scrape_settings_reach_the_app(make_client: MakeClient) -> None:
    client = make_client(max_concurrent_scrapes=1, max_queued_scrapes=0)
    assert client.get("/metrics").status_code == 200  # one at a time is always served
    assert client.get("/metrics", params={"name[]": "influxdb_info"}).status_code == 200
