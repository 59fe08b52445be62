"""Counted before answered, aborts apart from errors (impl/http/observe.py).

Observe is driven directly with apps that answer in every shape a body can take, and a
`send` that notes, for each message, whether the request was counted by then. A client
leaving with its body unsent is then shown on a live process, over a real socket.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
import requests
from prometheus_client import CollectorRegistry
from starlette.types import Message, Receive, Scope, Send

from impl.client.rawhttp import RawClient
from impl.http.asgi import OPERATION
from impl.http.observe import Observe
from impl.http.operations import Operation
from impl.http.routes import RouteTable
from impl.metrics.http_metrics import HttpMetrics
from tools.live import LiveServer
from tools.metrics_text import families, request_count

PING = Operation("GetPing", "GET", "/ping", exposition=False, validation_cannot_fail=True)
START: Message = {"type": "http.response.start", "status": 200, "headers": []}
SHAPES: dict[str, list[Message]] = {
    "one message": [START, {"type": "http.response.body", "body": b"all"}],
    "data, then an empty end": [
        START,
        {"type": "http.response.body", "body": b"all", "more_body": True},
        {"type": "http.response.body", "body": b""},
    ],
    "many messages": [
        START,
        *({"type": "http.response.body", "body": b"%d" % n, "more_body": True} for n in range(5)),
        {"type": "http.response.body", "body": b"end"},
    ],
    "no body message": [START],
}


def counted(metrics: HttpMetrics) -> float:
    return sum(
        sample.value
        for family in metrics.requests.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def observe(app: object, metrics: HttpMetrics) -> Observe:
    table = RouteTable([PING])
    return Observe(app, metrics=metrics, routes=table, identity_headers=[(b"x-id", b"1")])  # type: ignore[arg-type]


def scope() -> Scope:
    return {"type": "http", "method": "GET", "path": "/ping", "headers": [], "extensions": {}}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_of_body_is_counted_before_its_last_byte_leaves(shape: str) -> None:
    metrics = HttpMetrics(CollectorRegistry())
    sent: list[tuple[Message, float]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["extensions"][OPERATION] = PING
        for message in SHAPES[shape]:
            await send(dict(message))

    async def send(message: Message) -> None:
        sent.append((message, counted(metrics)))

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    asyncio.run(observe(app, metrics)(scope(), receive, send))
    assert [m["type"] for m, _ in sent] == [m["type"] for m in SHAPES[shape]]
    assert b"".join(m.get("body", b"") for m, _ in sent) == b"".join(
        m.get("body", b"") for m in SHAPES[shape]
    )
    # The last message that carries bytes (or the head, for an answer without a body)
    # reaches the server only once the request is counted.
    carrying = [(m, n) for m, n in sent if m.get("body") or m["type"] == "http.response.start"]
    assert carrying[-1][1] == 1
    assert (b"x-id", b"1") in sent[0][0]["headers"]


def test_a_client_gone_before_its_body_is_counted_as_aborted_not_as_an_error() -> None:
    metrics = HttpMetrics(CollectorRegistry())

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # As impl/http/limits.py: the body never comes, nobody is left to answer.
        assert (await receive())["type"] == "http.disconnect"

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent to a client that left")

    asyncio.run(observe(app, metrics)(scope(), receive, send))
    assert counted(metrics) == 0
    aborted = [s for f in metrics.aborted.collect() for s in f.samples if s.name.endswith("_total")]
    assert {s.labels["path"]: s.value for s in aborted}["/ping"] == 1


def test_an_app_that_never_answers_is_still_a_500() -> None:
    metrics = HttpMetrics(CollectorRegistry())

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        return None

    asyncio.run(observe(app, metrics)(scope(), receive, send))
    samples = [
        s for f in metrics.requests.collect() for s in f.samples if s.name.endswith("_total")
    ]
    assert [s.labels["response_code"] for s in samples] == ["500"]


def test_clients_leaving_mid_body_are_counted_apart_and_logged(fresh_server: LiveServer) -> None:
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", fresh_server.port), timeout=10) as sock:
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            time.sleep(0.01)  # the head and part of the body are read, then the client leaves
    deadline = time.monotonic() + 10
    while True:
        parsed = families(requests.get(fresh_server.url + "/metrics", timeout=10).text)
        aborted = {s.labels["path"]: s.value for s in parsed["http_api_aborted_requests"].samples}
        if aborted.get("/ping") == 20 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert aborted["/ping"] == 20
    assert (
        request_count(requests.get(fresh_server.url + "/metrics", timeout=10).text, status="5XX")
        == 0
    )
    assert fresh_server.log().count('msg="request aborted"') == 20


def test_back_to_back_scrapes_each_see_the_one_before(fresh_server: LiveServer) -> None:
    with RawClient(fresh_server.port) as client:
        for n in range(200):
            response = client.request("GET", "/metrics", [("Accept-Encoding", "identity")])
            assert response.status == 200
            seen = request_count(response.body.decode(), path="/metrics", response_code="200")
            assert seen == n, f"scrape {n + 1} saw {seen} scrapes before it"
