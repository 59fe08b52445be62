"""HTTP/1.1 over a plain socket: the test decides every byte of the request.

Clients such as requests or http.client refuse to send malformed methods, targets or
header values; these are exactly what the fuzz and limit tests need to send. Responses
are parsed with http.client, which fails on anything that is not valid HTTP/1.1.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType

HOST = "127.0.0.1"


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    will_close: bool

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


def build_request(
    method: bytes,
    target: bytes,
    headers: Iterable[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    version: bytes = b"HTTP/1.1",
) -> bytes:
    lines = [method + b" " + target + b" " + version]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def read_response(sock: socket.socket, method: str = "GET") -> RawResponse:
    response = http.client.HTTPResponse(sock, method=method)
    try:
        response.begin()
        body = response.read()
    finally:
        response.close()
    return RawResponse(
        response.status, list(response.getheaders()), body, bool(response.will_close)
    )


def read_responses(sock: socket.socket, count: int) -> list[RawResponse]:
    """`count` pipelined responses, in order, off one connection (bodies framed by
    Content-Length, or none). One buffered reader serves them all: http.client's
    reader per response could buffer the next response, and lose it when closed."""
    stream = sock.makefile("rb")
    responses = []
    for _ in range(count):
        status = int(stream.readline().split()[1])
        headers = http.client.parse_headers(stream)
        body = stream.read(int(headers.get("Content-Length", "0")))
        closes = headers.get("Connection", "").lower() == "close"
        responses.append(RawResponse(status, list(headers.items()), body, closes))
    return responses


class RawClient:
    """One connection at a time to the server on `port`, reopened when it closes."""

    def __init__(self, port: int, timeout: float = 15.0) -> None:
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.connections = 0

    def connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection((HOST, self.port), timeout=self.timeout)
            self.connections += 1
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def exchange(self, data: bytes, method: str = "GET") -> RawResponse:
        """Send `data` (a whole request) and read one response."""
        sock = self.connect()
        sock.sendall(data)
        response = read_response(sock, method)
        if response.will_close:
            self.close()
        return response

    def request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> RawResponse:
        encoded = [(name.encode(), value.encode()) for name, value in headers]
        if not any(name.lower() == b"host" for name, _ in encoded):
            encoded.insert(0, (b"Host", f"{HOST}:{self.port}".encode()))
        data = build_request(method.encode(), target.encode(), encoded, body)
        return self.exchange(data, method)

    def __enter__(self) -> RawClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def wait_for_close(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection (within `timeout`)."""
    sock.settimeout(timeout)
    received = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk
