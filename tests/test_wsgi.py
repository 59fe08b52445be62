"""Flask served without a thread per message (impl/http/wsgi.py): the same environ as
a2wsgi's, and the same answers through the whole app (tests/test_fastpath.py compares
the full path, which this bridge serves, with the fast path)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from a2wsgi.wsgi import Body, build_environ
from starlette.types import Scope

from impl.http.answers import Offload
from impl.http.wsgi import InlineWSGI, environ

SCOPES: list[Scope] = [
    {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "raw_path": b"/metrics",
        "root_path": "",
        "query_string": b"name[]=a&name[]=b",
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 8086),
        "client": ("127.0.0.1", 50123),
        "headers": [
            (b"host", b"127.0.0.1:8086"),
            (b"accept", b"text/plain"),
            (b"accept", b"application/json"),
            (b"content-type", b"application/json"),
            (b"content-length", b"2"),
            (b"x-odd-header", b"caf\xe9"),
        ],
    },
    {
        "type": "http",
        "method": "HEAD",
        "path": "/p\u00e9",
        "root_path": "",
        "query_string": b"",
        "http_version": "1.0",
        "headers": [],
    },
]


async def nothing() -> Any:
    return {"type": "http.request"}


@pytest.mark.parametrize("scope", SCOPES)
def test_environ_is_what_a2wsgi_builds(scope: Scope) -> None:
    ours = environ(scope, b"{}")
    loop = asyncio.new_event_loop()
    try:
        theirs = build_environ(scope, Body(loop, nothing))  # type: ignore[arg-type]
    finally:
        loop.close()
    different = {"wsgi.input", "wsgi.errors"}
    assert {k: v for k, v in ours.items() if k not in different} == {
        k: v for k, v in theirs.items() if k not in different
    }
    assert ours["wsgi.input"].read() == b"{}"


def test_the_response_is_sent_whole_and_exceptions_pass_through() -> None:
    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/fail":
            raise LookupError("from the app")
        start_response("201 Created", [("Content-Type", "text/plain"), ("X-Two", " b ")])
        return [b"a", b"b", environ["wsgi.input"].read()]

    bridge = InlineWSGI(wsgi_app, Offload(blocking=()))
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b"c", "more_body": False}

    ok = {**SCOPES[1], "path": "/ok", "headers": [(b"content-length", b"1")]}
    asyncio.run(bridge(ok, receive, send))
    assert sent == [
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"text/plain"), (b"x-two", b"b")],
        },
        {"type": "http.response.body", "body": b"abc"},
    ]
    with pytest.raises(LookupError):
        asyncio.run(bridge({**SCOPES[1], "path": "/fail"}, receive, send))
