"""Answers as the handlers make them, free of any web framework, and where they run.

A handler's answer is a status, headers and a body (`Answer`) made from what it reads of
a request (`Asked`). Flask serves it on the full path (impl/server/handlers.py wraps each
answer in a Flask view); `Answers` serves it to ASGI directly on the fast path
(impl/http/fastpath.py). Both send the same bytes: tests/test_fastpath.py compares them.

Where an answer runs (`Offload`): on the event loop when it is quick, in a thread when
its handler may block (it waits for a collection, writes a file) or when the operation's
last answer was large (a scrape of many series takes tens of milliseconds to encode,
which on the loop would hold up every connection).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from starlette.types import Receive, Scope, Send

from impl.http.asgi import joined_header, operation

T = TypeVar("T")
# An answer body larger than this (about 5,000 samples of text) has its next answers
# made in a thread.
OFF_LOOP_BODY_BYTES = 256 * 1024


class Asked(NamedTuple):
    """What a handler reads of a request: its Accept header and its `name[]` values."""

    accept: str | None = None
    names: Sequence[str] | None = None


class Answer(NamedTuple):
    status: int
    headers: list[tuple[bytes, bytes]]  # lower-case names, in the order they are sent
    body: bytes = b""


AnswerFunction = Callable[[Asked], Answer]
# How long a thread holding the GIL keeps the event loop waiting for it, once answers
# are made in threads: Python's default is 5 ms, and a /ping needs the GIL a few times.
SWITCH_INTERVAL_SECONDS = 0.001


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in the default executor's threads, the event loop taking the GIL
    back within SWITCH_INTERVAL_SECONDS (set for the process the first time)."""
    if sys.getswitchinterval() > SWITCH_INTERVAL_SECONDS:
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    return await asyncio.to_thread(function, *args)


@dataclass
class Offload:
    """Which requests' answers are made in a thread: those of operations whose handlers
    `block`, and those whose like was last answered with more than OFF_LOOP_BODY_BYTES
    (alike: the same operation, with a query string or without, as a `name[]` selection
    is usually much smaller than the whole exposition)."""

    blocking: Collection[str]  # operation ids
    _large: set[tuple[str, bool]] = field(default_factory=set, init=False)

    def wanted(self, scope: Scope) -> bool:
        reached = operation(scope)
        if reached is None:
            return False
        like = (reached.operation_id, bool(scope.get("query_string")))
        return reached.operation_id in self.blocking or like in self._large

    def note(self, scope: Scope, body_bytes: int) -> None:
        reached = operation(scope)
        if reached is None:
            return
        like = (reached.operation_id, bool(scope.get("query_string")))
        if body_bytes > OFF_LOOP_BODY_BYTES:
            self._large.add(like)
        else:
            self._large.discard(like)


@dataclass
class Answers:
    """An ASGI app answering each operation of `answers` (by operation id) with its
    handler's answer; the request must have been routed (impl/http/fastpath.py)."""

    answers: Mapping[str, AnswerFunction]
    offload: Offload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reached = operation(scope)
        assert reached is not None, "Answers serves routed requests only"
        answer_of = self.answers[reached.operation_id]
        asked = Asked(accept=joined_header(scope, b"accept"))
        if self.offload.wanted(scope):
            answer = await in_thread(answer_of, asked)
        else:
            answer = answer_of(asked)
        self.offload.note(scope, len(answer.body))
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        await send({"type": "http.response.body", "body": answer.body})
