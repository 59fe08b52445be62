"""gzip for /metrics, outside Connexion's response validation: the validator reads the
body as text, so a handler's compressed body would fail it; compressing here, after
validation and before the client, keeps both."""

from __future__ import annotations

import gzip
from collections.abc import Collection
from dataclasses import dataclass

from prometheus_client.exposition import gzip_accepted
from starlette.types import Message, Receive, Scope, Send

from impl.http.asgi import Layer, header, operation_id, rewriting_send

# zlib's default, as in Go's promhttp: most of the size win for a fraction of level 9's CPU.
COMPRESS_LEVEL = 6
_REPLACED = (b"content-length", b"content-encoding")


@dataclass
class GzipOperations(Layer):
    """Compresses 200 responses of the given operations when the client accepts gzip."""

    operations: Collection[str]

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        # HEAD too: its headers must be the GET's (uvicorn drops the body it is sent).
        wanted = scope["method"] in ("GET", "HEAD") and operation_id(scope) in self.operations
        if not (wanted and gzip_accepted(header(scope, b"accept-encoding") or "")):
            await self.app(scope, receive, send)
            return

        def head(start: Message) -> tuple[Message, bool]:
            return start, start["status"] == 200  # errors stay as they are

        def compress(start: Message, body: bytes) -> tuple[Message, bytes]:
            body = gzip.compress(body, compresslevel=COMPRESS_LEVEL)
            length = str(len(body)).encode()
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in _REPLACED]
            headers += [(b"content-encoding", b"gzip"), (b"content-length", length)]
            return {**start, "headers": headers}, body

        await self.app(scope, receive, rewriting_send(send, head, compress))
