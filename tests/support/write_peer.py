"""A write endpoint on 127.0.0.1 that answers as told: for the writer's retries, backoff
and refusals, which a real database produces only by accident. It records every request
it receives (path, query, headers, the body's lines, gzip undone)."""

from __future__ import annotations

import gzip
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Answer:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    lines: list[str]
    answered: int


class WritePeer:
    """Answers queued `Answer`s in order, then `default`; records what it received."""

    def __init__(self, default: Answer | None = None) -> None:
        self.default = default or Answer()
        self.script: deque[Answer] = deque()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802  # http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with peer._lock:
                    answer = peer.script.popleft() if peer.script else peer.default
                    target = urlsplit(self.path)
                    peer.received.append(
                        Received(
                            target.path,
                            parse_qs(target.query),
                            {k.lower(): v for k, v in self.headers.items()},
                            body.decode().splitlines(),
                            answer.status,
                        )
                    )
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def written_lines(self) -> list[str]:
        """Lines of the requests answered 2xx, in the order they arrived."""
        with self._lock:
            return [line for r in self.received if 200 <= r.answered < 300 for line in r.lines]

    @contextmanager
    def serving(self) -> Iterator[WritePeer]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join()
