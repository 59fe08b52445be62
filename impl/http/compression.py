"""gzip for /metrics, outside Connexion's response validation: the validator reads the
body as text, so a handler's compressed body would fail it; compressing here, after
validation and before the client, keeps both. A large body is compressed in a thread
(zlib lets go of the GIL while it works): 1.6 MB take about 14 ms, which on the event
loop would hold up every connection."""

from __future__ import annotations

import gzip
from collections.abc import Collection
from dataclasses import dataclass

from prometheus_client.exposition import gzip_accepted
from starlette.types import Message, Receive, Scope, Send

from impl.http.answers import in_thread
from impl.http.asgi import Layer, header, operation, rewriting_send

# zlib's default, as in Go's promhttp: most of the size win for a fraction of level 9's CPU.
COMPRESS_LEVEL = 6
# Bodies up to this size are compressed on the event loop (well under a millisecond):
# handing them to a thread would cost more than it saves.
OFF_LOOP_BYTES = 64 * 1024
_REPLACED = (b"content-length", b"content-encoding")


def compress(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=COMPRESS_LEVEL)


def gzip_wanted(scope: Scope, operations: Collection[str]) -> bool:
    """Whether this request's 200 answer leaves gzipped: an operation of `operations`,
    GET or HEAD (its headers must be the GET's), from a client that accepts gzip."""
    reached = operation(scope)
    return (
        reached is not None
        and reached.operation_id in operations
        and scope["method"] in ("GET", "HEAD")
        and gzip_accepted(header(scope, b"accept-encoding") or "")
    )


@dataclass
class GzipOperations(Layer):
    """Compresses 200 responses of the given operations when the client accepts gzip."""

    operations: Collection[str]

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not gzip_wanted(scope, self.operations):
            await self.app(scope, receive, send)
            return

        def head(start: Message) -> tuple[Message, bool]:
            return start, start["status"] == 200  # errors stay as they are

        async def compressed(start: Message, body: bytes) -> tuple[Message, bytes]:
            if len(body) > OFF_LOOP_BYTES:
                body = await in_thread(compress, body)
            else:
                body = compress(body)
            length = str(len(body)).encode()
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in _REPLACED]
            headers += [(b"content-encoding", b"gzip"), (b"content-length", length)]
            return {**start, "headers": headers}, body

        await self.app(scope, receive, rewriting_send(send, head, compressed))
