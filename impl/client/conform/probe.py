"""Sending one request and keeping exactly what came back, within bounded time.

Each request gets a connection of its own and `Connection: close`: the bytes after a
response (a body on a HEAD or a 204 answer) can then be read until the server closes,
without being mistaken for the next response. http.client never decompresses a body.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from types import SimpleNamespace
from urllib.parse import urlsplit

from impl.client.conform.model import Exchange, Received, SentRequest
from impl.client.conform.plan import Planned

USER_AGENT = "influx-metrics-conform/0.1"
TOKEN_SCHEME = "Token"  # what influxd documents and its official clients send
MASKED = "***"
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_TRAILING_BYTES = 64 * 1024
READ_CHUNK = 64 * 1024
# A server that honours `Connection: close` closes at once; this bounds the wait for
# those that do not, while still catching bytes sent after a HEAD or 204 answer.
TRAILING_GRACE_SECONDS = 0.3
NO_BODY_STATUSES = frozenset({204, 304})


class OutOfTime(Exception):
    """The overall time limit or request budget is used up: nothing more is sent."""


class _KeptOpen(io.BufferedReader):
    """http.client closes its reader after a HEAD answer, which would discard what is
    buffered; this reader stays open so the bytes after the response stay readable."""

    def close(self) -> None:
        """Closed by the probe itself (its raw stream), once the trailing bytes are read."""


class Probe:
    """Requests to one base URL: a time limit per request and overall, a request budget."""

    def __init__(
        self, base_url: str, token: str | None, timeout: float, deadline: float, max_requests: int
    ) -> None:
        parts = urlsplit(base_url)
        self.scheme = parts.scheme.lower()
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        self.prefix = parts.path.rstrip("/")  # a server mounted below a path (an ingress)
        self.token = token
        self.timeout = timeout
        self.deadline = deadline  # time.monotonic() value
        self.max_requests = max_requests
        self.sent = 0

    def send(self, planned: Planned) -> Exchange:
        if self.sent >= self.max_requests:
            raise OutOfTime(f"the budget of {self.max_requests} requests is used up")
        budget = min(self.timeout, self.deadline - time.monotonic())
        if budget <= 0:
            raise OutOfTime("the overall time limit is reached")
        self.sent += 1
        purpose, method, operation = planned.purpose, planned.method, planned.operation
        request, wire = self._request(method, planned.path, planned.headers)
        started = time.monotonic()
        try:
            response = self._exchange(method, wire, budget)
        except TimeoutError:
            if budget < self.timeout:  # cut short by the overall limit, not by the server
                raise OutOfTime("the overall time limit is reached") from None
            error = f"no answer within {budget:.3g} s"
            return Exchange(purpose, request, None, error, budget, operation)
        except (OSError, http.client.HTTPException, ValueError) as err:
            elapsed = time.monotonic() - started
            return Exchange(purpose, request, None, _describe(err), elapsed, operation)
        return Exchange(purpose, request, response, None, time.monotonic() - started, operation)

    def _request(
        self, method: str, path: str, headers: Sequence[tuple[str, str]]
    ) -> tuple[SentRequest, bytes]:
        lines = [
            ("Host", self.host_header),
            ("User-Agent", USER_AGENT),
            ("Connection", "close"),
            *headers,
        ]
        if not any(name.lower() == "accept-encoding" for name, _ in lines):
            lines.append(("Accept-Encoding", "identity"))  # bodies as they are
        if method not in ("GET", "HEAD"):
            lines.append(("Content-Length", "0"))  # a wrong method is sent with no body
        shown = list(lines)
        if self.token is not None:
            lines.append(("Authorization", f"{TOKEN_SCHEME} {self.token}"))
            shown.append(("Authorization", f"{TOKEN_SCHEME} {MASKED}"))
        target = self.prefix + path
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines)
        return SentRequest(method, target, tuple(shown)), (head + "\r\n").encode("latin-1")

    def _exchange(self, method: str, wire: bytes, budget: float) -> Received:
        deadline = time.monotonic() + budget
        sock = socket.create_connection((self.host, self.port), timeout=budget)
        if self.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        # A watchdog bounds the whole exchange, whatever the server trickles.
        fired = threading.Event()
        watchdog = threading.Timer(budget, _abort, args=(sock, fired))
        watchdog.daemon = True
        watchdog.start()
        reader = _KeptOpen(sock.makefile("rb", buffering=0))
        source = SimpleNamespace(makefile=lambda _mode: reader)
        try:
            sock.sendall(wire)
            response = http.client.HTTPResponse(source, method=method)  # type: ignore[arg-type]
            response.begin()
            body = _read_body(response, sock, deadline)
            trailing = b""
            if method == "HEAD" or response.status in NO_BODY_STATUSES:
                trailing = _read_trailing(reader, sock, deadline)
            if time.monotonic() >= deadline:
                raise TimeoutError
            return Received(
                response.status, response.reason, tuple(response.getheaders()), body, trailing
            )
        except (OSError, http.client.HTTPException) as err:
            if fired.is_set():  # the watchdog's shutdown, not the server, ended it
                raise TimeoutError from err
            raise
        finally:
            watchdog.cancel()
            reader.raw.close()
            sock.close()


def _abort(sock: socket.socket, fired: threading.Event) -> None:
    fired.set()
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return  # already closed: the exchange finished as the timer fired


def _read_body(response: http.client.HTTPResponse, sock: socket.socket, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = response.read(READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ValueError(f"the body is over {MAX_BODY_BYTES // (1024 * 1024)} MiB")
        chunks.append(chunk)


def _read_trailing(reader: io.BufferedReader, sock: socket.socket, deadline: float) -> bytes:
    """What the server sends after a response that has no body, until it closes."""
    received = b""
    while len(received) < MAX_TRAILING_BYTES:
        sock.settimeout(max(0.001, min(TRAILING_GRACE_SECONDS, deadline - time.monotonic())))
        try:
            chunk = reader.read1(READ_CHUNK)
        except OSError:  # a timeout too: the server keeps the connection open
            chunk = b""
        if not chunk:
            return received
        received += chunk
    return received


def _describe(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name ({error.strerror})"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    if isinstance(error, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(error, http.client.BadStatusLine):
        return f"the answer is not HTTP: {str(error)[:80]}"
    if isinstance(error, http.client.HTTPException):
        return f"the answer is not valid HTTP: {type(error).__name__}: {error}"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error) or type(error).__name__
