"""gzip for /metrics, applied outside Connexion's response validation.

The validator reads the body as text, so a handler that compressed it would fail
validation; compressing here, after validation and before the client, keeps both.
"""

from __future__ import annotations

import gzip
from collections.abc import Collection

from prometheus_client.exposition import gzip_accepted
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from impl.http.asgi import header, operation_id, rewriting_send

# Level 6 is zlib's default and what Go's promhttp uses: most of the size win for a
# fraction of level 9's CPU.
COMPRESS_LEVEL = 6


class GzipOperations:
    """Compresses 200 responses of the given operations when the client accepts gzip."""

    def __init__(self, app: ASGIApp, *, operations: Collection[str]) -> None:
        self.app = app
        self.operations = frozenset(operations)

    def _wanted(self, scope: Scope) -> bool:
        # HEAD too: its headers must be the GET's (uvicorn drops the body it is sent).
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return False
        if operation_id(scope) not in self.operations:
            return False
        return gzip_accepted(header(scope, b"accept-encoding") or "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._wanted(scope):
            await self.app(scope, receive, send)
            return

        def head(start: Message) -> tuple[Message, bool]:
            return start, start["status"] == 200  # errors stay as they are

        def compress(start: Message, body: bytes) -> tuple[Message, bytes]:
            body = gzip.compress(body, compresslevel=COMPRESS_LEVEL)
            headers = [
                (key, value)
                for key, value in start.get("headers", [])
                if key.lower() not in (b"content-length", b"content-encoding")
            ]
            headers += [
                (b"content-encoding", b"gzip"),
                (b"content-length", str(len(body)).encode()),
            ]
            return {**start, "headers": headers}, body

        await self.app(scope, receive, rewriting_send(send, head, compress))
