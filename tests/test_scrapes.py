"""At most a few scrapes in the making, a bounded queue, then 503 (impl/http/scrapes.py).

The layer is driven directly with an app whose scrapes last until the test lets them
finish, so that "in progress" is a state the test holds, not a race it hopes to win.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import Message, Receive, Scope, Send

from impl.http.asgi import ROUTING_EXTENSION, operation_id
from impl.http.scrapes import BUSY_MESSAGE, ScrapeSlots
from tests.conftest import MakeClient

CONCURRENT = 2
QUEUED = 3


class SlowScrapes:
    """An app whose scrapes each wait for `release` before answering 200; other
    operations are answered at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running = 0
        self.most_running = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if operation_id(scope) == "get_metrics":
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            await self.release.wait()
            self.running -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"metrics"})


def scope(operation: str) -> Scope:
    routing = {"operation_id": f"sysinfo_server.controllers.x.{operation}"}
    return {"type": "http", "method": "GET", "extensions": {ROUTING_EXTENSION: routing}}


async def call(app: ScrapeSlots, operation: str = "get_metrics") -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    await app(scope(operation), receive, send)
    return sent


def test_scrapes_beyond_slots_and_queue_get_503_at_once() -> None:
    async def scenario() -> tuple[list[list[Message]], SlowScrapes]:
        inner = SlowScrapes()
        app = ScrapeSlots(inner, operations={"get_metrics"}, concurrent=CONCURRENT, queued=QUEUED)
        waiting = [asyncio.create_task(call(app)) for _ in range(CONCURRENT + QUEUED)]
        await asyncio.sleep(0.01)  # every task has started: two render, three wait
        refused = await call(app)  # answered while the others are still held
        others = await call(app, "get_ping")  # other operations are not limited
        inner.release.set()
        return [refused, others, *await asyncio.gather(*waiting)], inner

    answers, inner = asyncio.run(scenario())
    refused, ping, *served = answers
    assert refused[0]["status"] == 503
    assert json.loads(refused[1]["body"]) == {"code": "unavailable", "message": BUSY_MESSAGE}
    assert ping[0]["status"] == 200
    assert [answer[0]["status"] for answer in served] == [200] * (CONCURRENT + QUEUED)
    assert inner.most_running == CONCURRENT


def test_scrape_settings_reach_the_app(make_client: MakeClient) -> None:
    client = make_client(max_concurrent_scrapes=1, max_queued_scrapes=0)
    assert client.get("/metrics").status_code == 200  # one at a time is always served
